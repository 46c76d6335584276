"""Streaming corpus readers on fixture files in the real schemas, and on the real PubMedQA abstracts."""

from __future__ import annotations

import gzip
import json
import shutil
import tracemalloc

import pytest

from conftest import REPO_ROOT
from mediswift_np.data import corpus
from mediswift_np.data.corpus import (
    CorpusError,
    pubmedqa_abstracts,
    read_corpus,
    read_jsonl,
    read_pubmed_xml,
    read_text_blocks,
    real_data_dir,
)
from mediswift_np.errors import UserError

FIXTURES = REPO_ROOT / "tests" / "fixtures"

# What the fixture PubMed file must give: citations 2 (no abstract), 4 (empty abstract) and
# the DeleteCitation are skipped; CopyrightInformation and OtherAbstract are left out;
# inline markup (<i>, <sup>) keeps its text; the book article has a title and an abstract.
PUBMED_EXPECTED = [
    "Velasartan lowers HbA1c in adults with type 2 diabetes. HbA1c is elevated in type 2 diabetes. "
    "Velasartan reduced HbA1c by 1.2% (p < 0.01) and serum IL-6 by 102 pg/mL; Δψm was unchanged (± 3%). "
    "Velasartan is effective.",
    "[Gene ELT5 in colorectal cancer]. ELT5 drives cell proliferation in colorectal cancer cells.",
    "Gout and serum uric acid In gout, serum uric acid is typically elevated.",
]


def test_pubmed_xml_title_plus_abstract_skipping_empty_items():
    assert list(read_pubmed_xml(FIXTURES / "pubmed_sample.xml")) == PUBMED_EXPECTED


def test_pubmed_xml_gz_reads_the_same(tmp_path):
    gz = tmp_path / "pubmed24n0001.xml.gz"
    with open(FIXTURES / "pubmed_sample.xml", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert list(read_corpus(gz)) == PUBMED_EXPECTED


def test_jsonl_and_text_blocks():
    assert list(read_jsonl(FIXTURES / "corpus_sample.jsonl")) == [
        "Uxustat lowers HbA1c in type 2 diabetes.\nIt was well tolerated.",
        "ZBC6 overrides contact inhibition in colorectal cancer cells (Δ = 12 µm).",
    ]
    assert list(read_text_blocks(FIXTURES / "corpus_sample.txt")) == [
        "Heart failure is characterized by elevated NT-proBNP.\nTorusartan lowers NT-proBNP.",
        "Gout is common.",
        "Serum uric acid ≥ 7 mg/dL was used as the cut-off.",
    ]


def test_text_blocks_with_windows_line_ends(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"first line\r\nsecond line\r\n\r\nnext doc\r\n")
    assert list(read_text_blocks(path)) == ["first line\nsecond line", "next doc"]


def test_pubmedqa_abstracts_join_contexts():
    assert list(pubmedqa_abstracts(FIXTURES / "pubmedqa_sample.json")) == [
        "HbA1c is elevated in type 2 diabetes. We randomized 120 patients to velasartan or placebo. "
        "Velasartan significantly reduced HbA1c (p < 0.01).",
        "We genotyped 800 participants. ELT5 variants were not associated with gout.",
    ]


def test_read_corpus_dispatches_on_name(tmp_path):
    assert list(read_corpus(FIXTURES / "pubmedqa_sample.json")) == list(pubmedqa_abstracts(FIXTURES / "pubmedqa_sample.json"))
    assert list(read_corpus(FIXTURES / "corpus_sample.jsonl")) == list(read_jsonl(FIXTURES / "corpus_sample.jsonl"))
    plain = tmp_path / "README"
    plain.write_text("a doc\n", encoding="utf-8")
    assert list(read_corpus(plain)) == ["a doc"]
    with pytest.raises(CorpusError, match="unknown corpus format"):
        read_corpus(tmp_path / "x.csv")


def test_real_pubmedqa_abstracts(shared_data):
    path = shared_data / "pubmedqa" / "ori_pqal.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    docs = list(read_corpus(path))
    assert len(docs) == len(data) == 1000
    assert docs == [" ".join(r["CONTEXTS"]) for r in data.values()]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.xml", "<PubmedArticleSet><PubmedArticle><MedlineCitation>\n<PMID>1</PMID>\n</PubmedArticle>",
         r"bad.xml: line 3, column \d+: malformed XML"),
        ("truncated.xml", "<PubmedArticleSet>\n<PubmedArticle>\n", r"truncated.xml: line 3"),
        ("wrong.xml", "<html><body/></html>", "root element is <html>"),
        ("empty.xml", "", "empty.xml"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": oops}\n', r"bad.jsonl: line 2: malformed JSON"),
        ("notext.jsonl", '{"text": "ok"}\n\n{"body": "x"}\n', r"notext.jsonl: line 3: expected an object with a string 'text'"),
        ("list.json", "[1, 2]", "expected a JSON object keyed by PMID"),
        ("nocontext.json", '{"123": {"QUESTION": "q"}}', r"record 123: expected 'CONTEXTS'"),
        ("broken.json", '{"123": \n{', r"broken.json: line 2: malformed JSON"),
    ],
)
def test_malformed_input_names_file_and_line_or_record(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        list(read_corpus(path))


def test_bad_bytes_and_missing_files(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("line one\nline two\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1.txt: line 3: not valid UTF-8"):
        list(read_corpus(path))
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"text": "a"}\n' * 1000)[:60])
    with pytest.raises(CorpusError, match="cut.jsonl.gz: line"):
        list(read_corpus(gz))
    with pytest.raises(CorpusError, match="no such file"):
        list(read_corpus(tmp_path / "missing.xml"))
    assert issubclass(CorpusError, UserError)


def _citation(i: int) -> str:
    words = " ".join(f"w{i}x{j}" for j in range(60))
    return (f"<PubmedArticle><MedlineCitation><PMID>{i}</PMID><Article><ArticleTitle>T{i}</ArticleTitle>"
            f"<Abstract><AbstractText>{words}</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>\n")


def test_pubmed_xml_streams_in_constant_memory(tmp_path):
    # Peak memory while reading must not grow with the file: 300 vs 3000 citations.
    peaks = []
    for n in (300, 3000):
        path = tmp_path / f"big{n}.xml"
        path.write_text("<PubmedArticleSet>\n" + "".join(_citation(i) for i in range(n)) + "</PubmedArticleSet>\n")
        tracemalloc.start()
        count = sum(1 for _ in read_pubmed_xml(path))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == n
    assert path.stat().st_size > 2_000_000
    assert peaks[1] < 1.5 * peaks[0] + 100_000  # a tree of all citations would need ~10x more


def test_real_data_dir(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "pubmedqa").mkdir(parents=True)
    assert real_data_dir(data) == data
    with pytest.raises(UserError, match="does not exist"):
        real_data_dir(tmp_path / "nowhere")
    monkeypatch.setenv("MEDISWIFT_SHARED_DATA", str(data))
    assert real_data_dir() == data
    # nothing anywhere: env unset, cwd without ../shared, checkout without ../shared
    monkeypatch.delenv("MEDISWIFT_SHARED_DATA")
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(corpus, "REPO_ROOT", tmp_path / "checkout")
    assert real_data_dir() is None
    # ../shared/data relative to the current directory
    (tmp_path / "a" / "shared" / "data" / "hoc").mkdir(parents=True)
    assert real_data_dir().resolve() == (tmp_path / "a" / "shared" / "data").resolve()
