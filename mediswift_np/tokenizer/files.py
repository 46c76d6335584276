"""The fastBPE pair of files: ``bpecodes`` (the merges) and ``dict.txt`` (the vocabulary).

These are the files fastBPE writes and fairseq/BioGPT read (paper Sec. 3.1):

``bpecodes``
    One merge per line, in merge order: ``left right count``, where the symbols use
    the end-of-word marker ``</w>`` (``t h 1234``, ``th e</w> 987``) and ``count`` is
    the pair's frequency when it was merged. Hugging Face's ``BioGptTokenizer`` reads
    the same file as its ``merges.txt`` (it keeps the first two fields). On reading we
    also accept subword-nmt's two-field lines and its ``#version: 0.2`` header (count 0).
``dict.txt``
    One vocabulary entry per line: ``token count``. Tokens use fastBPE's convention:
    a piece that does not end a word carries the suffix ``@@`` (``th@@``), a word-final
    piece is written bare (``the``). The fairseq dictionary puts ``<s>``, ``<pad>``,
    ``</s>``, ``<unk>`` at ids 0-3 and the entries of this file after them, in file order.

Files are UTF-8 with ``\\n`` line ends, written atomically. Reading checks every line
and raises :class:`~mediswift_np.errors.UserError` naming file and line.

Does not handle: fairseq's ``#fairseq:overwrite`` flag, or dictionaries with more than
one space-separated field per token.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from ..fileio import atomic_write_text
from .bpe import Merge

BPECODES = "bpecodes"
DICT_TXT = "dict.txt"
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq Dictionary order: ids 0, 1, 2, 3


def _read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file, without line ends (text mode reads ``\\r\\n`` as ``\\n``)."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    return lines


def write_bpecodes(path: str | os.PathLike, merges: list[Merge]) -> Path:
    """Write merges as fastBPE ``bpecodes`` (``left right count`` per line)."""
    return atomic_write_text(path, "".join(f"{m.left} {m.right} {m.count}\n" for m in merges))


def read_bpecodes(path: str | os.PathLike) -> list[Merge]:
    """Read a fastBPE (or subword-nmt) codes file into a list of :class:`Merge`."""
    path = Path(path)
    merges: list[Merge] = []
    seen: set[tuple[str, str]] = set()
    for lineno, line in enumerate(_read_lines(path), start=1):
        if lineno == 1 and line.startswith("#version"):
            continue
        fields = line.split(" ")
        if len(fields) not in (2, 3) or not all(fields):
            raise UserError(f"{path}: line {lineno}: expected 'left right count', got {line!r}")
        count = 0
        if len(fields) == 3:
            try:
                count = int(fields[2])
            except ValueError:
                raise UserError(f"{path}: line {lineno}: count must be an integer, got {fields[2]!r}") from None
            if count < 0:
                raise UserError(f"{path}: line {lineno}: count must be >= 0, got {count}")
        pair = (fields[0], fields[1])
        if pair in seen:
            raise UserError(f"{path}: line {lineno}: duplicate merge {fields[0]!r} {fields[1]!r}")
        seen.add(pair)
        merges.append(Merge(fields[0], fields[1], count))
    return merges


def write_dict(path: str | os.PathLike, entries: list[tuple[str, int]]) -> Path:
    """Write vocabulary entries as fairseq/fastBPE ``dict.txt`` (``token count`` per line)."""
    return atomic_write_text(path, "".join(f"{token} {count}\n" for token, count in entries))


def read_dict(path: str | os.PathLike) -> list[tuple[str, int]]:
    """Read a ``dict.txt`` into ``[(token, count), ...]`` in file order."""
    path = Path(path)
    entries: list[tuple[str, int]] = []
    seen: set[str] = set(SPECIAL_TOKENS)
    for lineno, line in enumerate(_read_lines(path), start=1):
        token, sep, field = line.rpartition(" ")
        if not sep or not token or " " in token:
            raise UserError(f"{path}: line {lineno}: expected 'token count', got {line!r}")
        try:
            count = int(field)
        except ValueError:
            raise UserError(f"{path}: line {lineno}: count must be an integer, got {field!r}") from None
        if count < 0:
            raise UserError(f"{path}: line {lineno}: count must be >= 0, got {count}")
        if token in seen:
            raise UserError(f"{path}: line {lineno}: duplicate token {token!r}")
        seen.add(token)
        entries.append((token, count))
    return entries
