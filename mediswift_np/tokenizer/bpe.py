"""Learning byte pair encoding (BPE) merges from word frequencies (paper Sec. 3.1).

Sennrich, Haddow & Birch (2016), "Neural Machine Translation of Rare Words with Subword
Units", as implemented by subword-nmt 0.3.x and fastBPE. BPE works on *words* (here:
Moses tokens) and their corpus frequencies:

1. Spell every word as a sequence of symbols, one per character, with the end-of-word
   marker ``</w>`` glued to the last character: ``"lower"`` -> ``l o w e r</w>``.
2. Count every adjacent symbol pair, weighted by the word's frequency
   (``count(a, b) = sum over words w of freq(w) * #positions where (a, b) occurs in w``).
3. Merge the most frequent pair ``(a, b)`` into the new symbol ``ab`` everywhere (left to
   right, non-overlapping), record it as the next merge, and repeat.
4. Ties between equally frequent pairs go to the lexicographically greatest pair (Python
   string order on ``(a, b)``), exactly as subword-nmt's
   ``max(stats, key=lambda x: (stats[x], x))``. (fastBPE's ``learnbpe`` breaks ties by its
   internal ids instead, so its merges can differ from subword-nmt's on ties.)
5. Stop after ``num_merges`` merges, or as soon as the best pair occurs fewer than
   ``min_frequency`` (default 2, subword-nmt's default) times.

Two trainers give the same merges (a test joins them):

- :func:`learn_bpe_reference` recounts every pair in the whole vocabulary before each
  merge: slow (``O(merges x vocabulary)``) and obviously right.
- :func:`learn_bpe` counts once, then updates counts incrementally: an index maps each
  pair to the words containing it, so a merge touches only those words, and for each one
  subtracts the counts of its old pairs and adds those of its new pairs. The best pair
  comes from a max-heap with lazy deletion: each pair's newest entry has a stored count
  never below the pair's true count (a decrease pushes nothing; an increase pushes a
  fresh entry; a popped entry whose count is too high goes back with the true count), so
  when the top entry's stored count equals its true count it is the true maximum, and
  the heap key ``(-count, descending-string key)`` makes the lexicographically greatest
  pair win ties.

Symbols are plain strings, as in subword-nmt (fastBPE numbers them instead).

Vocabulary size vs number of merges: every merge adds one symbol, so the vocabulary built
by :class:`~mediswift_np.tokenizer.encoder.Tokenizer` has
``4 specials + 2 x (distinct characters) + (distinct merge results)`` entries; see
:func:`num_merges_for_vocab_size`.

Does not handle: subword-nmt's ``--total-symbols`` or ``--dict-input`` options (pass a
frequency mapping instead), BPE dropout, glossaries, byte-level BPE.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from typing import Iterable, Mapping, NamedTuple, Sequence

from tqdm import tqdm

from ..errors import UserError
from .moses import moses_tokenize

END_OF_WORD = "</w>"  # subword-nmt >= 0.2 / fastBPE: the marker rides on the last character


class Merge(NamedTuple):
    """One learned merge: ``left + right`` becomes a symbol; ``count`` = pair frequency then."""

    left: str
    right: str
    count: int


def split_word(word: str) -> tuple[str, ...]:
    """Spell a word as characters with ``</w>`` on the last one.

    Example:
        >>> split_word("low")
        ('l', 'o', 'w</w>')
    """
    return tuple(word[:-1]) + (word[-1] + END_OF_WORD,)


def word_frequencies(texts: Iterable[str], *, pretokenized: bool = False, progress: bool = False) -> Counter:
    """Count words over ``texts``: Moses tokens, or whitespace-split words if ``pretokenized``.

    ``pretokenized=True`` reads text that is already Moses-tokenized, splitting only on
    whitespace, as fastBPE's ``learnbpe`` does.

    Example:
        >>> word_frequencies(["the cell", "the cells"])
        Counter({'the': 2, 'cell': 1, 'cells': 1})
    """
    counts: Counter = Counter()
    for text in tqdm(texts, desc="counting words", unit="doc", disable=not progress):
        counts.update(text.split() if pretokenized else moses_tokenize(text))
    return counts


def _check_inputs(word_counts: Mapping[str, int], num_merges: int, min_frequency: int) -> None:
    if num_merges < 0:
        raise UserError(f"number of merges must be >= 0, got {num_merges}")
    if min_frequency < 1:
        raise UserError(f"min_frequency must be >= 1, got {min_frequency}")
    for word, freq in word_counts.items():
        if not word or any(ch.isspace() for ch in word):
            raise UserError(f"BPE words must be non-empty and contain no whitespace, got {word!r}")
        if freq < 1:
            raise UserError(f"word frequencies must be >= 1, got {freq} for {word!r}")


def merge_symbols(symbols: Sequence[str], left: str, right: str) -> list[str] | None:
    """Replace each (left, right) in ``symbols`` by ``left + right``, left to right; None if absent.

    Example:
        >>> merge_symbols(["a", "a", "a", "b</w>"], "a", "a")
        ['aa', 'a', 'b</w>']
    """
    out: list[str] = []
    i, n, found = 0, len(symbols), False
    while i < n:
        if i + 1 < n and symbols[i] == left and symbols[i + 1] == right:
            out.append(left + right)
            i += 2
            found = True
        else:
            out.append(symbols[i])
            i += 1
    return out if found else None


def _descending_key(pair: tuple[str, str]) -> tuple[int, ...]:
    """A tuple whose ascending order is the descending string order of ``pair``.

    Each code point is negated and each string ends with +1 (above every negated code
    point), so a string sorts *before* its own prefixes, as "greater" strings must.
    """
    return (*(-ord(c) for c in pair[0]), 1, *(-ord(c) for c in pair[1]), 1)


def learn_bpe(
    word_counts: Mapping[str, int], num_merges: int, *, min_frequency: int = 2, progress: bool = False
) -> list[Merge]:
    """Learn up to ``num_merges`` BPE merges with incremental pair counts (fast path).

    Example:
        >>> [m[:2] for m in learn_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 4)]
        [('s', 't</w>'), ('e', 'st</w>'), ('l', 'o'), ('w', 'est</w>')]
    """
    _check_inputs(word_counts, num_merges, min_frequency)
    words = [list(split_word(w)) for w in word_counts]
    freqs = list(word_counts.values())

    pair_counts: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)  # pair -> words that (may) contain it
    for i, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += freqs[i]
            where[pair].add(i)
    heap = [(-c, _descending_key(p), p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[Merge] = []
    bar = tqdm(total=num_merges, desc="learning BPE", unit="merge", disable=not progress)
    while len(merges) < num_merges:
        best, best_count = None, 0
        while heap:
            stored, key, pair = heap[0]
            true_count = pair_counts.get(pair, 0)
            if true_count == -stored:
                best, best_count = pair, true_count
                break
            heapq.heappop(heap)  # stale entry: its count has changed since it was pushed
            if 0 < true_count < -stored:
                heapq.heappush(heap, (-true_count, key, pair))
        if best is None or best_count < min_frequency:
            break
        left, right = best
        new_symbol = left + right
        merges.append(Merge(left, right, best_count))
        bar.update(1)

        delta: dict[tuple[str, str], int] = defaultdict(int)
        for i in where.pop(best):
            new = merge_symbols(words[i], left, right)
            if new is None:  # the index may list words that no longer contain the pair
                continue
            old, freq = words[i], freqs[i]
            for pair in zip(old, old[1:]):
                delta[pair] -= freq
            for pair in zip(new, new[1:]):
                delta[pair] += freq
                if new_symbol in pair:
                    where[pair].add(i)
            words[i] = new
        for pair, change in delta.items():
            if change == 0:
                continue
            count = pair_counts[pair] + change
            if count:
                pair_counts[pair] = count
            else:
                del pair_counts[pair]
            if change > 0:
                heapq.heappush(heap, (-count, _descending_key(pair), pair))
        assert best not in pair_counts, "every occurrence of the merged pair must be gone"
    bar.close()
    return merges


def learn_bpe_reference(word_counts: Mapping[str, int], num_merges: int, *, min_frequency: int = 2) -> list[Merge]:
    """Learn BPE merges the slow, obvious way: recount all pairs before every merge.

    Example:
        >>> [m[:2] for m in learn_bpe_reference({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 4)]
        [('s', 't</w>'), ('e', 'st</w>'), ('l', 'o'), ('w', 'est</w>')]
    """
    _check_inputs(word_counts, num_merges, min_frequency)
    vocab = {split_word(w): f for w, f in word_counts.items()}
    merges: list[Merge] = []
    while len(merges) < num_merges:
        stats: Counter = Counter()
        for symbols, freq in vocab.items():
            for pair in zip(symbols, symbols[1:]):
                stats[pair] += freq
        if not stats:
            break
        best = max(stats, key=lambda p: (stats[p], p))  # subword-nmt's rule: count, then greatest pair
        if stats[best] < min_frequency:
            break
        merges.append(Merge(best[0], best[1], stats[best]))
        merged = {}
        for symbols, freq in vocab.items():
            new = merge_symbols(symbols, *best)
            key = tuple(new) if new is not None else symbols
            merged[key] = merged.get(key, 0) + freq
        vocab = merged
    return merges


def num_merges_for_vocab_size(vocab_size: int, num_characters: int, num_specials: int = 4) -> int:
    """How many merges give a vocabulary of ``vocab_size`` entries.

    The vocabulary holds the specials, each character in both its word-final and
    non-final form, and one entry per distinct merge result, so
    ``vocab_size = num_specials + 2 * num_characters + num_merges`` when no two merges
    produce the same string and training does not stop early (then it is smaller).

    Example:
        >>> num_merges_for_vocab_size(42_384, num_characters=300)  # the paper's size
        41780
    """
    merges = vocab_size - num_specials - 2 * num_characters
    if merges < 0:
        raise UserError(
            f"vocabulary size {vocab_size} is below the {num_specials + 2 * num_characters} entries "
            f"needed for {num_specials} specials and {num_characters} characters"
        )
    return merges
