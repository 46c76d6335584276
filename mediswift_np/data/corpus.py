"""Streaming readers for biomedical pre-training text (paper Sec. 3.1, Table 1).

Each reader is a generator of document strings that holds one document in memory at a
time (constant memory, whatever the file size):

- :func:`read_pubmed_xml`: PubMed baseline/update files (``.xml`` or ``.xml.gz``,
  ``<PubmedArticleSet>`` of ``<PubmedArticle>``/``<PubmedBookArticle>``). A document is
  the title followed by the abstract (all ``<AbstractText>`` parts, in order; inline
  markup such as ``<i>`` or ``<sup>`` is dropped and its text kept, so ``10<sup>6</sup>``
  reads ``106``, as in The Pile's PubMed Abstracts), whitespace collapsed. Citations
  without an abstract are skipped, as in the paper ("we filter out empty items
  containing solely titles"). ``<CopyrightInformation>`` and ``<OtherAbstract>`` are
  not part of the text. Parsed with ``xml.etree.ElementTree.iterparse``, clearing
  every finished citation.
- :func:`read_jsonl`: JSON lines with a ``text`` field per line (The Pile's PubMed
  subsets); blank lines are skipped.
- :func:`read_text_blocks`: plain text, one document per block of lines separated by
  blank lines.
- :func:`pubmedqa_abstracts`: the abstracts of a PubMedQA file (``ori_pqal.json``
  schema), ``CONTEXTS`` joined by spaces. This file is one JSON object, so it is read
  whole (2.5 MB for PQA-L).

:func:`read_corpus` picks the reader from the file name. Malformed input raises
:class:`CorpusError` naming the file and the line or record.
:func:`real_data_dir` finds the optional folder of real data.

Does not handle: zstandard-compressed files (``.jsonl.zst``; decompress first),
PMC full-text XML, language filtering.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, Iterator

from ..errors import UserError

CITATION_TAGS = ("PubmedArticle", "PubmedBookArticle")
REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding mediswift_np/
_WHITESPACE = re.compile(r"\s+")


class CorpusError(UserError):
    """A corpus file is malformed (the message names file and line/record)."""


def _squash(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def check_regular_file(path: str | os.PathLike) -> None:
    """A corpus is a regular file: not missing, not a directory, not a device (/dev/zero
    would never end) nor a pipe (a run hashes its corpus and reads it again on resume)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise CorpusError(f"{path}: is a directory, not a corpus file (name each file; the option can be repeated)")
    if not stat.S_ISREG(mode):
        raise CorpusError(f"{path}: not a regular file (a device, pipe or socket); a corpus must be a file on disk")


def _open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes (gunzipping if it ends in ``.gz``); anything but a regular file -> CorpusError."""
    check_regular_file(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) pairs; each line is decoded on its own so errors name the exact line."""
    with _open_binary(path) as f:
        lineno = 0
        try:
            for lineno, raw in enumerate(f, start=1):
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise CorpusError(f"{path}: line {lineno}: not valid UTF-8 ({e.reason})") from None
        except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError; truncated gzip is EOFError
            raise CorpusError(f"{path}: line {lineno + 1}: cannot decompress ({e})") from None


def _citation_text(citation: ET.Element) -> str | None:
    """Title + abstract of one ``PubmedArticle``/``PubmedBookArticle``; None without an abstract."""
    article = citation.find("MedlineCitation/Article")
    if article is None:
        article = citation.find("BookDocument")
    if article is None:
        return None
    abstract = article.find("Abstract")
    if abstract is None:
        return None
    parts = [_squash("".join(part.itertext())) for part in abstract.findall("AbstractText")]
    body = " ".join(p for p in parts if p)
    if not body:
        return None
    title_el = article.find("ArticleTitle")
    if title_el is None:
        title_el = article.find("Book/BookTitle")
    title = _squash("".join(title_el.itertext())) if title_el is not None else ""
    return f"{title} {body}" if title else body


