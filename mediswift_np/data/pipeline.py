"""The pre-training data pipeline: documents -> one id stream -> (x, y) batches.

1. :func:`token_stream` encodes each document and appends ``</s>`` after it, so the
   stream is ``doc_1 </s> doc_2 </s> ...``: fairseq's binarizer ends every line with
   ``</s>`` and BioGPT trains on such a stream cut into fixed-length blocks.
   Documents that encode to nothing are skipped (no lone ``</s>``).
2. :func:`train_val_split` holds out the last ``val_fraction`` of the stream for
   validation (3%, paper Table 1). The cut is moved to the nearest document boundary
   (just after a ``</s>``) so no document is split between the two parts; only when the
   stream has a single document (no boundary inside) is it cut at the exact token.
3. :func:`sample_batch` draws ``B`` random windows of ``T + 1`` tokens (offsets from the
   given ``np.random.Generator``, so reproducible per seed) and returns inputs
   ``x = window[:T]`` and next-token targets ``y = window[1:]`` (Eq. 1).
   :func:`iterate_val_batches` walks non-overlapping windows in order, for a
   deterministic validation loss.

Windows may span a ``</s>`` (the model learns where documents end), as in fairseq's
``--sample-break-mode none``.

Does not handle: padding/packing per document (``complete_doc`` break modes), sharding
streams larger than memory (the stream is one int32 array: 4 bytes per token).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from ..errors import UserError


def token_stream(docs: Iterable[str], tokenizer, progress: bool = False) -> np.ndarray:
    """Encode ``docs`` into one int32 array with ``tokenizer.eos_id`` after every document.

    Example:
        >>> class Chars:  # any object with encode() and eos_id works
        ...     eos_id = 2
        ...     def encode(self, text): return [ord(c) for c in text]
        >>> token_stream(["ab", "", "c"], Chars()).tolist()
        [97, 98, 2, 99, 2]
    """
    pieces: list[np.ndarray] = []
    eos = np.array([tokenizer.eos_id], dtype=np.int32)
    for doc in tqdm(docs, desc="tokenizing", unit="doc", disable=not progress):
        ids = tokenizer.encode(doc)
        if ids:
            pieces += [np.asarray(ids, dtype=np.int32), eos]
    if not pieces:
        raise UserError("empty corpus: no document produced any tokens")
    return np.concatenate(pieces)


def train_val_split(stream: np.ndarray, val_fraction: float = 0.03, eos_id: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Split ``stream`` into (train, validation) with ~``val_fraction`` of the tokens at the end.

    The cut goes just after the ``</s>`` (``eos_id``) nearest to the exact cut
    ``round(len * (1 - val_fraction))``, keeping both parts non-empty.

    Example:
        >>> s = np.array([5, 6, 2, 7, 2, 8, 9, 2])
        >>> [p.tolist() for p in train_val_split(s, val_fraction=0.3)]
        [[5, 6, 2, 7, 2], [8, 9, 2]]
    """
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = len(stream)
    if n < 2:
        raise UserError(f"cannot split a stream of {n} token(s) into train and validation")
    exact = min(max(int(round(n * (1.0 - val_fraction))), 1), n - 1)
    boundaries = np.flatnonzero(stream[:-1] == eos_id) + 1  # positions right after an interior </s>
    cut = int(boundaries[np.argmin(np.abs(boundaries - exact))]) if len(boundaries) else exact
    return stream[:cut], stream[cut:]


def _check_window(stream: np.ndarray, batch_size: int, seq_len: int) -> None:
    if batch_size < 1 or seq_len < 1:
        raise UserError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
    if len(stream) < seq_len + 1:
        raise UserError(f"stream has {len(stream)} tokens; need at least seq_len + 1 = {seq_len + 1}")


def sample_batch(stream: np.ndarray, batch_size: int, seq_len: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``B`` random windows: inputs ``x`` (B, T) and next-token targets ``y`` (B, T).

    Row ``b`` is ``x = stream[o:o+T]``, ``y = stream[o+1:o+T+1]`` for an offset ``o`` drawn
    uniformly from ``0 .. len - T - 1`` (every valid start).
    """
    _check_window(stream, batch_size, seq_len)
    offsets = rng.integers(0, len(stream) - seq_len, size=batch_size)  # (B,)
    index = offsets[:, None] + np.arange(seq_len + 1)[None, :]  # (B, T+1)
    window = stream[index].astype(np.int64)  # (B, T+1)
    return window[:, :-1], window[:, 1:]


def iterate_val_batches(stream: np.ndarray, batch_size: int, seq_len: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping windows in order: window ``k`` is ``x = stream[kT:(k+1)T]``, ``y`` one later.

    There are ``(len - 1) // T`` windows, batched ``batch_size`` at a time (the last
    batch may be smaller); the leftover tail shorter than a window is not used.
    """
    _check_window(stream, batch_size, seq_len)
    n_windows = (len(stream) - 1) // seq_len
    for start in range(0, n_windows, batch_size):
        k = np.arange(start, min(start + batch_size, n_windows))  # (b,)
        index = k[:, None] * seq_len + np.arange(seq_len + 1)[None, :]  # (b, T+1)
        window = stream[index].astype(np.int64)
        yield window[:, :-1], window[:, 1:]
