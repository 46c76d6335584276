"""Run a NumPy function on blocks of rows, on every core: the speed layer's thread pool.

An elementwise op such as tanh-GELU is a handful of NumPy passes over its array. Two
things make those passes slow on a CPU, and neither is arithmetic:

1. each pass runs on one core (BLAS uses all of them for matrix products; ufuncs don't);
2. an array larger than the cache makes every pass a round trip to main memory.

``rows(fn, *arrays)`` fixes both without touching the maths. It cuts the arrays into blocks
of whole rows (along axis 0), about ``BLOCK_BYTES`` per array, and calls
``fn(*blocks, **shared)`` for every block, on ``num_threads()`` threads at once (each
thread takes the next block until none is left, so a thread slowed down by another
program just takes fewer). NumPy's ufuncs and reductions release the GIL while they
loop, so the threads really run in parallel, and all of ``fn``'s passes over one block
hit the cache. ``fn`` writes its results into output arrays passed among ``arrays``::

    def _scale_shift(x, y, w, b):   # y = x ⊙ w + b, for any block of rows
        np.multiply(x, w, out=y)
        y += b

    y = np.empty(x.shape, x.dtype)  # x, y: (N, C); w, b: (C,)
    rows(_scale_shift, x, y, w=w, b=b)   # _scale_shift(x[i:j], y[i:j], w=w, b=b) per block i:j

Positional arrays are split (they must share their first dimension); keyword arguments
(a (C,) weight, a scalar, a mask shared by every row) are passed whole to every block.

``fn`` may call matrix products (attention runs its per-head products this way). Inside
``rows`` OpenBLAS runs on one thread per caller: our threads already keep every core busy,
and OpenBLAS splitting each small product across cores again would make the threads fight.
Other BLAS libraries are left alone.

Results are bit-identical to ``fn(*arrays)``: every element goes through the same
ufunc calls in the same order, and a reduction along a row (a softmax's sum, a
LayerNorm's mean) sees the same whole row; OpenBLAS splits a product by blocks of its
output, never along the summed axis, so one head's product does not depend on the
thread count either. ``fn`` must not reduce *across* rows (a sum over axis 0): do that
outside, on the whole array. tests/test_fast_pool.py checks bit-identity for every
kernel that uses this.

Blocks are not made smaller than ``BLOCK_BYTES``: a thread needs the GIL between two
NumPy calls, and below some size the handovers cost more than the second core saves
(benchmarks/bench_engine.py records the measurement behind the choice).

The first call applies the speed layer's process settings (tuning.py: glibc keeps freed
memory, idle OpenBLAS threads sleep at once).

Threads: ``MEDISWIFT_NUM_THREADS`` if set, else ``os.cpu_count()``; with 1, the blocks run
one after another in the calling thread. Arrays of fewer than ``MIN_PARALLEL_ELEMENTS``
elements run as one call in the calling thread: there, handing work to a thread costs
more than it saves.

Does not handle: splitting along any axis but the first, or functions that return values
(write into an output argument instead). A ``rows`` call inside ``fn`` runs as one call.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from ..runtime import openblas_function
from .tuning import tune_process

BLOCK_BYTES = 512 * 1024  # per array per block: long NumPy calls, still near a core's L2 cache
MIN_PARALLEL_ELEMENTS = 1 << 16  # 256 KB of float32: smaller arrays run in one call

WORKER_PREFIX = "mediswift_np"
_pool: list[tuple[ThreadPoolExecutor, tuple[int, int]]] = []  # (pool, (workers, pid)), made on first use


def num_threads() -> int:
    """Threads ``rows`` uses: $MEDISWIFT_NUM_THREADS, else the number of cores."""
    value = os.environ.get("MEDISWIFT_NUM_THREADS", "")
    return max(1, int(value)) if value.strip() else (os.cpu_count() or 1)


def _workers(n: int) -> ThreadPoolExecutor:
    """The pool of n worker threads (a new one after a fork: the parent's threads are not in the child)."""
    if not _pool or _pool[0][1] != (n, os.getpid()):
        if _pool:
            _pool.pop()[0].shutdown(wait=False)
        _pool.append((ThreadPoolExecutor(n, thread_name_prefix=WORKER_PREFIX), (n, os.getpid())))
    return _pool[0][0]


def _find_openblas() -> tuple[Callable, Callable] | None:
    """(get_num_threads, set_num_threads) of the OpenBLAS NumPy loaded, or None."""
    get, set_ = openblas_function("get_num_threads"), openblas_function("set_num_threads", None)
    return None if get is None or set_ is None else (get, set_)


_openblas: list = []  # [(get, set) or None], looked up on first use


@contextmanager
def blas_on_one_thread() -> Iterator[None]:
    """Inside the block, OpenBLAS uses one thread per call; its thread count is restored after."""
    if not _openblas:
        _openblas.append(_find_openblas())
    if _openblas[0] is None:
        yield
        return
    get, set_ = _openblas[0]
    previous = get()
    set_(1)
    try:
        yield
    finally:
        set_(previous)


def row_blocks(n_rows: int, row_bytes: int) -> list[tuple[int, int]]:
    """Cut rows 0..n_rows into blocks of about ``BLOCK_BYTES`` per array (at least one row each).

    Example: row_blocks(5, 256 * 1024) == [(0, 2), (2, 4), (4, 5)]  (two rows = 512 KB per block)
    """
    per_block = max(1, BLOCK_BYTES // max(row_bytes, 1))
    return [(i, min(i + per_block, n_rows)) for i in range(0, n_rows, per_block)]


def rows(fn: Callable[..., None], *arrays: np.ndarray, **shared) -> None:
    """Call ``fn(*blocks, **shared)`` on row blocks of ``arrays``, on all threads (module docstring)."""
    tune_process()  # the speed layer's process settings, on its first use (tuning.py)
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"rows: arrays must share their first dimension, got {[a.shape for a in arrays]}")
    if arrays[0].size < MIN_PARALLEL_ELEMENTS or threading.current_thread().name.startswith(WORKER_PREFIX):
        fn(*arrays, **shared)  # small, or already inside rows(): one call, here
        return
    blocks = iter(row_blocks(n, max(a[0].nbytes for a in arrays)))

    def run() -> None:  # take the next block until none is left (a busy thread simply takes fewer)
        for i, j in blocks:
            fn(*(a[i:j] for a in arrays), **shared)

    threads = min(num_threads(), n)
    with blas_on_one_thread():
        futures = [_workers(threads - 1).submit(run) for _ in range(threads - 1)]
        run()  # the calling thread works too
        for f in futures:
            f.result()  # waits for the last blocks; re-raises an exception from a worker
