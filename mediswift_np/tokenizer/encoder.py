"""The tokenizer: Moses words -> BPE pieces -> ids, and back (paper Sec. 3.1).

Encoding (the same steps as Hugging Face's ``BioGptTokenizer``):

1. Moses-tokenize the text (:mod:`~mediswift_np.tokenizer.moses`).
2. Split each word into characters with ``</w>`` on the last one, then merge by rank:
   repeatedly find the adjacent pair with the lowest merge rank and merge all its
   occurrences left to right, until no adjacent pair is a known merge (fastBPE
   ``applybpe``). Results are cached per word.
3. Look each piece up in the vocabulary. Pieces are named as in fastBPE's ``dict.txt``:
   a word-final piece bare (``cell``), any other piece with the suffix ``@@`` (``cel@@``).
   A piece missing from the vocabulary becomes ``<unk>`` (id 3). A character never seen
   in training is never part of a merge, so it stays a piece of its own and becomes
   ``<unk>``; everything else of the word is encoded normally.

The vocabulary has fairseq's specials ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3
and then the ``dict.txt`` entries in file order. A vocabulary trained here holds every
piece that occurs when the training words are encoded, counted and sorted as fastBPE's
``getvocab`` does (count descending, then token ascending), followed (count 0) by every
training character in both forms and every merge result not yet present. So any text
whose characters were all seen in training encodes without ``<unk>``, and
``vocab_size = 4 + 2 x characters + distinct merge results``.

Decoding joins the pieces of each word (dropping ``@@``), skips ``<s>``, ``<pad>`` and
``</s>``, writes ``<unk>`` as a word of its own, and Moses-detokenizes. Hence
``decode(encode(text)) == moses_detokenize(moses_tokenize(text))`` for text whose
characters were seen in training.

Does not handle: special-token strings inside the text (Moses escapes ``<`` and ``>``,
so a literal ``</s>`` is encoded as ordinary characters, whereas Hugging Face would
split it out as the special token), fastBPE's vocabulary-restricted ``applybpe`` mode,
BPE dropout.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import UserError
from .bpe import END_OF_WORD, Merge, learn_bpe, merge_symbols, split_word, word_frequencies
from .files import BPECODES, DICT_TXT, SPECIAL_TOKENS, read_bpecodes, read_dict, write_bpecodes, write_dict
from .moses import moses_detokenize, moses_tokenize

CONTINUATION = "@@"  # fastBPE's mark on a piece that does not end its word
UNK = SPECIAL_TOKENS[3]


def symbol_to_token(symbol: str) -> str:
    """Internal BPE symbol -> fastBPE piece: ``'the</w>' -> 'the'``, ``'th' -> 'th@@'``."""
    if symbol.endswith(END_OF_WORD):
        return symbol[: -len(END_OF_WORD)]
    return symbol + CONTINUATION


def words_from_pieces(pieces: Iterable[str]) -> list[str]:
    """Undo BPE on fastBPE pieces: glue each ``x@@`` to what follows; ``<unk>`` is a word of its own.

    Example:
        >>> words_from_pieces(["cel@@", "ls", "div@@", "ide", "<unk>", "."])
        ['cells', 'divide', '<unk>', '.']
    """
    words: list[str] = []
    pending: list[str] = []
    for piece in pieces:
        if piece == UNK:
            if pending:  # the word was cut short by an unknown piece
                words.append("".join(pending))
                pending = []
            words.append(piece)
        elif piece.endswith(CONTINUATION) and len(piece) > len(CONTINUATION):
            pending.append(piece[: -len(CONTINUATION)])
        else:
            words.append("".join(pending) + piece)
            pending = []
    if pending:  # the pieces stopped inside a word
        words.append("".join(pending))
    return words


def apply_merges(word: str, ranks: dict[tuple[str, str], int]) -> tuple[str, ...]:
    """Segment one word: merge the lowest-ranked adjacent pair until none applies.

    Example:
        >>> apply_merges("lowest", {("e", "s"): 0, ("es", "t</w>"): 1, ("l", "o"): 2})
        ('lo', 'w', 'est</w>')
    """
    symbols = split_word(word)
    while len(symbols) > 1:
        pairs = zip(symbols, symbols[1:])
        rank, left, right = min((ranks.get(p, len(ranks)), *p) for p in pairs)
        if rank == len(ranks):
            break
        symbols = merge_symbols(symbols, left, right)  # never None: (left, right) is one of the pairs
    return tuple(symbols)


class Tokenizer:
    """Moses + BPE tokenizer with a fairseq/BioGPT vocabulary.

    Build one with :meth:`train` or :meth:`load`; or directly from merges and
    ``dict.txt`` entries.

    Example:
        >>> tok = Tokenizer.train(["The cell divides.", "The cells divide."] * 3, 20, progress=False)
        >>> tok.encode_bpe("The cells divide.")
        'The cells divide .'
        >>> tok.decode(tok.encode("The cell divides."))
        'The cell divides.'
    """

    def __init__(self, merges: Sequence[Merge | tuple[str, str]], dictionary: Sequence[tuple[str, int]]):
        self._merges = [m if isinstance(m, Merge) else Merge(m[0], m[1], 0) for m in merges]
        self.ranks = {(m.left, m.right): r for r, m in enumerate(self._merges)}
        self.id_to_token: list[str] = list(SPECIAL_TOKENS) + [t for t, _ in dictionary]
        self.counts: list[int] = [0] * len(SPECIAL_TOKENS) + [c for _, c in dictionary]
        self.token_to_id: dict[str, int] = {}
        for i, token in enumerate(self.id_to_token):
            if token in self.token_to_id:
                raise UserError(f"vocabulary entry {token!r} appears twice")
            self.token_to_id[token] = i
        self.bos_id, self.pad_id, self.eos_id, self.unk_id = (self.token_to_id[t] for t in SPECIAL_TOKENS)
        self._skip_ids = {self.bos_id, self.pad_id, self.eos_id}
        self._cache: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}

    # ----------------------------------------------------------------- training

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        num_merges: int,
        *,
        min_frequency: int = 2,
        pretokenized: bool = False,
        progress: bool = True,
    ) -> "Tokenizer":
        """Learn merges from ``texts`` (Moses-tokenized here unless ``pretokenized``) and build the vocabulary."""
        word_counts = word_frequencies(texts, pretokenized=pretokenized, progress=progress)
        if not word_counts:
            raise UserError("cannot train a tokenizer on an empty corpus")
        for word in word_counts:  # only possible with pretokenized input: Moses splits off '@' and escapes '<'
            if END_OF_WORD in word or word.endswith(CONTINUATION):
                raise UserError(f"word {word!r} cannot be stored in fastBPE files (contains '</w>' or ends in '@@')")
        merges = learn_bpe(word_counts, num_merges, min_frequency=min_frequency, progress=progress)
        return cls(merges, build_dictionary(word_counts, merges))

    # ----------------------------------------------------------------- encoding

    @property
    def merges(self) -> list[tuple[str, str]]:
        """The merges in rank order, as ``(left, right)`` symbol pairs (with ``</w>``)."""
        return [(m.left, m.right) for m in self._merges]

    @property
    def bpe_codes(self) -> list[Merge]:
        """The merges with their counts, as stored in ``bpecodes`` (``left right count``)."""
        return list(self._merges)

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_token)

    def _word(self, word: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """(pieces, ids) of one word, cached."""
        hit = self._cache.get(word)
        if hit is None:
            pieces = tuple(symbol_to_token(s) for s in apply_merges(word, self.ranks))
            ids = tuple(self.token_to_id.get(p, self.unk_id) for p in pieces)
            hit = self._cache[word] = (pieces, ids)
        return hit

    def encode_words(self, words: Iterable[str]) -> list[int]:
        """Ids of already Moses-tokenized words (no special tokens added)."""
        ids: list[int] = []
        for word in words:
            ids.extend(self._word(word)[1])
        return ids

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``: Moses, then BPE, then vocabulary lookup (no special tokens added)."""
        return self.encode_words(moses_tokenize(text))

    def bpe_words(self, words: Iterable[str]) -> str:
        """fastBPE ``applybpe`` form of already-tokenized words: pieces joined by ``'@@ '``."""
        return " ".join(" ".join(self._word(w)[0]) for w in words)

    def encode_bpe(self, text: str) -> str:
        """The ``'@@ '``-joined BPE form of ``text`` (Moses-tokenized first), as fastBPE writes it."""
        return self.bpe_words(moses_tokenize(text))

    # ----------------------------------------------------------------- decoding

    def decode_words(self, ids: Iterable[int]) -> list[str]:
        """Ids -> Moses words: join pieces, skip ``<s>``/``<pad>``/``</s>``, ``<unk>`` as a word."""
        pieces: list[str] = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.id_to_token):
                raise UserError(f"token id {i} is outside the vocabulary [0, {len(self.id_to_token)})")
            if i not in self._skip_ids:
                pieces.append(self.id_to_token[i])
        return words_from_pieces(pieces)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: undo BPE, then Moses-detokenize."""
        return moses_detokenize(self.decode_words(ids))

    # ----------------------------------------------------------------- files

    @property
    def dict_entries(self) -> list[tuple[str, int]]:
        """The ``dict.txt`` rows: (token, count) in id order after the specials."""
        return list(zip(self.id_to_token, self.counts))[len(SPECIAL_TOKENS) :]

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``directory/bpecodes`` and ``directory/dict.txt`` (each atomically)."""
        directory = Path(directory)
        write_bpecodes(directory / BPECODES, self._merges)
        write_dict(directory / DICT_TXT, self.dict_entries)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Tokenizer":
        """Read ``directory/bpecodes`` and ``directory/dict.txt``."""
        directory = Path(directory)
        if not directory.is_dir():
            raise UserError(f"{directory}: not a tokenizer directory (expected {BPECODES} and {DICT_TXT})")
        return cls(read_bpecodes(directory / BPECODES), read_dict(directory / DICT_TXT))


