"""fastBPE files (bpecodes, dict.txt) and the ``python -m mediswift_np.tokenizer`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from mediswift_np.data import synthetic_corpus
from mediswift_np.errors import UserError
from mediswift_np.tokenizer import Merge, Tokenizer, moses_detokenize, moses_tokenize, read_bpecodes, read_dict

FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(synthetic_corpus(200, seed=2), 600, progress=False)


def test_files_have_fastbpe_layout(tok, tmp_path):
    tok.save(tmp_path)
    codes = (tmp_path / "bpecodes").read_text(encoding="utf-8").splitlines()
    assert codes[0] == " ".join(map(str, tok.bpe_codes[0]))  # 'left right count', no header
    assert len(codes) == len(tok.merges)
    first = codes[0].split(" ")
    assert len(first) == 3 and int(first[2]) >= int(codes[-1].split(" ")[2])
    entries = (tmp_path / "dict.txt").read_text(encoding="utf-8").splitlines()
    assert len(entries) == tok.vocab_size - 4  # specials are implicit, as in fairseq
    assert not any(e.split(" ")[0] in ("<s>", "<pad>", "</s>", "<unk>") for e in entries)
    assert any(e.split(" ")[0].endswith("@@") for e in entries)


def test_save_load_round_trip_is_exact(tok, tmp_path):
    tok.save(tmp_path / "a")
    back = Tokenizer.load(tmp_path / "a")
    back.save(tmp_path / "b")
    for name in ("bpecodes", "dict.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert back.merges == tok.merges and back.id_to_token == tok.id_to_token and back.counts == tok.counts
    for doc in synthetic_corpus(30, seed=99):
        assert back.encode(doc) == tok.encode(doc)
        assert back.encode_bpe(doc) == tok.encode_bpe(doc)


def test_reads_subword_nmt_codes_with_header(tmp_path):
    (tmp_path / "codes").write_text("#version: 0.2\nt h\nth e</w>\n", encoding="utf-8")
    assert read_bpecodes(tmp_path / "codes") == [Merge("t", "h", 0), Merge("th", "e</w>", 0)]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bpecodes", "t h 5\nbad line here too\n", "line 2"),
        ("bpecodes", "t h five\n", "line 1: count must be an integer"),
        ("bpecodes", "t h 5\nt h 4\n", "line 2: duplicate merge"),
        ("bpecodes", "t  h 5\n", "line 1"),
        ("dict.txt", "the 10\nof\n", "line 2"),
        ("dict.txt", "the 10\nthe 3\n", "line 2: duplicate token"),
        ("dict.txt", "<unk> 3\n", "line 1: duplicate token"),
        ("dict.txt", "the -1\n", "line 1: count must be >= 0"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    reader = read_bpecodes if name == "bpecodes" else read_dict
    with pytest.raises(UserError, match=message) as err:
        reader(tmp_path / name)
    assert name in str(err.value)


def test_load_missing_or_non_utf8_files(tmp_path):
    with pytest.raises(UserError, match="not a tokenizer directory"):
        Tokenizer.load(tmp_path / "nope")
    (tmp_path / "bpecodes").write_text("t h 1\n", encoding="utf-8")
    with pytest.raises(UserError, match="dict.txt: no such file"):
        Tokenizer.load(tmp_path)
    (tmp_path / "dict.txt").write_bytes(b"th\xff 1\n")
    with pytest.raises(UserError, match="not valid UTF-8"):
        Tokenizer.load(tmp_path)


def test_save_is_atomic_and_leaves_no_temporary_files(tok, tmp_path):
    tok.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bpecodes", "dict.txt"]


# ----------------------------------------------------------------------------- CLI


def run_cli(args, tmp_path, stdin=""):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "mediswift_np.tokenizer", *args], input=stdin, cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_train_encode_decode_round_trip(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    docs = synthetic_corpus(80, seed=4)
    corpus.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    text_file = FIXTURES / "corpus_sample.txt"
    r = run_cli(["train", "--input", str(corpus), "--input", str(text_file), "--merges", "300", "--out", "codes", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["merges"] == 300 and summary["out"] == "codes"
    assert "learning BPE" in r.stderr  # tqdm progress goes to stderr
    in_process = Tokenizer.train(docs + list(_blocks(text_file)), 300, progress=False)
    on_disk = Tokenizer.load(tmp_path / "codes")
    assert on_disk.merges == in_process.merges and on_disk.id_to_token == in_process.id_to_token

    lines = docs[:5]
    enc = run_cli(["encode", "--codes", "codes"], tmp_path, "\n".join(lines) + "\n")
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout.splitlines() == [on_disk.encode_bpe(t) for t in lines]
    dec = run_cli(["decode", "--codes", "codes"], tmp_path, enc.stdout)
    assert dec.stdout.splitlines() == [moses_detokenize(moses_tokenize(t)) for t in lines]

    ids = run_cli(["encode", "--codes", "codes", "--ids"], tmp_path, "\n".join(lines) + "\n")
    assert [list(map(int, x.split())) for x in ids.stdout.splitlines()] == [on_disk.encode(t) for t in lines]
    back = run_cli(["decode", "--codes", "codes", "--ids", "--json"], tmp_path, ids.stdout)
    assert back.stdout.splitlines()[:-1] == dec.stdout.splitlines()
    assert json.loads(back.stdout.splitlines()[-1]) == {"command": "decode", "lines": 5}


def _blocks(path):
    from mediswift_np.data import read_text_blocks

    return read_text_blocks(path)


@pytest.mark.slow
def test_cli_pretokenized_is_whitespace_split_like_fastbpe(tmp_path):
    (tmp_path / "tok.txt").write_text("the cell the cells\nthe cell @-@ based\n", encoding="utf-8")
    r = run_cli(["train", "--input", "tok.txt", "--merges", "20", "--out", "c", "--pretokenized"], tmp_path)
    assert r.returncode == 0, r.stderr
    expected = Tokenizer.train(["the cell the cells", "the cell @-@ based"], 20, pretokenized=True, progress=False)
    assert Tokenizer.load(tmp_path / "c").merges == expected.merges
    enc = run_cli(["encode", "--codes", "c", "--pretokenized"], tmp_path, "the cells &amp;\n")
    assert enc.stdout == expected.bpe_words(["the", "cells", "&amp;"]) + "\n"  # no Moses step, no escaping
    dec = run_cli(["decode", "--codes", "c", "--pretokenized"], tmp_path, enc.stdout)
    assert dec.stdout == "the cells &amp;\n"


def test_cli_pretokenized_reads_any_file_name_as_plain_text(tmp_path):
    """Moses output conventionally ends in ``.tok``: with --pretokenized every input is plain text."""
    lines = ["the cell the cells", "", "the cell @-@ based", "cells divide ."]
    (tmp_path / "corpus.tok").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_cli(["train", "--input", "corpus.tok", "--merges", "20", "--out", "c", "--pretokenized"], tmp_path)
    assert r.returncode == 0, r.stderr
    expected = Tokenizer.train([line for line in lines if line], 20, pretokenized=True, progress=False)
    on_disk = Tokenizer.load(tmp_path / "c")
    assert on_disk.merges == expected.merges and on_disk.id_to_token == expected.id_to_token
    r = run_cli(["train", "--input", "corpus.tok", "--merges", "20", "--out", "d"], tmp_path)  # Moses will run: the name picks the reader
    assert r.returncode == 2 and "unknown corpus format" in r.stderr and not (tmp_path / "d").exists()


def run_cli_bytes(args, tmp_path, stdin: bytes):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "mediswift_np.tokenizer", *args], input=stdin, cwd=tmp_path,
                          env=env, capture_output=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["encode"], ["encode", "--ids"], ["encode", "--pretokenized"], ["decode"]])
def test_cli_stdin_is_strict_utf8(tok, tmp_path, command):
    tok.save(tmp_path / "codes")
    args = [*command, "--codes", "codes"]
    good = run_cli_bytes(args, tmp_path, "naïve β-cells\r\n".encode("utf-8"))  # UTF-8 and a CRLF line end are fine
    assert good.returncode == 0 and good.stdout == run_cli_bytes(args, tmp_path, "naïve β-cells\n".encode("utf-8")).stdout
    bad = run_cli_bytes(args, tmp_path, b"the cells\nbad \xff\xfe bytes\n")  # Latin-1 / UTF-16 debris on line 2
    assert bad.returncode == 2
    assert bad.stderr.decode("utf-8") == "error: stdin: line 2: not valid UTF-8 (invalid start byte at byte 4)\n"
    assert len(bad.stdout.splitlines()) == 1  # a line filter: line 1 was written, nothing of line 2


@pytest.mark.slow
def test_cli_help_and_errors_exit_2(tmp_path):
    assert run_cli(["--help"], tmp_path).returncode == 0
    assert "--pretokenized" in run_cli(["train", "--help"], tmp_path).stdout
    r = run_cli(["train", "--input", "missing.txt", "--merges", "5", "--out", "c"], tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "missing.txt" in r.stderr
    assert not (tmp_path / "c").exists()  # nothing half-written
    r = run_cli(["encode", "--codes", "nowhere"], tmp_path, "text\n")
    assert r.returncode == 2 and "not a tokenizer directory" in r.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bpecodes").write_text("a b c d\n", encoding="utf-8")
    (tmp_path / "bad" / "dict.txt").write_text("a 1\n", encoding="utf-8")
    r = run_cli(["encode", "--codes", "bad"], tmp_path, "text\n")
    assert r.returncode == 2 and "bpecodes: line 1" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "bad" / "bpecodes").write_text("a b 1\n", encoding="utf-8")
    r = run_cli(["decode", "--codes", "bad", "--ids"], tmp_path, "4 4\n4 x\n")
    assert r.returncode == 2 and "stdin: line 2: expected integer token ids" in r.stderr
    r = run_cli(["decode", "--codes", "bad", "--ids"], tmp_path, "999\n")
    assert r.returncode == 2 and "outside the vocabulary" in r.stderr
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    r = run_cli(["train", "--input", "empty.txt", "--merges", "5", "--out", "c"], tmp_path)
    assert r.returncode == 2 and "empty corpus" in r.stderr


def test_same_output_as_the_fastbpe_binary(tok, tmp_path):
    """Optional: set MEDISWIFT_FASTBPE to a compiled fastBPE ``fast`` binary to run this check."""
    fast = os.environ.get("MEDISWIFT_FASTBPE")
    if not fast or not os.path.isfile(fast):
        pytest.skip("MEDISWIFT_FASTBPE does not point to a fastBPE binary")
    tok.save(tmp_path / "codes")
    lines = [" ".join(moses_tokenize(d)) for d in synthetic_corpus(200, seed=2)]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run([fast, "applybpe", str(tmp_path / "out.txt"), str(tmp_path / "in.txt"), str(tmp_path / "codes" / "bpecodes")],
                   check=True, capture_output=True)
    applied = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()
    assert applied == [tok.bpe_words(line.split()) for line in lines]
    vocab = subprocess.run([fast, "getvocab", str(tmp_path / "out.txt")], check=True, capture_output=True, text=True)
    assert vocab.stdout.splitlines() == [f"{t} {c}" for t, c in zip(tok.id_to_token[4:], tok.counts[4:]) if c > 0]
