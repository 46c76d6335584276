"""The speed layer's process settings, and the promise that importing changes nothing.

keep_freed_memory applies on Linux/glibc, is harmless to call twice, and changes no
numbers (bitwise the same loss before and after). sleep_idle_blas_threads gives
OpenBLAS's idle threads their short timeout before NumPy loads (through the environment)
or after (through OpenBLAS, leaving the environment as it was); the speed layer does it
when it first runs, the maths layer never. Importing the package and its submodules
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


OPENBLAS_TIMEOUT = """
import ctypes, os
from mediswift_np.runtime import openblas_function
def timeout():  # the idle-thread timeout OpenBLAS runs with (0: its default, about 2^28 cycles)
    fn = openblas_function("thread_timeout")
    return "no OpenBLAS" if fn is None else fn()
"""


def test_idle_blas_threads_sleep_before_and_after_numpy_loads():
    before = "from mediswift_np.fast.tuning import sleep_idle_blas_threads\nimport sys\n" \
             "print('numpy' in sys.modules, sleep_idle_blas_threads())\nimport numpy\n" + OPENBLAS_TIMEOUT + \
             "print(timeout(), os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"  # fmt: skip
    lines = python(before).splitlines()
    assert lines[0] == "False True"  # importing the speed layer's tuning loads no NumPy
    if lines[1].startswith("no OpenBLAS"):
        pytest.skip("NumPy does not use OpenBLAS here")
    assert lines[1] == f"{OPENBLAS_THREAD_TIMEOUT} {OPENBLAS_THREAD_TIMEOUT}"  # OpenBLAS read it when NumPy loaded
    after = "import numpy as np\nfrom mediswift_np.fast.tuning import sleep_idle_blas_threads\n" + OPENBLAS_TIMEOUT + \
            "print(timeout(), sleep_idle_blas_threads(), timeout(), os.environ.get('OPENBLAS_THREAD_TIMEOUT'))\n" \
            "a = np.arange(64.0).reshape(8, 8)\nprint(np.array_equal(a @ a, np.einsum('ij,jk->ik', a, a)))"  # fmt: skip
    assert python(after).splitlines() == [f"0 True {OPENBLAS_THREAD_TIMEOUT} None", "True"]  # environment untouched


@pytest.mark.slow
def test_the_speed_layer_tunes_the_process_when_it_first_runs_and_the_maths_layer_never():
    code = OPENBLAS_TIMEOUT + """
import numpy as np
from mediswift_np.config import GPTConfig
from mediswift_np.model import GPT
cfg = GPTConfig(vocab_size=50, n_ctx=16, n_layer=1, n_embd=16, n_head=2)
x = np.zeros((2, 16), dtype=np.int64)
env = dict(os.environ)
GPT(cfg)(x, x)[1].backward()
print(timeout(), dict(os.environ) == env)
GPT(cfg, fast=True)(x, x)[1].backward()
print(timeout(), dict(os.environ) == env)
"""
    lines = python(code).splitlines()
    if lines[0].startswith("no OpenBLAS"):
        pytest.skip("NumPy does not use OpenBLAS here")
    assert lines == ["0 True", f"{OPENBLAS_THREAD_TIMEOUT} True"]