def build_dictionary(word_counts: dict[str, int], merges: Sequence[Merge]) -> list[tuple[str, int]]:
    """``dict.txt`` entries for a vocabulary trained on ``word_counts``.

    Pieces of the segmented training words with their counts (sorted as fastBPE's
    ``getvocab``: count descending, then token ascending), then, with count 0, every
    character in both its final and non-final form and every merge result not yet listed.

    Example:
        >>> build_dictionary({"aa": 3, "b": 1}, [Merge("a", "a</w>", 3)])
        [('aa', 3), ('b', 1), ('a', 0), ('a@@', 0), ('b@@', 0)]
    """
    ranks = {(m.left, m.right): r for r, m in enumerate(merges)}
    counts: Counter = Counter()
    for word, freq in word_counts.items():
        for symbol in apply_merges(word, ranks):
            counts[symbol_to_token(symbol)] += freq
    entries = sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))
    characters = {ch for word in word_counts for ch in word}
    extra = characters | {ch + CONTINUATION for ch in characters} | {symbol_to_token(m.left + m.right) for m in merges}
    entries += [(token, 0) for token in sorted(extra - counts.keys())]
    collisions = {t for t, _ in entries if t in SPECIAL_TOKENS}
    if collisions:
        raise UserError(f"vocabulary pieces collide with special tokens: {sorted(collisions)}")
    return entries
