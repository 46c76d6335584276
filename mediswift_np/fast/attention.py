"""Blocked causal attention: the speed layer's twin of functional.causal_self_attention.

The maths layer computes the whole (T, Tk) matrix of scores and masks its upper
triangle. Here the queries are cut into blocks of ``QUERY_BLOCK`` rows (``causal_blocks``)
and a block's scores are computed only for the keys it may see: the key columns the
causal mask hides from a whole block are never computed (for T = Tk = 1024, 56 % of the
T × T matrix instead of 100 %). Inside a block, a row's later keys are still masked with
-inf. The heads are run through :func:`pool.rows` in blocks, on all cores; each block of
heads goes query block by query block, so dP and dS of the backward pass exist only one
small block at a time, and D = g · y (see the maths layer's backward) is a row dot
product.

FLOPs: the counts are the maths layer's (inherited), the full T × Tk products of the
analytic formula (Hoffmann et al. App. F). This code executes fewer of them, about
(T + QUERY_BLOCK) / 2T when T = Tk. Results equal the maths layer's up to rounding.

Does not handle: anything the maths layer's attention does not.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from .kernels import _row_dot, _softmax_rows
from .pool import rows

QUERY_BLOCK = 128  # query rows per attention block (benchmarks/bench_engine.py: why 128)


def causal_blocks(T: int, Tk: int) -> list[tuple[int, int, int]]:
    """Cut T queries into blocks (i, j, e): query rows i:j may see keys 0:e and no further.

    Query row r sits at position Tk - T + r, so the last row of a block sees keys up to
    e = Tk - T + j. Everything right of column e is masked for the whole block: attention
    never computes those scores. Small blocks make small, slow products, so a block is
    not cut smaller than ``QUERY_BLOCK`` rows.

    Example: causal_blocks(256, 256) == [(0, 128, 128), (128, 256, 256)]
    """
    return [(i, min(i + QUERY_BLOCK, T), Tk - T + min(i + QUERY_BLOCK, T)) for i in range(0, T, QUERY_BLOCK)]


def _attention_rows(qs, k, v, blocked, p, y, keep=None, pd=None) -> None:
    """For a block of b heads: P = softmax(qs kᵀ, -inf where blocked) into p, y = P v.

    One query block at a time (causal_blocks): only p[:, i:j, :e] is computed and
    written; the rest of p, all masked, is never read. With attention dropout,
    P ⊙ keep goes into pd and y = (P ⊙ keep) v.
    """
    for i, j, e in causal_blocks(qs.shape[1], k.shape[1]):
        s = p[:, i:j, :e]  # a view: this block's scores, then its probabilities
        np.matmul(qs[:, i:j], k[:, :e].swapaxes(-1, -2), out=s)  # (b, j-i, hs) @ (b, hs, e) scores
        np.copyto(s, -np.inf, where=blocked[:, i:j, :e])  # a select, not arithmetic
        _softmax_rows(s, s)  # attention probabilities
        if keep is not None:
            s = np.multiply(s, keep[:, i:j, :e], out=pd[:, i:j, :e])
        np.matmul(s, v[:, :e], out=y[:, i:j])  # (b, j-i, e) @ (b, e, hs) -> (b, j-i, hs)


def _attention_backward_rows(g, qs, k, v, p, pd, y, dq, dk, dv, keep=None, *, scale) -> None:
    """For a block of b heads: dv, dq, dk as derived in functional.CausalSelfAttention.backward.

    Query block by query block like the forward pass; dv and dk sum over the blocks.
    """
    dv[:], dk[:] = 0.0, 0.0
    D = _row_dot(g, y)  # D = g · y row by row, (b, T, 1)
    for i, j, e in causal_blocks(qs.shape[1], k.shape[1]):
        dv[:, :e] += pd[:, i:j, :e].swapaxes(-1, -2) @ g[:, i:j]  # Pᵀ g: (b, e, j-i) @ (b, j-i, hs)
        ds = g[:, i:j] @ v[:, :e].swapaxes(-1, -2)  # dP: (b, j-i, hs) @ (b, hs, e) -> (b, j-i, e)
        if keep is not None:
            ds *= keep[:, i:j, :e]
        ds -= D[:, i:j]  # dP - D
        ds *= p[:, i:j, :e]  # dS = P ⊙ (dP - D)
        np.matmul(ds, k[:, :e], out=dq[:, i:j])  # (b, j-i, e) @ (b, e, hs)
        dk[:, :e] += ds.swapaxes(-1, -2) @ qs[:, i:j]  # (b, e, j-i) @ (b, j-i, hs); qs already carries 1/√hs
    dq *= scale


class CausalSelfAttention(F.CausalSelfAttention):
    def forward(self, q, k, v, key_mask=None, dropout_p: float = 0.0, rng=None):
        B, nh, T, hs = q.shape  # q: (B, nh, T, hs); k, v: (B, nh, Tk, hs), Tk ≥ T with cached keys
        Tk = k.shape[2]
        self.scale = np.asarray(1.0 / math.sqrt(hs), dtype=q.dtype)
        qs = (q * self.scale).reshape(B * nh, T, hs)  # fold 1/√hs into q: (B,nh,T,hs) is smaller than (B,nh,T,T)
        k, v = k.reshape(B * nh, Tk, hs), v.reshape(B * nh, Tk, hs)  # heads side by side: (B·nh, Tk, hs)
        blocked = F.causal_mask(T, Tk)  # (T, Tk)
        if key_mask is not None:  # (B, Tk) True = a real token that may be attended to; already bool
            blocked = blocked | ~key_mask[:, None, None, :]  # (B, 1, T, Tk)
        blocked = np.broadcast_to(blocked, (B, nh, T, Tk)).reshape(B * nh, T, Tk)  # a view when causal only
        p, y = np.empty((B * nh, T, Tk), q.dtype), np.empty((B * nh, T, hs), q.dtype)
        self.keep, dropout = None, ()
        if dropout_p > 0.0:
            self.keep = (rng.random(p.shape, dtype=np.float32) >= dropout_p).astype(p.dtype) / np.asarray(1 - dropout_p, dtype=p.dtype)
            dropout = (self.keep, np.empty_like(p))  # (keep, P ⊙ keep)
        rows(_attention_rows, qs, k, v, blocked, p, y, *dropout)  # heads in blocks, on all cores
        self.qs, self.k, self.v, self.p, self.y = qs, k, v, p, y
        self.pd = dropout[1] if dropout else p
        self.count_forward(q, p)
        return y.reshape(B, nh, T, hs)

    def backward(self, g):
        B, nh, T, hs = g.shape
        Tk = self.k.shape[1]
        g3 = g.reshape(B * nh, T, hs)
        dq, dk, dv = np.empty((B * nh, T, hs), g.dtype), np.empty((B * nh, Tk, hs), g.dtype), np.empty((B * nh, Tk, hs), g.dtype)
        extra = () if self.keep is None else (self.keep,)
        rows(_attention_backward_rows, g3, self.qs, self.k, self.v, self.p, self.pd, self.y, dq, dk, dv, *extra, scale=self.scale)
        self.count_backward(g, self.p)
        return dq.reshape(g.shape), dk.reshape(B, nh, Tk, hs), dv.reshape(B, nh, Tk, hs), None


def causal_self_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: np.ndarray | None = None, dropout_p: float = 0.0,
                          rng: np.random.Generator | None = None, training: bool = True) -> Tensor:  # fmt: skip
    """functional.causal_self_attention, blocked and threaded (same arguments)."""
    inputs, p = F.attention_inputs(q, k, v, key_mask, dropout_p, rng, training)
    return CausalSelfAttention.apply(*inputs, dropout_p=p, rng=rng)
