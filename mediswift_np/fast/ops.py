"""The speed layer's twins, under the maths layer's names: what ``nn.kernels(fast=True)`` returns.

Each takes the same arguments as its maths-layer twin (functional, optim.adamw_update),
counts the same FLOPs and gives the same numbers up to rounding (tests/test_fast_ops.py).
"""

from .adamw import adamw_update
from .attention import causal_self_attention
from .kernels import cross_entropy, gelu, layer_norm, linear, softmax

__all__ = ["adamw_update", "causal_self_attention", "cross_entropy", "gelu", "layer_norm", "linear", "softmax"]
