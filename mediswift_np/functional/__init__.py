"""The maths layer's ops: each one Function, its forward and its hand-derived backward side by side.

Softmax or LayerNorm composed from primitive ops works (tests/test_functional.py builds
them that way as the slow reference), but records a graph node per primitive. Here each
op is one ``Function`` whose forward is whole-array NumPy, one line per equation, and
whose backward is the derivative worked out by hand:

    linear                 y = x W + b           (GPT-2 "Conv1D" layout: W is (in, out))
    softmax, log_softmax   along the last axis, shifted by the row max for stability
    cross_entropy          mean over the tokens selected by a loss mask (Eq. 1 / Eq. 3)
    layer_norm             x̂ = (x - μ)/√(σ² + eps), y = w ⊙ x̂ + b (Ba et al. 2016)
    gelu                   tanh approximation (GPT-2 / GPT-3)
    dropout                inverted dropout from an explicit np.random.Generator
    causal_self_attention  softmax(q kᵀ/√hs + M) v with the causal mask M

    ops.py          every op but attention
    attention.py    causal_mask, causal_self_attention

The speed layer (mediswift_np/fast) has a twin of linear, softmax, cross_entropy,
layer_norm, gelu and causal_self_attention that computes the same equations block by
block, in place, on all cores; ``GPT(cfg, fast=True)`` runs them (nn.kernels). The twins
inherit the FLOP counts written here and agree with these ops to rounding
(tests/test_fast_ops.py). These files are the ones to read.
"""

from .attention import CausalSelfAttention, attention_inputs, causal_mask, causal_self_attention
from .ops import (
    GELU,
    GELU_A,
    GELU_C,
    CrossEntropy,
    Dropout,
    LayerNorm,
    Linear,
    LogSoftmax,
    Softmax,
    constant,
    cross_entropy,
    cross_entropy_inputs,
    dropout,
    gelu,
    layer_norm,
    linear,
    log_softmax,
    softmax,
    stable_softmax,
)

__all__ = [
    "GELU", "GELU_A", "GELU_C", "CausalSelfAttention", "CrossEntropy", "Dropout", "LayerNorm", "Linear", "LogSoftmax",
    "Softmax", "attention_inputs", "causal_mask", "causal_self_attention", "constant", "cross_entropy",
    "cross_entropy_inputs", "dropout", "gelu", "layer_norm", "linear", "log_softmax", "softmax", "stable_softmax",
]  # fmt: skip
