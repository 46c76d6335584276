"""Process settings the speed layer relies on: freed memory is kept, idle BLAS threads sleep.

Neither changes a single number (tests/test_fast_tuning.py), but both change the whole
process, so nothing here runs on import. ``tune_process()`` applies both, once: the
speed layer calls it the first time it runs (``pool.rows``), so a model built with
``fast=True`` gets them and a process that only imports the package, or runs the maths
layer, keeps its settings as they were. Scripts may call it themselves (the engine
benchmark does, so that PyTorch, timed beside us, benefits alike).

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
before they sleep, taking the cores the row-block threads of ``pool.rows`` (and other
programs) want. With a thread timeout of 4 (2^4 cycles) they sleep at once. OpenBLAS
reads ``OPENBLAS_THREAD_TIMEOUT`` when it loads; ``sleep_idle_blas_threads()`` sets it
then if NumPy is not loaded yet, and otherwise has OpenBLAS re-read it (its
``openblas_read_env``) and restart its worker threads (``blas_thread_shutdown_``; the
next product starts them again), leaving ``os.environ`` as it was. A timeout the user
set in the environment is kept.

What each setting is worth on a step is measured by benchmarks/bench_engine.py (its
docstring keeps the dated figures).

Does not handle: non-glibc platforms (macOS, Windows, musl), where ``keep_freed_memory``
does nothing; BLAS libraries other than OpenBLAS, which have no such threads to put to sleep.
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

_tuned: dict[str, bool] = {}  # what tune_process() applied, once it has run


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
    """Give OpenBLAS's idle threads a timeout of 2^4 cycles (module docstring); True if it applies."""
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return True  # the user's (or an earlier call's) value, read by OpenBLAS when it loaded or will load
    if "numpy" not in sys.modules:
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_THREAD_TIMEOUT  # OpenBLAS reads it when NumPy loads it
        return True
    from ..runtime import openblas_function  # reads /proc/self/maps: only once NumPy (and OpenBLAS) is loaded

    timeout, read_env = openblas_function("thread_timeout"), openblas_function("read_env", None)
    shutdown = openblas_function("blas_thread_shutdown_", exact=True)
    if timeout is None or read_env is None or shutdown is None:
        return False  # another BLAS, or an OpenBLAS without these functions
    if timeout() == 0:  # no timeout read yet: OpenBLAS's default applies
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = OPENBLAS_THREAD_TIMEOUT
        try:
            read_env()  # OpenBLAS re-reads its environment variables
        finally:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]  # the process's environment stays as it was
        shutdown()  # the worker threads stop; the next product starts them with the new timeout
    return timeout() > 0


def tune_process() -> dict[str, bool]:
    """Both settings, applied on the first call only; which of them took effect."""
    if not _tuned:
        _tuned.update(keep_freed_memory=keep_freed_memory(), idle_blas_threads_sleep=sleep_idle_blas_threads())
    return _tuned
