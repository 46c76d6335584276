"""Command line: ``python -m mediswift_np.tokenizer train|encode|decode``.

``train --input FILE [--input FILE ...] --merges N --out DIR [--pretokenized]``
    Learn ``N`` BPE merges and write ``DIR/bpecodes`` and ``DIR/dict.txt`` (fastBPE
    files). Inputs are read with :func:`mediswift_np.data.corpus.read_corpus`
    (PubMed ``.xml``/``.xml.gz``, ``.jsonl``, PubMedQA ``.json``, plain text). With
    ``--pretokenized`` the text is already Moses-tokenized: every input is read as
    plain UTF-8 text whatever its name (Moses output often ends in ``.tok``; gunzipped
    if it ends in ``.gz``) and only split on whitespace, as fastBPE ``learnbpe`` reads it.
``encode --codes DIR [--ids] [--pretokenized]``
    Read UTF-8 text from stdin, one line at a time; write one line each: the ``@@ ``-joined
    BPE form (what fastBPE ``applybpe`` writes) or, with ``--ids``, the token ids.
``decode --codes DIR [--ids] [--pretokenized]``
    The reverse: BPE text (or ids) on stdin, text on stdout. ``--pretokenized`` stops
    after undoing BPE (Moses words joined by spaces) instead of Moses-detokenizing.

``train`` refuses an ``--out`` that already holds anything (a tokenizer, a checkpoint...)
unless ``--overwrite`` is given, before reading the corpus. Every subcommand takes
``--json`` (one JSON summary object as the last stdout line).
Bad input (missing file, malformed codes/dict, a non-integer id, stdin bytes that are
not UTF-8) prints ``error: ...`` naming the file or stdin line, and exits with status 2.
``encode`` and ``decode`` are line filters: the lines before a bad one are already written.

Does not handle: fastBPE's ``getvocab`` as a separate command (``train`` writes the
vocabulary) or vocabulary-restricted encoding.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Iterator, Sequence

from ..cli import ArgumentParser, add_output_flags, add_overwrite_flag
from ..errors import UserError, print_json, run_cli
from ..fileio import check_output_dir, writing_into
from .encoder import Tokenizer, words_from_pieces
from .moses import moses_detokenize


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m mediswift_np.tokenizer", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="learn BPE merges and a vocabulary; write DIR/bpecodes and DIR/dict.txt")
    t.add_argument("--input", action="append", required=True, metavar="FILE", help="corpus file (repeatable)")
    t.add_argument("--merges", type=int, required=True, metavar="N", help="number of BPE merges to learn")
    t.add_argument("--out", required=True, metavar="DIR", help="output directory")
    t.add_argument("--pretokenized", action="store_true",
                   help="input is Moses-tokenized plain text, whatever the file name (e.g. corpus.tok): only split on whitespace")
    t.add_argument("--min-frequency", type=int, default=2, help="stop when the best pair is rarer (default 2)")
    add_overwrite_flag(t)
    add_output_flags(t)

    for name, what in (("encode", "text on stdin -> BPE text (or ids) on stdout"),
                       ("decode", "BPE text (or ids) on stdin -> text on stdout")):
        c = sub.add_parser(name, help=what)
        c.add_argument("--codes", required=True, metavar="DIR", help="directory with bpecodes and dict.txt")
        c.add_argument("--ids", action="store_true", help="token ids instead of '@@ '-joined pieces")
        c.add_argument("--pretokenized", action="store_true", help="text side is Moses-tokenized already")
        add_output_flags(c)
    return p


def _documents(paths: Sequence[str], pretokenized: bool) -> Iterator[str]:
    """The documents of every file: by the file's format, or (pretokenized) as plain text blocks."""
    # imported here: the tokenizer itself does not need the corpus readers
    from ..data.corpus import read_corpus, read_text_blocks

    for path in paths:
        yield from read_text_blocks(path) if pretokenized else read_corpus(path)


def _train(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    from ..data.corpus import check_regular_file

    for path in args.input:  # fail before any work, not half-way through the corpus
        check_regular_file(path)
    check_output_dir(args.out, overwrite=args.overwrite)
    tok = Tokenizer.train(_documents(args.input, args.pretokenized), args.merges, min_frequency=args.min_frequency,
                          pretokenized=args.pretokenized, progress=True)
    with writing_into(args.out):  # both files, or (on a full disk) none
        tok.save(args.out)
    return {"command": "train", "out": str(args.out), "merges": len(tok.merges), "vocab_size": tok.vocab_size,
            "wall_seconds": round(time.perf_counter() - start, 3)}


def _parse_ids(line: str) -> list[int]:
    try:
        return [int(field) for field in line.split()]
    except ValueError:
        raise UserError(f"expected integer token ids, got {line.strip()[:60]!r}") from None


def _stdin_lines() -> Iterator[tuple[int, str]]:
    """(line number, line without its line end) of stdin, each line decoded as strict UTF-8.

    Reading the raw bytes matters: Python's text stdin would smuggle undecodable bytes
    through as surrogates, and they would come out as replacement characters.
    """
    for lineno, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            yield lineno, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            raise UserError(f"stdin: line {lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def _encode(args: argparse.Namespace, tok: Tokenizer) -> dict:
    lines = tokens = 0
    for _, line in _stdin_lines():
        words = line.split() if args.pretokenized else None
        if args.ids:
            ids = tok.encode_words(words) if words is not None else tok.encode(line)
            tokens += len(ids)
            print(" ".join(map(str, ids)))
        else:
            out = tok.bpe_words(words) if words is not None else tok.encode_bpe(line)
            tokens += len(out.split())
            print(out)
        lines += 1
    return {"command": "encode", "lines": lines, "tokens": tokens}


def _decode(args: argparse.Namespace, tok: Tokenizer) -> dict:
    lines = 0
    for lineno, line in _stdin_lines():
        if args.ids:
            try:
                words = tok.decode_words(_parse_ids(line))
            except UserError as e:
                raise UserError(f"stdin: line {lineno}: {e}") from None
        else:
            words = words_from_pieces(line.split())
        print(" ".join(words) if args.pretokenized else moses_detokenize(words))
        lines += 1
    return {"command": "decode", "lines": lines}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "train":
        summary = _train(args)
    else:
        tok = Tokenizer.load(args.codes)
        summary = _encode(args, tok) if args.command == "encode" else _decode(args, tok)
    if args.json:
        print_json(summary)
    return 0


if __name__ == "__main__":
    run_cli(main)
