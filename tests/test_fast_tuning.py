"""The speed layer's process settings, and the promise that importing changes nothing.

keep_freed_memory applies on Linux/glibc, is harmless to call twice, and changes no
numbers (bitwise the same loss before and after); sleep_idle_blas_threads sets its
variable only while NumPy is not loaded yet. Importing the package and its submodules
leaves the environment as it was. What the settings are worth in time is measured by
benchmarks/bench_engine.py, never here."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from mediswift_np.config import GPTConfig
from mediswift_np.fast.tuning import OPENBLAS_THREAD_TIMEOUT, keep_freed_memory
from mediswift_np.model import GPT


def python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (without OPENBLAS_THREAD_TIMEOUT) and return its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_keep_freed_memory_changes_no_numbers():
    cfg = GPTConfig(vocab_size=50, n_ctx=16, n_layer=1, n_embd=16, n_head=2)
    x = np.random.default_rng(0).integers(0, 50, (2, 16))
    before = GPT(cfg, seed=0, fast=True)(x, x)[1].item()
    applied = keep_freed_memory()
    assert keep_freed_memory() == applied  # idempotent
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert applied is True
    assert GPT(cfg, seed=0, fast=True)(x, x)[1].item() == before


@pytest.mark.slow
def test_importing_the_package_changes_no_environment_variable():
    """The runtime dependencies are imported first: sacremoses (through joblib) sets
    KMP_INIT_AT_FORK itself. After them, importing every module of ours changes nothing."""
    code = (
        "import os, numpy, scipy.sparse, sacremoses, regex, tqdm; before = dict(os.environ)\n"
        "import mediswift_np, mediswift_np.model, mediswift_np.optim, mediswift_np.sparse, mediswift_np.sparse.dst\n"
        "import mediswift_np.fast.ops, mediswift_np.fast.tuning, mediswift_np.flops.audit, mediswift_np.runtime\n"
        "import mediswift_np.training, mediswift_np.generate, mediswift_np.pretrain, mediswift_np.finetune\n"
        "print(dict(os.environ) == before)"
    )
    assert python(code) == "True"


def test_idle_blas_threads_sleep_only_if_asked_before_numpy_loads():
    code = (
        "import os\nfrom mediswift_np.fast.tuning import sleep_idle_blas_threads\n"
        "print('numpy' in __import__('sys').modules, sleep_idle_blas_threads(), os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    )
    assert python(code) == f"False True {OPENBLAS_THREAD_TIMEOUT}"  # importing the speed layer's tuning loads no NumPy
    late = "import os, numpy\nfrom mediswift_np.fast.tuning import sleep_idle_blas_threads\n" \
           "print(sleep_idle_blas_threads(), os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"  # fmt: skip
    assert python(late) == "False None"  # too late for OpenBLAS: nothing is changed
