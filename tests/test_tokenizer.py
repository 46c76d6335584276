"""The tokenizer: vocabulary layout, merges by rank, round trips, agreement with reference tools."""

from __future__ import annotations

import json

import pytest
from sacremoses import MosesTokenizer

from mediswift_np.data import synthetic_corpus
from mediswift_np.errors import UserError
from mediswift_np.tokenizer import (
    SPECIAL_TOKENS,
    Tokenizer,
    apply_merges,
    moses_detokenize,
    moses_tokenize,
    symbol_to_token,
    words_from_pieces,
)
from mediswift_np.tokenizer.moses import moses_tokenizer

# Text with the characters that make tokenizers stumble; part of every training corpus below.
HARD_TEXT = (
    "IL-6-induced loss of Δψm was 12 ± 3% at ≥ 5 µg/mL (p ≤ 0.05) in α-, β-, γ- and δ-cells. "
    "Patients (n = 40) & controls [ref. 3] | \"quoted\" it's <tag> 中文文本 😀🧬 café naïve Ångström "
    "e.g. U.S. 2–3 weeks — see also: x/y, 10^6, 5°C, 1.5×10⁹, ½, ‰, §2."
)
HARD_CASES = [
    "",
    "   ",
    "\r\n",
    "Δψm fell by 20 ± 4%.",
    "5 µg/mL vs ≥ 10 µg/mL",
    "αβγ-δ",
    "中文文本",
    "😀 🧬",
    "a  \t  b\r\nc\n\n\nd",
    "x & y < z > w | [q]",
    'He said "it\'s fine".',
    "IL-6-induced TNF-α",
    "U.S. e.g. café",
    HARD_TEXT,
]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(synthetic_corpus(300, seed=7) + [HARD_TEXT], 800, progress=False)


def normalised(text: str) -> str:
    return moses_detokenize(moses_tokenize(text))


