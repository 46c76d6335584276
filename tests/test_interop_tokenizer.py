"""vocab.json + merges.txt in BioGptTokenizer's format: the key rule, ids equal to Hugging
Face's BioGptTokenizer on biomedical text, exact round trips, and malformed files."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # transformers reads local files only
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from mediswift_np.data import synthetic_corpus  # noqa: E402
from mediswift_np.data.corpus import pubmedqa_abstracts  # noqa: E402
from mediswift_np.errors import UserError  # noqa: E402
from mediswift_np.interop import tokenizer_hf  # noqa: E402
from mediswift_np.interop.tokenizer_hf import hf_vocab, read_hf_tokenizer, token_from_hf, token_to_hf, write_hf_tokenizer  # noqa: E402
from mediswift_np.tokenizer import Tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(synthetic_corpus(200, seed=2), 600, progress=False)


def converter_rule(token: str) -> str:
    """Hugging Face's BioGPT converter (rewrite_dict_keys), restated: drop a final '@@', else add '</w>'."""
    if token in ("<s>", "<pad>", "</s>", "<unk>"):
        return token
    return token[:-2] if token.endswith("@@") else token + "</w>"


def assert_same_tokenizer(a: Tokenizer, b: Tokenizer, counts: bool = True) -> None:
    assert a.id_to_token == b.id_to_token
    assert a.merges == b.merges
    if counts:
        assert a.counts == b.counts and a.bpe_codes == b.bpe_codes


def test_vocab_json_follows_the_converter_rule(tok, tmp_path):
    write_hf_tokenizer(tok, tmp_path, ["learned1</w>"])
    vocab = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert vocab == {**{converter_rule(t): i for i, t in enumerate(tok.id_to_token)}, "learned1</w>": tok.vocab_size}
    assert list(vocab)[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and list(vocab.values())[:4] == [0, 1, 2, 3]
    assert (tmp_path / "merges.txt").read_text(encoding="utf-8") == (lambda p: (tok.save(p), (p / "bpecodes").read_text(encoding="utf-8"))[1])(tmp_path / "fastbpe")
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "BioGptTokenizer"


def test_key_rule_worked_examples_and_inverse(tok):
    assert [token_to_hf(t) for t in ("cel@@", "ls", "<unk>", "@@", "@@@")] == ["cel", "ls</w>", "<unk>", "@@</w>", "@"]
    for token in tok.id_to_token:
        assert token_from_hf(token_to_hf(token)) == token


def test_colliding_keys_are_refused():
    with pytest.raises(UserError, match="same BioGptTokenizer key 'ab</w>'"):
        hf_vocab(Tokenizer([], [("ab", 1)]), ["ab</w>"])


def test_biogpt_tokenizer_gives_the_same_ids_on_synthetic_text(tok, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    write_hf_tokenizer(tok, tmp_path, model_max_length=1024)
    hf = transformers.BioGptTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(auto).__name__ == "BioGptTokenizer"
    docs = synthetic_corpus(40, seed=11) + ["", "Aspirin (ASA) 100 mg/day -- p < 0.05; IL-6↑ in 5 % ß-cells.", "  spaced\tout  "]
    for doc in docs:
        ids = tok.encode(doc)
        assert hf.encode(doc, add_special_tokens=False) == ids
        assert auto.encode(doc, add_special_tokens=False) == ids
        if tok.unk_id not in ids:  # the two decoders glue pieces around <unk> differently
            assert hf.decode(ids) == tok.decode(ids)
    assert hf("cells divide")["input_ids"][0] == tok.eos_id  # BioGPT starts a sequence with </s>


@pytest.mark.slow
def test_biogpt_tokenizer_gives_the_same_ids_on_pubmedqa_abstracts(shared_data, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    abstracts = list(pubmedqa_abstracts(shared_data / "pubmedqa" / "ori_pqal.json"))
    real = Tokenizer.train(abstracts[:300], 2000, progress=False)
    write_hf_tokenizer(real, tmp_path)
    hf = transformers.BioGptTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    n_tokens = 0
    for doc in abstracts[300:500]:  # abstracts the vocabulary was not trained on
        ids = real.encode(doc)
        assert hf.encode(doc, add_special_tokens=False) == ids
        n_tokens += len(ids)
    assert n_tokens > 10_000


def test_round_trip_is_exact(tok, tmp_path):
    write_hf_tokenizer(tok, tmp_path / "a", ["learned1</w>", "learned2</w>"])
    back, extra = read_hf_tokenizer(tmp_path / "a", n_extra=2)
    assert extra == ["learned1</w>", "learned2</w>"]
    assert_same_tokenizer(back, tok)
    write_hf_tokenizer(back, tmp_path / "b", extra)
    for name in ("vocab.json", "merges.txt", "dict.txt", "tokenizer_config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_reads_files_saved_by_biogpt_tokenizer(tok, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    write_hf_tokenizer(tok, tmp_path / "ours")
    hf = transformers.BioGptTokenizer(str(tmp_path / "ours" / "vocab.json"), str(tmp_path / "ours" / "merges.txt"))
    (tmp_path / "hf").mkdir()
    hf.save_vocabulary(str(tmp_path / "hf"))  # sorted keys, two-field merges, no dict.txt
    back, _ = read_hf_tokenizer(tmp_path / "hf")
    assert_same_tokenizer(back, tok, counts=False)
    assert back.counts == [0] * tok.vocab_size
    for doc in synthetic_corpus(10, seed=5):
        assert back.encode(doc) == tok.encode(doc)


@pytest.mark.parametrize(
    "vocab, message",
    [
        ('{"<s>": 0, "<pad>": 1, "</s>": 2}', "id 3 must be the fairseq special '<unk>'|ids must be"),
        ('{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a</w>": 5}', "ids must be the integers 0..4"),
        ('{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a</w>": 3}', "id 3 is given to both"),
        ('{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a": 4, "a": 5}', "key 'a' appears twice"),
        ('{"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}', "id 0 must be the fairseq special '<s>'"),
        ('{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": "3"}', "has id '3'"),
        ('["<s>"]', "expected a non-empty JSON object"),
        ('{"<s>": 0,', "not valid JSON"),
    ],
)
def test_malformed_vocab_json(tmp_path, vocab, message):
    (tmp_path / "vocab.json").write_text(vocab, encoding="utf-8")
    (tmp_path / "merges.txt").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match=message) as err:
        read_hf_tokenizer(tmp_path)
    assert "vocab.json" in str(err.value)


def test_dict_txt_must_agree_with_vocab_json(tok, tmp_path):
    write_hf_tokenizer(tok, tmp_path)
    lines = (tmp_path / "dict.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "dict.txt").write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="does not list the tokens of vocab.json in id order"):
        read_hf_tokenizer(tmp_path)
    with pytest.raises(UserError, match="cannot hold 10000 extra tokens"):
        read_hf_tokenizer(tmp_path, n_extra=10_000)
    (tmp_path / "merges.txt").unlink()
    (tmp_path / "dict.txt").unlink()
    with pytest.raises(UserError, match="merges.txt: no such file"):
        read_hf_tokenizer(tmp_path)


def test_docstring_examples():
    import doctest

    assert doctest.testmod(tokenizer_hf).failed == 0
