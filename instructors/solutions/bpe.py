"""Worked solutions to tutorials/exercises/bpe.py (track ``bpe``).

Try the exercises first. The slow, obvious trainer (recount everything before each
merge); mediswift_np.tokenizer.bpe.learn_bpe gets the same merges incrementally:

    python -m mediswift_np.exercises check bpe --file instructors/solutions/bpe.py
"""

from __future__ import annotations

TRACK = "bpe"
END_OF_WORD = "</w>"

# ----------------------------------------------------------------------------- exercise 1


def split_word(word):
    return tuple(word[:-1]) + (word[-1] + END_OF_WORD,)  # the marker rides on the last character


# ----------------------------------------------------------------------------- exercise 2


def pair_counts(vocab):
    stats = {}
    for symbols, freq in vocab.items():
        for pair in zip(symbols, symbols[1:]):  # every position, overlapping ones included
            stats[pair] = stats.get(pair, 0) + freq
    return stats


# ----------------------------------------------------------------------------- exercise 3


def best_pair(stats):
    return max(stats, key=lambda pair: (stats[pair], pair))  # count first, then the greatest pair (subword-nmt)


# ----------------------------------------------------------------------------- exercise 4


def merge_word(symbols, left, right):
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == left and symbols[i + 1] == right:
            out.append(left + right)
            i += 2  # non-overlapping: the merged pair's right symbol is used up
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


# ----------------------------------------------------------------------------- exercise 5


def learn_bpe(word_counts, num_merges, min_frequency=2):
    vocab = {split_word(w): f for w, f in word_counts.items()}
    merges = []
    while len(merges) < num_merges:
        stats = pair_counts(vocab)
        if not stats:
            break  # every word is a single symbol
        left, right = best_pair(stats)
        if stats[left, right] < min_frequency:
            break
        merges.append((left, right, stats[left, right]))
        vocab = {merge_word(symbols, left, right): f for symbols, f in vocab.items()}
    return merges