def test_specials_come_first_in_fairseq_order(tok):
    assert tok.id_to_token[:4] == ["<s>", "<pad>", "</s>", "<unk>"] == list(SPECIAL_TOKENS)
    assert (tok.bos_id, tok.pad_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert all(tok.token_to_id[t] == i for i, t in enumerate(tok.id_to_token))
    assert tok.vocab_size == len(tok.id_to_token) == len(tok.token_to_id)


def test_vocabulary_is_characters_in_both_forms_plus_merge_results(tok):
    words = {w for doc in synthetic_corpus(300, seed=7) + [HARD_TEXT] for w in moses_tokenize(doc)}
    chars = {c for w in words for c in w}
    expected = {c for c in chars} | {c + "@@" for c in chars}
    expected |= {symbol_to_token(a + b) for a, b in tok.merges}
    assert set(tok.id_to_token[4:]) == expected
    assert tok.vocab_size == 4 + 2 * len(chars) + len({a + b for a, b in tok.merges})


def test_dictionary_counts_are_piece_counts_of_the_training_text(tok):
    counts: dict[str, int] = {}
    for doc in synthetic_corpus(300, seed=7) + [HARD_TEXT]:
        for piece in tok.encode_bpe(doc).split():
            counts[piece] = counts.get(piece, 0) + 1
    got = {t: c for t, c in zip(tok.id_to_token[4:], tok.counts[4:]) if c > 0}
    assert got == counts
    listed = tok.counts[4:]
    assert listed == sorted(listed, reverse=True)  # fastBPE getvocab order: count descending


def test_apply_merges_worked_example():
    ranks = {("l", "o"): 0, ("lo", "w</w>"): 1, ("e", "r</w>"): 2, ("lo", "w"): 3}
    assert apply_merges("low", ranks) == ("low</w>",)
    assert apply_merges("lower", ranks) == ("low", "er</w>")
    assert apply_merges("a", ranks) == ("a</w>",)
    # all occurrences of the best pair merge at once, left to right without overlap
    assert apply_merges("aaaa", {("a", "a"): 0}) == ("aa", "a", "a</w>")


def test_encode_bpe_joins_pieces_with_continuation_marks(tok):
    text = "Velasartan significantly reduced HbA1c."
    bpe = tok.encode_bpe(text)
    assert bpe.replace("@@ ", "").split() == moses_tokenize(text)
    assert [tok.token_to_id[p] for p in bpe.split()] == tok.encode(text)


@pytest.mark.parametrize("text", HARD_CASES, ids=range(len(HARD_CASES)))
def test_round_trip_hard_cases(tok, text):
    ids = tok.encode(text)
    assert tok.unk_id not in ids
    assert tok.decode(ids) == normalised(text)


# Words ending in a full stop, the case moses_tokenize answers from its own character sets.
STOP_CASES = ["Dr. smith", "Dr. Smith", "e.g. U.S. a.b. x. y", "No. 5 and no. five", "Fig. ß. Ünder. émigré. Δ. δ.", "3. 4. a."]


@pytest.mark.parametrize("text", [*HARD_CASES, *STOP_CASES, *synthetic_corpus(40, seed=3)])
def test_moses_tokens_are_sacremoses_tokens(text):
    plain = MosesTokenizer(lang="en").tokenize(text, aggressive_dash_splits=True, return_str=False, escape=True)
    assert moses_tokenize(text) == plain


def test_moses_character_tests_agree_with_sacremoses():
    ours, plain = moses_tokenizer(), MosesTokenizer(lang="en")
    for text in ["a", "A", "ß", "émigré", "Émigré", "δ", "Δ", "3", "a3", ".", "x.y", "中", "😀", "ab-c"]:
        assert ours.islower(text) == plain.islower(text), text
        assert ours.isanyalpha(text) == plain.isanyalpha(text), text


@pytest.mark.slow
def test_round_trip_real_abstracts(shared_data):
    data = json.loads((shared_data / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    docs = [" ".join(r["CONTEXTS"]) for r in data.values()]
    real = Tokenizer.train(docs[:300], 2000, progress=False)
    for doc in docs[:300]:
        ids = real.encode(doc)
        assert real.unk_id not in ids
        assert real.decode(ids) == normalised(doc)


def test_unknown_character_becomes_unk_and_decodes_as_a_word(tok):
    assert "Ж" not in HARD_TEXT
    ids = tok.encode("cells Ж")
    assert ids[-1] == tok.unk_id and tok.unk_id not in ids[:-1]
    assert tok.decode(ids) == "cells <unk>"
    # inside a word: only the unseen character is lost
    ids = tok.encode("cellsЖcells")
    assert ids.count(tok.unk_id) == 1
    assert tok.decode(ids) == "cells <unk> cells"


def test_decode_skips_bos_pad_eos_and_rejects_bad_ids(tok):
    ids = tok.encode("HbA1c is elevated.")
    assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == "HbA1c is elevated."
    with pytest.raises(UserError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(UserError):
        tok.decode([-1])


def test_words_from_pieces():
    assert words_from_pieces("a@@ @@@ @@@ @ b".split()) == ["a@@@", "b"]  # fastBPE's own quirk: '@@@' = '@' + mark
    assert words_from_pieces(["ce@@", "ll@@"]) == ["cell"]  # ids that stop inside a word
    assert words_from_pieces(["ce@@", "<unk>", "s"]) == ["ce", "<unk>", "s"]


def test_empty_corpus_is_a_user_error():
    with pytest.raises(UserError, match="empty corpus"):
        Tokenizer.train(["", "   "], 10, progress=False)


def test_pretokenized_words_that_fastbpe_files_cannot_hold_are_rejected():
    with pytest.raises(UserError, match="fastBPE"):
        Tokenizer.train(["x@@ y"], 10, pretokenized=True, progress=False)
    with pytest.raises(UserError, match="fastBPE"):
        Tokenizer.train(["a</w>b"], 10, pretokenized=True, progress=False)


def test_same_segmentation_as_subword_nmt_apply_bpe(tok, tmp_path):
    apply_bpe = pytest.importorskip("subword_nmt.apply_bpe")
    codes = tmp_path / "codes.snmt"
    codes.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in tok.merges), encoding="utf-8")
    with codes.open(encoding="utf-8") as f:
        bpe = apply_bpe.BPE(f)
    for doc in synthetic_corpus(50, seed=123) + HARD_CASES:
        words = moses_tokenize(doc)
        assert " ".join(bpe.segment_tokens(words)) == tok.bpe_words(words)


def test_same_ids_as_huggingface_biogpt_tokenizer(tok, tmp_path):
    pytest.importorskip("sacremoses")
    transformers = pytest.importorskip("transformers")
    # Hugging Face's BioGPT files: vocab.json with '</w>' on word-final pieces (no '@@'),
    # and merges.txt = the fastBPE bpecodes.
    tok.save(tmp_path)
    vocab = {}
    for i, t in enumerate(tok.id_to_token):
        if i < 4:
            vocab[t] = i
        else:
            vocab[t[:-2] if t.endswith("@@") and len(t) > 2 else t + "</w>"] = i
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    hf = transformers.BioGptTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "bpecodes"))
    texts = synthetic_corpus(40, seed=321) + [t for t in HARD_CASES if t.strip()] + ["cells Ж new"]
    for text in texts:
        ours = tok.encode(text)
        assert hf.encode(text, add_special_tokens=False) == ours
        if tok.unk_id not in ours:
            assert hf.decode(ours, clean_up_tokenization_spaces=False) == tok.decode(ours)


@pytest.mark.parametrize("name", ["moses", "bpe", "encoder", "files", "__init__"])
def test_docstring_examples(name):
    import doctest
    import importlib

    module = importlib.import_module(f"mediswift_np.tokenizer.{name}" if name != "__init__" else "mediswift_np.tokenizer")
    assert doctest.testmod(module).failed == 0
