"""Track ``bpe``: the merge loop of the BPE trainer, ties broken as subword-nmt breaks them.

The student writes (template ``tutorials/exercises/bpe.py``; unit 02):

    1  split_word(word)                        characters, ``</w>`` glued to the last one
    2  pair_counts(vocab)                      adjacent pairs weighted by word frequency
    3  best_pair(stats)                        highest count; ties -> the greatest pair
    4  merge_word(symbols, left, right)        left to right, non-overlapping
    5  learn_bpe(word_counts, num_merges, min_frequency)   the whole loop

References: :mod:`mediswift_np.tokenizer.bpe` -- ``split_word``, ``merge_symbols``,
``learn_bpe`` (the fast trainer) and the rule of ``learn_bpe_reference``, ``max(stats,
key=lambda p: (stats[p], p))`` (subword-nmt 0.3's). Everything is compared exactly
(strings and integer counts). Inputs are built so that ties are frequent and the pairs
tied for first come in an order where "first seen", "last seen", "smallest" and
"greatest" all differ.

Does not handle: the incremental pair-count update of the fast trainer (an optional
extension in the template's docstring), Moses tokenization (tutorial 02 §1).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ...tokenizer import bpe
from ..spec import Case, Exercise, Mistake, Symptom, Task, Track

TUTORIAL = "tutorials/02_moses_bpe.ipynb §2 (the BPE merge rule, by hand) and §3"
END = bpe.END_OF_WORD
WORDS = ("lower", "a", "cells", "α-helix", "日本語", "x2", "CD4+")

# ----------------------------------------------------------------------------- exercise 1


def split_cases(rng: np.random.Generator) -> list[Case]:
    words = list(WORDS) + ["".join(rng.choice(list("abcdef"), int(rng.integers(1, 7)))) for _ in range(3)]
    return [Case(f"word={w!r}", (w,), bpe.split_word(w), {
        "separate_end_marker": tuple(w) + (END,),
        "missing_end_marker": tuple(w),
        "marker_on_first": (w[0] + END,) + tuple(w[1:]) if len(w) > 1 else None,
    }) for w in words]  # fmt: skip


SPLIT = Exercise(1, "split_word: characters with </w> on the last one", TUTORIAL, (
    Task("split_word", "split_word('low') = ('l', 'o', 'w</w>'): one symbol per character, '</w>' glued to the last.",
         split_cases, (
             Mistake("separate_end_marker", "'</w>' is not a symbol of its own: glue it to the last character "
                                            "('w</w>'), as subword-nmt >= 0.2 and fastBPE do."),
             Mistake("missing_end_marker", "the last character carries the end-of-word marker: 'w</w>'."),
             Mistake("marker_on_first", "the marker goes on the LAST character."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def count_pairs(vocab, weighted=True, once_per_word=False) -> dict:
    stats: Counter = Counter()
    for symbols, freq in vocab.items():
        pairs = list(zip(symbols, symbols[1:]))
        for pair in set(pairs) if once_per_word else pairs:
            stats[pair] += freq if weighted else 1
    return dict(stats)


def random_vocab(rng: np.random.Generator, n_words: int = 8, alphabet: str = "abcd") -> dict:
    vocab = {}
    for _ in range(n_words):
        word = "".join(rng.choice(list(alphabet), int(rng.integers(1, 7))))
        vocab[bpe.split_word(word)] = vocab.get(bpe.split_word(word), 0) + int(rng.integers(1, 6))
    return vocab


def compare_counts(got, expected) -> str | None:
    if not isinstance(got, dict):
        return f"returned a {type(got).__name__}; expected a dict {{(left, right): count}}"
    keys = set(got) | set(expected)
    wrong = sorted((k for k in keys if got.get(k, 0) != expected.get(k, 0)), key=str)
    if not wrong:
        return None
    return f"{len(wrong)} of {len(keys)} pairs have the wrong count, e.g. {wrong[0]}"


def pair_cases(rng: np.random.Generator) -> list[Case]:
    vocabs = [{bpe.split_word(w): f for w, f in {"low": 5, "lower": 2, "newest": 6, "widest": 3}.items()},
              {("a", "a", "a", "a</w>"): 3, ("b", "a</w>"): 2}]  # fmt: skip
    vocabs += [random_vocab(rng) for _ in range(3)]
    cases = []
    for vocab in vocabs:
        label = f"vocab=<{len(vocab)} words, e.g. {next(iter(vocab))}: {next(iter(vocab.values()))}>"
        cases.append(Case(label, (vocab,), count_pairs(vocab), {
            "unweighted": count_pairs(vocab, weighted=False),
            "once_per_word": count_pairs(vocab, once_per_word=True),
        }))  # fmt: skip
    return cases


PAIRS = Exercise(2, "pair_counts: adjacent pairs weighted by word frequency", TUTORIAL, (
    Task("pair_counts", "count(a, b) = Σ_words freq(w) × (number of positions where (a, b) occurs in w).",
         pair_cases, (
             Mistake("unweighted", "weight each word's pairs by the word's frequency (the vocab's value): a word "
                                   "seen 5 times contributes 5 per occurrence."),
             Mistake("once_per_word", "count every position: ('a', 'a') occurs twice in a a a, not once."),
         ), compare=compare_counts),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def tied_stats(rng: np.random.Generator, n_tied: int = 4) -> dict:
    """Pair counts whose maximum is shared by ``n_tied`` pairs, listed neither in ascending nor in
    descending order (so first, last, smallest and greatest are four different pairs)."""
    symbols = ["a", "b", "e", "l", "s", "t</w>", "w</w>", "es", "lo"]
    pairs = set()
    while len(pairs) < n_tied + 5:
        i, j = rng.integers(len(symbols), size=2)
        pairs.add((symbols[i], symbols[j]))
    pairs = sorted(pairs)
    top = [pairs[k] for k in (1, n_tied + 2, 0, n_tied + 4)]  # middle, high, lowest, highest: first/last are neither
    top = [top[0], top[2], top[3], top[1]]  # order: a middle one first, then lowest, highest, another middle one last
    rest = [p for p in pairs if p not in top]
    count = int(rng.integers(5, 20))
    stats = {p: int(rng.integers(1, count)) for p in rest[:2]}
    stats.update({p: count for p in top})
    stats.update({p: int(rng.integers(1, count)) for p in rest[2:]})
    return stats


def best_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [tied_stats(rng) for _ in range(4)] + [{("l", "o"): 7, ("o", "w</w>"): 7, ("e", "r</w>"): 2}]
    inputs.append({("x", "y"): 3, ("a", "b"): 9, ("c", "d"): 4})
    cases = []
    for stats in inputs:
        best = max(stats, key=lambda p: (stats[p], p))  # learn_bpe_reference's rule
        tied = [p for p in stats if stats[p] == stats[best]]
        cases.append(Case(f"stats=<{len(stats)} pairs, {len(tied)} tied at the top count>", (stats,), best, {
            "first_seen": tied[0] if tied[0] != best else None,
            "last_seen": tied[-1] if tied[-1] != best else None,
            "smallest": min(tied) if min(tied) != best else None,
        }, "a tie: several pairs share the highest count"))  # fmt: skip
    return cases


BEST = Exercise(3, "best_pair: the most frequent pair, ties as subword-nmt breaks them", TUTORIAL, (
    Task("best_pair", "best = max(stats, key=lambda p: (stats[p], p)): highest count, and among equal counts the "
                      "greatest pair in Python's tuple-of-strings order (subword-nmt's learn_bpe).",
         best_cases, (
             Mistake("first_seen", "a tie went to the pair seen first (max(stats, key=stats.get) keeps the first "
                                   "maximum). subword-nmt breaks ties by the pair itself: the GREATEST (left, right) in"
                                   " string order wins -- key (count, pair)."),
             Mistake("last_seen", "a tie went to the pair seen last (a `>=` in your loop). subword-nmt breaks ties by "
                                  "the pair itself: the greatest (left, right) in string order -- key (count, pair)."),
             Mistake("smallest", "ties go to the GREATEST pair in string order, not the smallest: key (count, pair) "
                                 "with max."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 4


def naive_replace(symbols, left, right):
    return tuple(" ".join(symbols).replace(f"{left} {right}", left + right).split(" "))


def right_to_left(symbols, left, right):
    out = list(symbols)
    i = len(out) - 2
    while i >= 0:
        if out[i] == left and out[i + 1] == right:
            out[i : i + 2] = [left + right]
        i -= 1
    return tuple(out)


def merge_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [(("a", "a", "a", "b</w>"), "a", "a"), (("l", "o", "w</w>"), "o", "w</w>"),
              (("x", "ab", "c</w>"), "b", "c</w>"), (("n", "e", "w", "e", "s", "t</w>"), "e", "s"),
              (("a", "a", "a", "a</w>"), "a", "a"), (("l", "o", "w</w>"), "e", "r</w>"),
              (("b", "ca", "b", "c</w>"), "a", "b")]  # fmt: skip
    for _ in range(3):
        word = bpe.split_word("".join(rng.choice(list("ab"), int(rng.integers(3, 9)))))
        inputs.append((word, "a", "b" if rng.random() < 0.5 else "a"))
    cases = []
    for symbols, left, right in inputs:
        merged = bpe.merge_symbols(symbols, left, right)
        right_answer = tuple(symbols) if merged is None else tuple(merged)
        cases.append(Case(f"symbols={symbols}, left={left!r}, right={right!r}", (symbols, left, right), right_answer, {
            "string_replace": naive_replace(symbols, left, right),
            "right_to_left": right_to_left(symbols, left, right),
            "none_when_absent": Symptom(lambda got: got is None),
        }))  # fmt: skip
    return cases


MERGE = Exercise(4, "merge_word: apply one merge, left to right", TUTORIAL, (
    Task("merge_word", "scan left to right; where symbols[i] == left and symbols[i + 1] == right emit left + right and "
                       "jump 2, else emit symbols[i] and step 1 (mediswift_np.tokenizer.bpe.merge_symbols).",
         merge_cases, (
             Mistake("string_replace", "joining the symbols and replacing 'left right' in the string matches across "
                                       "symbol boundaries (e.g. 'b c' inside 'ab c'): compare whole symbols."),
             Mistake("right_to_left", "merge from the LEFT: in a a a the first two a's merge ('aa', 'a'), not the "
                                      "last two."),
             Mistake("none_when_absent", "when the pair does not occur, return the symbols unchanged (as a tuple)."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 5

SENTENCES = ("the cell cycle arrest of the cells", "cells in the cell line", "cyclin dependent kinase inhibitors",
             "the tumour cells were treated with the inhibitor", "lower lowest newer newest wider widest")


def variant_bpe(word_counts, num_merges, min_frequency=2, tie="greatest", stop_at=None) -> list:
    """learn_bpe_reference with one rule changed: the slips of exercise 5."""
    vocab = {bpe.split_word(w): f for w, f in word_counts.items()}
    merges = []
    floor = min_frequency if stop_at is None else stop_at
    while len(merges) < num_merges:
        stats = count_pairs(vocab)
        if not stats:
            break
        best = max(stats, key=lambda p: (stats[p], p)) if tie == "greatest" else max(stats, key=stats.get)
        if stats[best] < floor:
            break
        merges.append((best[0], best[1], stats[best]))
        vocab = {tuple(bpe.merge_symbols(s, *best) or s): f for s, f in vocab.items()}
    return merges


def compare_merges(got, expected) -> str | None:
    try:
        mine = [tuple(m)[:3] for m in got]
    except TypeError:
        return f"returned a {type(got).__name__}; expected a list of (left, right, count)"
    mine = [(a, b, int(c)) if isinstance(c, (int, np.integer)) else (a, b, c) for a, b, c in mine]
    right = [tuple(m) for m in expected]
    for k, (g, e) in enumerate(zip(mine, right)):
        if g != e:
            return f"merge #{k + 1} differs (yours: {g})"
    if len(mine) != len(right):
        return f"the first {min(len(mine), len(right))} merges are right, but you learned {'more' if len(mine) > len(right) else 'fewer'}"
    return None


def learn_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 10, 2, "the worked example of Sennrich et al."),
              (dict(bpe.word_frequencies(SENTENCES)), 40, 2, "word counts of five biomedical phrases"),
              ({"aaaa": 3, "ab": 2, "ba": 2}, 10, 1, "overlapping pairs, min_frequency=1")]  # fmt: skip
    for _ in range(3):
        words = {"".join(rng.choice(list("abcde"), int(rng.integers(2, 8)))): int(rng.integers(1, 5)) for _ in range(12)}
        inputs.append((words, 25, int(rng.integers(1, 4)), "12 random words over a–e"))
    cases = []
    for counts, n, mf, words in inputs:
        right = [tuple(m) for m in bpe.learn_bpe(counts, n, min_frequency=mf)]
        cases.append(Case(f"word_counts=<{words}>, num_merges={n}, min_frequency={mf}", (counts, n, mf), right, {
            "first_seen_ties": variant_bpe(counts, n, mf, tie="first"),
            "ignores_min_frequency": variant_bpe(counts, n, mf, stop_at=1),
            "stops_at_min_frequency": variant_bpe(counts, n, mf, stop_at=mf + 1),
        }))  # fmt: skip
    return cases


def learn_note(module) -> str:
    merges = module.learn_bpe(dict(bpe.word_frequencies(SENTENCES)), 6, 2)
    shown = ", ".join(f"{a}+{b}" for a, b, _ in list(merges)[:6])
    return (f"your first merges on five biomedical phrases: {shown} -- the same list subword-nmt writes; "
            "tutorial 02 §6 checks the library against subword-nmt itself.")


LEARN = Exercise(5, "learn_bpe: the merge loop", TUTORIAL, (
    Task("learn_bpe", "repeat num_merges times: count pairs, take best_pair, stop if its count < min_frequency, record "
                      "(left, right, count), merge it in every word (Sennrich et al. 2016, Alg. 1).",
         learn_cases, (
             Mistake("first_seen_ties", "the merges diverge at a tie: break ties as best_pair does (greatest pair), "
                                        "not by the order in which pairs were counted."),
             Mistake("ignores_min_frequency", "stop as soon as the best pair occurs fewer than min_frequency times "
                                              "(subword-nmt's default 2): pairs seen once are not merged."),
             Mistake("stops_at_min_frequency", "a pair that occurs exactly min_frequency times is still merged: stop "
                                               "only when count < min_frequency."),
         ), compare=compare_merges),
), depends_on=(1, 2, 3, 4), on_pass=learn_note, points=2)  # fmt: skip

TRACK = Track("bpe", "the BPE trainer's merge loop, ties broken as subword-nmt breaks them",
              "tutorials/02_moses_bpe.ipynb", (SPLIT, PAIRS, BEST, MERGE, LEARN))
