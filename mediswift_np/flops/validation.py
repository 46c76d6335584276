"""Argument checks shared by the analytic FLOP counter: one rule each, one-line UserError.

Does not handle: anything but plain Python/NumPy numbers (no arrays).
"""

from __future__ import annotations

import math
import numbers

from ..config import GPTConfig
from ..errors import UserError

def check_sparsity(sparsity) -> float:
    """Return ``sparsity`` as a float, or raise UserError unless 0 <= s < 1.

    Example:
        >>> check_sparsity(0.75)
        0.75
    """
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) or not 0.0 <= sparsity < 1.0:
        real = isinstance(sparsity, numbers.Real) and not isinstance(sparsity, bool)
        shown = float(sparsity) if real else repr(sparsity)
        raise UserError(f"sparsity must be in [0, 1), got {shown}")
    return float(sparsity)


def check_seq_len(cfg: GPTConfig, seq_len) -> int:
    """Return ``seq_len`` or raise UserError unless 1 <= seq_len <= n_ctx."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, numbers.Integral) or not 1 <= seq_len <= cfg.n_ctx:
        raise UserError(f"seq_len must be an integer in [1, n_ctx={cfg.n_ctx}], got {seq_len!r}")
    return int(seq_len)


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float, or raise UserError unless it is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (value > 0 and math.isfinite(value)):
        raise UserError(f"{name} must be a positive number, got {value!r}")
    return float(value)
