"""runtime.keep_freed_memory: applies on Linux/glibc, is harmless to call twice, and
changes no numbers (bitwise the same loss before and after). Its speed effect is measured
in benchmarks/bench_engine.py, never here."""

from __future__ import annotations

import platform
import sys

import numpy as np

from mediswift_np.config import GPTConfig
from mediswift_np.model import GPT
from mediswift_np.runtime import keep_freed_memory


def test_keep_freed_memory_changes_no_numbers():
    cfg = GPTConfig(vocab_size=50, n_ctx=16, n_layer=1, n_embd=16, n_head=2)
    x = np.random.default_rng(0).integers(0, 50, (2, 16))
    before = GPT(cfg, seed=0)(x, x)[1].item()
    applied = keep_freed_memory()
    assert keep_freed_memory() == applied  # idempotent
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert applied is True
    assert GPT(cfg, seed=0)(x, x)[1].item() == before

