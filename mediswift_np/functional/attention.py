"""Causal multi-head self-attention, softmax(q kᵀ/√hs + M) v, with its hand-derived backward.

The whole (T, Tk) matrix of scores is computed, masked and normalised, as the equation
reads (Vaswani et al. 2017, Eq. 1; M = -∞ above the diagonal). Shapes use B batch,
T queries, Tk keys (Tk > T with a KV cache), nh heads, hs head size.

Does not handle: attention masks other than causal + optional key padding.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, Tensor
from .ops import constant, stable_softmax


def causal_mask(Tq: int, Tk: int | None = None) -> np.ndarray:
    """(Tq, Tk) bool, True where a query may NOT look: keys after the query's position.

    With Tk > Tq (cached keys of earlier tokens, see model.KVCache) the queries are the
    last Tq positions, so query i sits at position Tk - Tq + i.
    """
    Tk = Tq if Tk is None else Tk
    return np.triu(np.ones((Tq, Tk), dtype=bool), k=1 + Tk - Tq)


class CausalSelfAttention(Function):
    softmax_flops = (4, 2)  # per score: x - max, exp, sum, divide; backward dP - D, ·P (+ 2 per element of g for D)

    def forward(self, q, k, v, key_mask=None, dropout_p: float = 0.0, rng=None):
        B, nh, T, hs = q.shape  # q: (B, nh, T, hs); k, v: (B, nh, Tk, hs), Tk ≥ T with cached keys
        hidden = causal_mask(T, k.shape[2])  # (T, Tk): where M = -∞
        if key_mask is not None:  # (B, Tk), True = a real token that may be attended to
            hidden = hidden | ~key_mask[:, None, None, :]  # (B, 1, T, Tk): padding is hidden from every query
        self.scale = np.asarray(1.0 / math.sqrt(hs), dtype=q.dtype)
        self.qs = q * self.scale  # q/√hs: scaling q (T·hs numbers) gives the same S as scaling S (T·Tk)
        s = self.qs @ k.swapaxes(-1, -2)  # S = q kᵀ/√hs: (B, nh, T, hs) @ (B, nh, hs, Tk) -> (B, nh, T, Tk)
        self.p = stable_softmax(np.where(hidden, -np.inf, s))  # P = softmax(S + M)
        self.keep = None
        if dropout_p > 0.0:  # 0 or 1/(1-p) per attention weight
            self.keep = (rng.random(self.p.shape, dtype=np.float32) >= dropout_p).astype(q.dtype) / np.asarray(1 - dropout_p, dtype=q.dtype)
        self.pd = self.p if self.keep is None else self.p * self.keep  # P, or P ⊙ keep with dropout
        self.k, self.v = k, v
        self.y = self.pd @ v  # y = P v: (B, nh, T, Tk) @ (B, nh, Tk, hs) -> (B, nh, T, hs)
        self.count_forward(q, self.p)
        return self.y

    def backward(self, g):
        """With S = q kᵀ/√hs, P = softmax(S + M), y = P v:

        dv = Pᵀ g,   dP = g vᵀ,   dS = P ⊙ (dP - D),   dq = dS k/√hs,   dk = dSᵀ q/√hs,

        where D_i = Σ_j dP_ij P_ij is the softmax backward's row sum. Since
        Σ_j (g_i · v_j) P_ij = g_i · (Σ_j P_ij v_j) = g_i · y_i, D is a dot product of two
        (T, hs) rows instead of a pass over the (T, Tk) matrix (the identity FlashAttention
        uses; it holds with dropout too). Masked entries have P = 0, so dS = 0 there. With
        dropout, P ⊙ keep replaces P in dv, and dP is multiplied by keep.
        """
        dv = self.pd.swapaxes(-1, -2) @ g  # Pᵀ g: (B, nh, Tk, T) @ (B, nh, T, hs)
        dp = g @ self.v.swapaxes(-1, -2)  # dP = g vᵀ: (B, nh, T, hs) @ (B, nh, hs, Tk)
        if self.keep is not None:
            dp *= self.keep  # through the dropout
        D = (g * self.y).sum(axis=-1, keepdims=True)  # D_i = g_i · y_i, (B, nh, T, 1)
        ds = self.p * (dp - D)  # dS = P ⊙ (dP - D)
        dq = (ds @ self.k) * self.scale  # dS k/√hs: (B, nh, T, Tk) @ (B, nh, Tk, hs)
        dk = ds.swapaxes(-1, -2) @ self.qs  # dSᵀ q/√hs: (B, nh, Tk, T) @ (B, nh, T, hs)
        self.count_backward(g, self.p)
        return dq, dk, dv, None

    def count_forward(self, q, p) -> None:
        """Forward FLOPs, under the analytic terms' names (Hoffmann et al. App. F): logits, softmax, values;
        scale (q/√hs) is left out by the formula."""
        mm = 2 * p.size * q.shape[-1]  # one (T, hs) @ (hs, Tk) product per head: 2·T·Tk·hs
        self.count(q.size, "elementwise", "scale")
        self.count(mm, "matmul", "logits")
        self.count(self.softmax_flops[0] * p.size, "softmax", "softmax")
        if self.keep is not None:
            self.count(p.size, "dropout", "softmax")
        self.count(mm, "matmul", "values")

    def count_backward(self, g, p) -> None:
        """Backward FLOPs: two products per forward product (dv, dP; dq, dk), the softmax backward and D."""
        mm = 2 * p.size * g.shape[-1]
        self.count(2 * mm, "matmul", "values")  # dv, dP
        if self.keep is not None:
            self.count(p.size, "dropout", "softmax")
        self.count(2 * g.size + self.softmax_flops[1] * p.size, "softmax", "softmax")  # D (g·y, sum), dP - D, ·P
        self.count(2 * mm, "matmul", "logits")  # dq, dk
        self.count(g.size, "elementwise", "scale")


def attention_inputs(q, k, v, key_mask, dropout_p: float, rng, training: bool) -> tuple[list[Tensor], float]:
    """The inputs of ``CausalSelfAttention.apply`` and the dropout probability in effect."""
    p = dropout_p if training else 0.0
    if p > 0.0 and rng is None:
        raise ValueError("attention dropout needs an np.random.Generator")
    return ([q, k, v] if key_mask is None else [q, k, v, constant(key_mask, bool)]), p


def causal_self_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: np.ndarray | None = None, dropout_p: float = 0.0,
                          rng: np.random.Generator | None = None, training: bool = True) -> Tensor:  # fmt: skip
    """softmax(q kᵀ/√hs + M) v for q, k, v of shape (B, nh, T, hs) (Vaswani et al. 2017, Eq. 1).

    k and v may be longer than q (Tk > T: keys of earlier tokens from a KV cache).
    ``key_mask`` (B, Tk), optional: False marks padding that no query may attend to.
    FLOPs are recorded under the sub-scopes ``logits``, ``softmax`` and ``values``, the
    names of the analytic terms (Hoffmann et al. App. F), and ``scale`` (q/√hs, which
    the analytic formula leaves out).
    """
    inputs, p = attention_inputs(q, k, v, key_mask, dropout_p, rng, training)
    return CausalSelfAttention.apply(*inputs, dropout_p=p, rng=rng)
