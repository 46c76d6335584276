"""A small reverse-mode autodiff engine over NumPy arrays.

    engine.py     Tensor, Function, backward(), no_grad
    ops.py        primitive ops (broadcasting arithmetic, matmul, reductions) and Tensor's operators
    shape_ops.py  reshape, permute, indexing, embedding lookup, concat, masked fill
    counter.py    FLOP counting per scope / kind / phase
    gradcheck.py  central-difference gradient checks

Ops with closed-form backward passes (softmax, LayerNorm, GELU, cross-entropy,
attention) live one layer up, in :mod:`mediswift_np.functional` (their speed-layer
twins in :mod:`mediswift_np.fast`).
"""

from . import ops  # noqa: F401  (attaches operators to Tensor)
from .counter import FlopCounter, count_flops, flop_scope
from .engine import Function, Tensor, as_tensor, is_grad_enabled, no_grad, tensor, unbroadcast
from .gradcheck import gradcheck
from .ops import matmul
from .shape_ops import concat, embedding, masked_fill

__all__ = [
    "Function",
    "FlopCounter",
    "Tensor",
    "as_tensor",
    "concat",
    "count_flops",
    "embedding",
    "flop_scope",
    "gradcheck",
    "is_grad_enabled",
    "masked_fill",
    "matmul",
    "no_grad",
    "tensor",
    "unbroadcast",
]