def read_pubmed_xml(path: str | os.PathLike) -> Iterator[str]:
    """Yield title + abstract of each citation with an abstract in a PubMed XML file."""
    path = Path(path)
    record = 0
    with _open_binary(path) as f:
        try:
            events = ET.iterparse(f, events=("start", "end"))
            _, root = next(events)
            if root.tag != "PubmedArticleSet":
                raise CorpusError(f"{path}: root element is <{root.tag}>, expected <PubmedArticleSet>")
            for event, elem in events:
                if event == "end" and elem.tag in CITATION_TAGS:
                    record += 1
                    text = _citation_text(elem)
                    root.clear()  # drop finished citations: constant memory
                    if text:
                        yield text
        except ET.ParseError as e:
            line, column = e.position
            raise CorpusError(f"{path}: line {line}, column {column}: malformed XML (after citation {record})") from None
        except StopIteration:
            raise CorpusError(f"{path}: empty file, expected PubMed XML") from None
        except (OSError, EOFError) as e:
            raise CorpusError(f"{path}: cannot read (after citation {record}): {e}") from None


def read_jsonl(path: str | os.PathLike, field: str = "text") -> Iterator[str]:
    """Yield the string ``field`` (default ``text``) of each JSON line."""
    path = Path(path)
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}: line {lineno}: malformed JSON ({e.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get(field), str):
            raise CorpusError(f"{path}: line {lineno}: expected an object with a string {field!r} field")
        yield record[field]


def read_text_blocks(path: str | os.PathLike) -> Iterator[str]:
    """Yield each block of non-blank lines (blank-line separated) as one document."""
    path = Path(path)
    block: list[str] = []
    for _, line in _lines(path):
        if line.strip():
            block.append(line.rstrip("\r\n"))
        elif block:
            yield "\n".join(block)
            block = []
    if block:
        yield "\n".join(block)


def pubmedqa_abstracts(path: str | os.PathLike) -> Iterator[str]:
    """Yield the abstract of each PubMedQA record (``CONTEXTS`` joined with spaces), in file order."""
    path = Path(path)
    with _open_binary(path) as f:
        try:
            data = json.loads(f.read().decode("utf-8"))
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}: line {e.lineno}: malformed JSON ({e.msg})") from None
        except UnicodeDecodeError as e:
            raise CorpusError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        except (OSError, EOFError) as e:
            raise CorpusError(f"{path}: cannot decompress ({e})") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a JSON object keyed by PMID (PubMedQA schema)")
    for pmid, record in data.items():
        contexts = record.get("CONTEXTS") if isinstance(record, dict) else None
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise CorpusError(f"{path}: record {pmid}: expected 'CONTEXTS' to be a list of strings")
        yield " ".join(contexts)


def read_corpus(path: str | os.PathLike) -> Iterator[str]:
    """Yield documents from ``path``, choosing the reader by file name.

    ``.xml``/``.xml.gz`` -> PubMed XML; ``.jsonl``/``.ndjson`` (optionally ``.gz``) -> JSON
    lines; ``.json`` -> PubMedQA abstracts; ``.txt``/``.txt.gz`` or no suffix -> text blocks.
    """
    path = Path(path)
    name = path.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    if base.endswith(".xml"):
        return read_pubmed_xml(path)
    if base.endswith((".jsonl", ".ndjson")):
        return read_jsonl(path)
    if base.endswith(".json"):
        return pubmedqa_abstracts(path)
    if base.endswith(".txt") or "." not in base:
        return read_text_blocks(path)
    raise CorpusError(f"{path}: unknown corpus format (expected .xml[.gz], .jsonl[.gz], .json or .txt[.gz])")


def real_data_dir(path: str | os.PathLike | None = None) -> Path | None:
    """The folder of real data (PubMedQA, HoC), or None when there is none.

    Looks at, in order: ``path`` (must exist if given), the environment variable
    ``MEDISWIFT_SHARED_DATA``, ``../shared/data`` relative to the current directory,
    and ``../shared/data`` beside the repository checkout. A folder counts when it
    holds ``pubmedqa/`` or ``hoc/``.
    """
    if path is not None:
        path = Path(path)
        if not path.is_dir():
            raise UserError(f"{path}: data folder does not exist")
        return path
    candidates = []
    if os.environ.get("MEDISWIFT_SHARED_DATA"):
        candidates.append(Path(os.environ["MEDISWIFT_SHARED_DATA"]))
    candidates.append(Path.cwd().parent / "shared" / "data")
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "pubmedqa").is_dir() or (c / "hoc").is_dir():
            return c
    return None
