"""BPE trainers: the fast incremental trainer equals the slow reference and subword-nmt."""

from __future__ import annotations

import io
import json

import pytest

from mediswift_np.data import synthetic_corpus
from mediswift_np.errors import UserError
from mediswift_np.tokenizer import (
    learn_bpe,
    learn_bpe_reference,
    moses_detokenize,
    moses_tokenize,
    num_merges_for_vocab_size,
    word_frequencies,
)
from mediswift_np.tokenizer.bpe import _descending_key, split_word

SENNRICH = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # the example of Sennrich et al. (2016)


def pairs(merges):
    return [(m.left, m.right) for m in merges]


def test_moses_settings_match_biogpt():
    # aggressive dash splits and XML escaping, as BioGptTokenizer.moses_tokenize does
    assert moses_tokenize("IL-6 & TNF-α <b>") == ["IL", "@-@", "6", "&amp;", "TNF", "@-@", "α", "&lt;", "b", "&gt;"]
    assert moses_detokenize(["IL", "@-@", "6", "&amp;", "TNF", "@-@", "α"]) == "IL-6 & TNF-α"
    assert moses_tokenize("") == [] and moses_tokenize(" \r\n\t ") == []


def test_split_word_puts_end_of_word_on_last_character():
    assert split_word("a") == ("a</w>",)
    assert split_word("µg") == ("µ", "g</w>")


def test_sennrich_worked_example_by_hand():
    # Pair counts at the start: (s, t</w>) = 6 + 3 = 9 and (e, s) = 9 tie; 's' > 'e' wins.
    # Then (e, st</w>) = 9; then (l, o) = 7 beats (o, w</w>) = 5; then three pairs tie at 6:
    # (n, e), (e, w), (w, est</w>) -> the greatest, (w, est</w>).
    merges = learn_bpe(SENNRICH, 4)
    assert [tuple(m) for m in merges] == [("s", "t</w>", 9), ("e", "st</w>", 9), ("l", "o", 7), ("w", "est</w>", 6)]


def test_descending_key_orders_like_reversed_string_order():
    words = ["", "a", "ab", "abc", "b", "ba", "é", "a</w>", "中", "😀", "Z"]
    pairs_ = [(x, y) for x in words[1:] for y in words[1:]]
    assert sorted(pairs_, key=_descending_key) == sorted(pairs_, reverse=True)


def test_stops_when_best_pair_is_rarer_than_min_frequency():
    # every pair occurs once: nothing reaches the default min_frequency of 2
    assert learn_bpe({"abc": 1, "xyz": 1}, 10) == []
    assert len(learn_bpe({"abc": 1, "xyz": 1}, 10, min_frequency=1)) == 4  # each word fully merged
    assert learn_bpe(SENNRICH, 0) == []


def test_bad_arguments_raise_user_error():
    for kwargs in ({"num_merges": -1}, {"num_merges": 3, "min_frequency": 0}):
        with pytest.raises(UserError):
            learn_bpe(SENNRICH, **kwargs)
    with pytest.raises(UserError, match="whitespace"):
        learn_bpe({"a b": 2}, 3)
    with pytest.raises(UserError, match="frequencies"):
        learn_bpe({"ab": 0}, 3)


def test_fast_equals_reference_on_synthetic_corpus():
    counts = word_frequencies(synthetic_corpus(150, seed=3))
    fast = learn_bpe(counts, 400)
    assert fast == learn_bpe_reference(counts, 400)
    assert len(fast) == 400


def test_merge_counts_are_the_pair_frequencies_at_merge_time():
    counts = word_frequencies(synthetic_corpus(40, seed=5))
    merges = learn_bpe(counts, 50)
    vocab = {split_word(w): f for w, f in counts.items()}
    for m in merges:  # recount the chosen pair by brute force, then apply the merge
        seen = 0
        new_vocab = {}
        for symbols, f in vocab.items():
            seen += f * sum(1 for a, b in zip(symbols, symbols[1:]) if (a, b) == (m.left, m.right))
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == (m.left, m.right):
                    out.append(m.left + m.right)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            new_vocab[tuple(out)] = new_vocab.get(tuple(out), 0) + f
        assert seen == m.count
        vocab = new_vocab


def _subword_nmt_merges(lines: list[str], num_merges: int) -> list[tuple[str, str]]:
    snmt = pytest.importorskip("subword_nmt.learn_bpe")
    out = io.StringIO()
    snmt.learn_bpe(io.StringIO("\n".join(lines) + "\n"), out, num_merges)  # min_frequency defaults to 2
    codes = out.getvalue().splitlines()
    assert codes[0] == "#version: 0.2"  # subword-nmt's header line, not a merge
    return [tuple(line.split(" ")) for line in codes[1:]]


def test_identical_merges_to_subword_nmt_on_synthetic_text():
    lines = [" ".join(moses_tokenize(doc)) for doc in synthetic_corpus(300, seed=11)]
    ours = learn_bpe(word_frequencies(lines, pretokenized=True), 1500)
    assert pairs(ours) == _subword_nmt_merges(lines, 1500)


def test_identical_merges_to_subword_nmt_on_pubmedqa_abstracts(shared_data):
    data = json.loads((shared_data / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    lines = [" ".join(moses_tokenize(" ".join(r["CONTEXTS"]))) for r in list(data.values())[:400]]
    ours = learn_bpe(word_frequencies(lines, pretokenized=True), 3000)
    assert pairs(ours) == _subword_nmt_merges(lines, 3000)


def test_num_merges_for_vocab_size():
    assert num_merges_for_vocab_size(42_384, 300) == 42_384 - 4 - 600
    with pytest.raises(UserError):
        num_merges_for_vocab_size(100, 60)
