"""Track ``autograd``: the backward passes of the GPT's ops, and a gradient check to trust them.

Exercises 1-3 (numerical gradient, matmul, softmax) are in :mod:`.basics`, with the
helpers the track shares; 4-6 (LayerNorm, GELU, cross-entropy) in :mod:`.layers`.
"""

from __future__ import annotations

from ...spec import Track
from .basics import MATMUL, NUMERICAL, SOFTMAX
from .layers import CROSS_ENTROPY, GELU, LAYER_NORM

TRACK = Track("autograd", "backward passes of the GPT's ops, and a finite-difference check",
              "tutorials/01_autograd_from_scratch.ipynb", (NUMERICAL, MATMUL, SOFTMAX, LAYER_NORM, GELU, CROSS_ENTROPY))
