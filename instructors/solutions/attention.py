"""Worked solutions to tutorials/exercises/attention.py (track ``attention``).

Try the exercises first. Plain NumPy, every reshape with its shape comment:

    python -m mediswift_np.exercises check attention --file instructors/solutions/attention.py
"""

from __future__ import annotations

import math

import numpy as np

TRACK = "attention"

# ----------------------------------------------------------------------------- exercise 1


def split_heads(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)  # (B, T, C) -> (B, T, nh, hs) -> (B, nh, T, hs)


def merge_heads(y):
    B, nh, T, hs = y.shape
    return y.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)  # (B, nh, T, hs) -> (B, T, nh, hs) -> (B, T, C)


# ----------------------------------------------------------------------------- exercise 2


def causal_mask(T):
    return np.triu(np.ones((T, T), dtype=bool), k=1)  # True above the diagonal: keys after the query


# ----------------------------------------------------------------------------- exercise 3


def attention(q, k, v):
    T, hs = q.shape[-2], q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(hs)  # (B, nh, T, hs) @ (B, nh, hs, T) -> (B, nh, T, T)
    scores = np.where(causal_mask(T), -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)  # the diagonal is never masked, so the max is finite
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    return p @ v  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, nh, T, hs)


# ----------------------------------------------------------------------------- exercise 4


def multi_head_attention(x, w_attn, b_attn, w_proj, b_proj, n_head):
    C = x.shape[-1]
    qkv = x @ w_attn + b_attn  # (B, T, C) @ (C, 3C) -> (B, T, 3C)
    q, k, v = (split_heads(qkv[..., i * C:(i + 1) * C], n_head) for i in range(3))  # each (B, nh, T, hs)
    y = merge_heads(attention(q, k, v))  # (B, T, C)
    return y @ w_proj + b_proj
