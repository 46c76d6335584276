"""Process settings the speed layer relies on: freed memory is kept, idle BLAS threads sleep.

Neither changes a single number (tests/test_fast_tuning.py); both change the whole
process, so nothing here runs on import. The training entry points and the benchmark
scripts call them; a notebook or a test that only imports the package keeps its process
as it was.

Keep freed memory
-----------------

A training step allocates and frees the same large arrays every time (attention scores
(B, nh, T, T), logits (B, T, V), their gradients). glibc's malloc serves blocks above a
threshold (128 KB to 32 MB, adapting) with fresh ``mmap`` pages and trims the top of the
heap when much of it is free, so the next step touches *new* pages, which the kernel
must zero-fill and map: a page fault per 4 KB. ``keep_freed_memory()`` raises glibc's
mmap and trim thresholds (``mallopt``) so freed blocks stay in the heap and are reused
by the next step. Memory is not leaked: it is reused instead of being returned to the OS.

Idle BLAS threads sleep at once
-------------------------------

After each matrix product, OpenBLAS's idle worker threads spin for about 2^28 CPU cycles
before they sleep, taking the cores the row-block threads of ``pool.rows`` want.
``OPENBLAS_THREAD_TIMEOUT=4`` (2^4 cycles) makes them sleep at once. OpenBLAS reads the
variable once, when NumPy loads it, so it must be in the environment before the first
``import numpy``: set it in the shell, or call ``sleep_idle_blas_threads()`` at the top of
a script, before anything imports NumPy (this module imports none, and neither do
``mediswift_np`` and ``mediswift_np.fast``). benchmarks/bench_engine.py does that.

What each setting is worth on a step is measured by benchmarks/bench_engine.py (its
docstring keeps the dated figures).

Does not handle: non-glibc platforms (macOS, Windows, musl), where ``keep_freed_memory``
does nothing; BLAS libraries other than OpenBLAS, which ignore the variable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 1 << 30
OPENBLAS_THREAD_TIMEOUT = "4"  # log2 of the cycles an idle OpenBLAS thread spins (OpenBLAS clamps it to 4..30)


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks (up to 32 MB each) for reuse; True if it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    ok_mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
    ok_trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(ok_mmap and ok_trim)


def sleep_idle_blas_threads() -> bool:
    """Set ``OPENBLAS_THREAD_TIMEOUT`` (unless set already) if NumPy is not loaded yet.

    Returns True if OpenBLAS will read it; False, changing nothing, once NumPy is loaded.
    """
    if "numpy" in sys.modules:
        return False
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    return True
