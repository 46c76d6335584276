"""Track ``bpe``: the merge loop of the BPE trainer (Sennrich, Haddow & Birch 2016).

Copy this file, ``cp tutorials/exercises/bpe.py my_bpe.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check bpe --file my_bpe.py

or just ``python my_bpe.py``. Read tutorial 02 first
(``tutorials/02_moses_bpe.ipynb`` §2 "The BPE merge rule, by hand", §3). Plain Python:
symbols are strings, a word is a tuple of symbols, a vocab maps words (tuples) to their
corpus frequencies. The checker compares with mediswift_np.tokenizer.bpe (the same
rules as subword-nmt 0.3), so look there only afterwards.

Optional extension once exercise 5 passes: make learn_bpe fast by updating the pair
counts incrementally -- after a merge only the words containing the pair change
(compare with mediswift_np.tokenizer.bpe.learn_bpe).
"""

from __future__ import annotations

TRACK = "bpe"  # tells the checker which exercises this file answers
END_OF_WORD = "</w>"

# ----------------------------------------------------------------------------- exercise 1


def split_word(word: str) -> tuple:
    """Spell a word as one symbol per character, with END_OF_WORD glued to the last one.

    Example: split_word("low") == ("l", "o", "w</w>").
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def pair_counts(vocab: dict) -> dict:
    """Count adjacent symbol pairs over a vocab {word (tuple of symbols): frequency}.

    Returns {(left, right): count} with count = Σ over words of frequency × number of
    positions where (left, right) occurs in the word.
    Example: {("l", "o", "w</w>"): 5, ("l", "o", "w", "e", "r</w>"): 2} gives
    ("l", "o"): 7, ("o", "w</w>"): 5, ("o", "w"): 2, ("w", "e"): 2, ("e", "r</w>"): 2.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def best_pair(stats: dict) -> tuple:
    """The pair to merge next: the highest count; among pairs with equal counts, the one
    subword-nmt would pick -- the GREATEST (left, right) in Python's string order."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def merge_word(symbols: tuple, left: str, right: str) -> tuple:
    """Replace every occurrence of the adjacent pair (left, right) by the symbol left + right,
    scanning left to right without overlaps; the symbols unchanged if the pair is absent.

    Example: merge_word(("a", "a", "a", "b</w>"), "a", "a") == ("aa", "a", "b</w>").
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 5


def learn_bpe(word_counts: dict, num_merges: int, min_frequency: int = 2) -> list:
    """Learn up to num_merges merges from {word (str): frequency}.

    Spell every word with split_word; then repeatedly: count pairs, pick best_pair, stop
    if its count is below min_frequency, record (left, right, count), merge it in every
    word. Returns the list of (left, right, count) in the order learned.
    Example: {"low": 5, "lower": 2, "newest": 6, "widest": 3}, 4 merges:
    ("s", "t</w>", 9), ("e", "st</w>", 9), ("l", "o", 7), ("w", "est</w>", 6).
    """
    raise NotImplementedError


if __name__ == "__main__":  # python my_bpe.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
