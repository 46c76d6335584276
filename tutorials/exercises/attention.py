"""Track ``attention``: causal multi-head self-attention, the forward pass.

Copy this file, ``cp tutorials/exercises/attention.py my_attention.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check attention --file my_attention.py

or just ``python my_attention.py``. Read tutorial 03 first
(``tutorials/03_gpt3_block.ipynb``: §1 the decoder as equations, §2 shapes, §6
causality). Shapes: B batch, T time, C channels, nh heads, hs = C / nh head size.
Arrays are float64; use NumPy only. The checker compares with mediswift_np.functional
(causal_mask, causal_self_attention) as mediswift_np/model.py composes them, so look
there only afterwards.
"""

from __future__ import annotations

import math  # noqa: F401

import numpy as np  # noqa: F401

TRACK = "attention"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1


def split_heads(x, n_head: int):
    """(B, T, C) -> (B, nh, T, hs): head h gets the contiguous channels h·hs .. (h + 1)·hs − 1."""
    raise NotImplementedError


def merge_heads(y):
    """(B, nh, T, hs) -> (B, T, C): the inverse of split_heads."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def causal_mask(T: int):
    """A (T, T) bool array, True where query i may NOT attend to key j."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def attention(q, k, v):
    """Causal scaled dot-product attention, per batch element and head.

    q, k, v: (B, nh, T, hs). Logits S = q kᵀ / √hs of shape (B, nh, T, T); blocked
    entries (your causal_mask) set to −inf; softmax over the keys (the last axis); return
    softmax(S) v of shape (B, nh, T, hs). Must stay finite for large q and k.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def multi_head_attention(x, w_attn, b_attn, w_proj, b_proj, n_head: int):
    """The attention half of a GPT-2/GPT-3 block (weights in (in, out) layout: y = x W + b).

    x (B, T, C); w_attn (C, 3C) and b_attn (3C,) hold the query, key and value
    projections side by side, in that order; w_proj (C, C), b_proj (C,) the output
    projection. Project, split into heads, attend, merge, project. Returns (B, T, C).
    """
    raise NotImplementedError


if __name__ == "__main__":  # python my_attention.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
