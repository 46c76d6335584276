"""Fused in-place row kernels: the speed layer's twins of softmax, cross-entropy, LayerNorm, GELU, linear.

Each maths-layer op (mediswift_np/functional/ops.py) writes its equation as whole-array
NumPy, which allocates a temporary for every intermediate and runs every pass on one
core over an array larger than the cache. Here the same equations are written as small
functions of one block of rows, ``_<op>_rows``, that write into preallocated outputs
(``np.multiply(..., out=)``, ``+=``); each op runs them through :func:`pool.rows`, on
all cores, one cache-sized block at a time, bit-identical to one call on the whole
array. Sums *across* rows (a bias or LayerNorm-gain gradient) stay outside, on the whole
array. Sums *along* a row (a softmax's normaliser, a LayerNorm's mean) go through
``_row_sum``, an einsum, faster than ``x.sum(axis=-1)`` on rows of 32-256 numbers (einsum
vectorises along the row; NumPy's reduction steps through a short last axis one row at a
time); a row of products (a variance) through ``_row_dot``, which skips the product's
temporary.

Each twin subclasses its maths op, so it counts the same FLOPs (the inherited ``flops``),
and replaces forward and backward. Results equal the maths layer's up to rounding: the
sums run in another order (tests/test_fast_ops.py states the tolerances).

Does not handle: anything the maths ops do not (see functional/ops.py).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from .pool import rows


def _row_sum(a: np.ndarray) -> np.ndarray:
    """Sum along the last axis, keeping it: (..., n) -> (..., 1).

    ``a.sum(axis=-1, keepdims=True)`` up to rounding (another summation order).
    """
    return np.einsum("...j->...", a)[..., None]


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_j a_j b_j along the last axis, keeping it: (..., n), (..., n) -> (..., 1).

    ``(a * b).sum(axis=-1, keepdims=True)`` up to rounding, in one pass without the a ⊙ b
    temporary.
    """
    return np.einsum("...j,...j->...", a, b)[..., None]


def _row_mean(a: np.ndarray) -> np.ndarray:
    """Mean along the last axis, keeping it: (..., n) -> (..., 1)."""
    return _row_sum(a) / a.shape[-1]


def _as_rows(a: np.ndarray) -> np.ndarray:
    """(..., n) -> (rows, n): a view of a C-contiguous array (outputs are made with np.empty)."""
    return a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)


def _is_transposed(a: np.ndarray) -> bool:
    """True for a Fortran-ordered 2-D view such as ``w.T`` of a C-contiguous ``w``."""
    return a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


class Linear(F.Linear):
    """F.Linear with dW made in W's memory layout: for a transposed view (the tied output
    layer uses wteᵀ) as (gᵀ x)ᵀ, so adding it to wte's other gradient is not a strided pass."""

    def backward(self, g):
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        flops = 2 * g2.shape[0] * self.w.shape[0] * self.w.shape[1]
        dx = dw = db = None
        if self.needs_grad[0]:
            dx = (g2 @ self.w.T).reshape(*g.shape[:-1], self.w.shape[0])
            self.count(flops, "matmul")
        if self.needs_grad[1]:
            dw = (g2.T @ self.x2).T if _is_transposed(self.w) else self.x2.T @ g2
            self.count(flops, "matmul")
        if self.has_bias and self.needs_grad[2]:
            db = g2.sum(axis=0)
            self.count(g2.size, "bias")
        return dx, dw, db


def _softmax_rows(x: np.ndarray, y: np.ndarray) -> None:
    """y = exp(x - max) / sum along the last axis, for a block of rows (y may be x).

    Rows that are all -inf give all zeros.
    """
    m = x.max(axis=-1, keepdims=True)
    np.maximum(m, np.finfo(m.dtype).min, out=m)  # a fully masked row: -inf - m = -inf, exp = 0, no NaN
    np.subtract(x, m, out=y)
    np.exp(y, out=y)
    s = _row_sum(y)  # ≥ 1 (the max gives exp(0) = 1), or 0 in a fully masked row
    np.maximum(s, np.finfo(s.dtype).tiny, out=s)  # 0 / tiny = 0: the masked row stays zero
    y /= s


def _softmax_backward_rows(y: np.ndarray, g: np.ndarray, dx: np.ndarray) -> None:
    """dx = y ⊙ (g - Σ_j g_j y_j) along the last axis, for a block of rows."""
    np.multiply(y, g - _row_dot(g, y), out=dx)


class Softmax(F.Softmax):
    def forward(self, x):
        self.y = np.empty(x.shape, x.dtype)
        rows(_softmax_rows, _as_rows(x), _as_rows(self.y))
        self.count(self.flops[0] * x.size, "softmax")
        return self.y

    def backward(self, g):
        dx = np.empty(g.shape, g.dtype)
        rows(_softmax_backward_rows, _as_rows(self.y), _as_rows(g), _as_rows(dx))
        self.count(self.flops[1] * g.size, "softmax")
        return (dx,)


def _cross_entropy_rows(z: np.ndarray, t: np.ndarray, p: np.ndarray, nll: np.ndarray) -> None:
    """For a block of rows of logits z (n, V) and targets t (n,): p = softmax(z), nll = -log p[t]."""
    np.subtract(z, z.max(axis=1, keepdims=True), out=p)  # shift by the row max (stability)
    target_logit = p[np.arange(len(t)), t]  # z[t] - max
    np.exp(p, out=p)
    s = p.sum(axis=1, keepdims=True)
    nll[:] = np.log(s[:, 0]) - target_logit  # -log softmax(z)[t] = log Σ exp(z - max) - (z[t] - max)
    p /= s  # keep the probabilities for backward


def _cross_entropy_backward_rows(p: np.ndarray, t: np.ndarray, scale: np.ndarray, d: np.ndarray) -> None:
    """d = (p - onehot(t)) · scale, row by row, for a block of rows."""
    np.multiply(p, scale[:, None], out=d)
    d[np.arange(len(t)), t] -= scale


class CrossEntropy(F.CrossEntropy):
    def forward(self, logits, targets, loss_mask=None):
        V = logits.shape[-1]
        z = logits.reshape(-1, V)  # (N, V)
        t = targets.reshape(-1)
        w = np.ones(t.shape, dtype=z.dtype) if loss_mask is None else loss_mask.reshape(-1).astype(z.dtype)
        n = w.sum()
        if n == 0:
            raise ValueError("cross_entropy: the loss mask selects no tokens")
        self.shape, self.t = logits.shape, t
        self.p, nll = np.empty(z.shape, z.dtype), np.empty(t.shape, z.dtype)  # (N, V), (N,)
        rows(_cross_entropy_rows, z, t, self.p, nll)
        self.w_over_n = w / n
        self.count(self.flops[0] * z.size, "cross_entropy")
        return np.asarray((nll * w).sum() / n, dtype=z.dtype)

    def backward(self, g):
        d = np.empty(self.p.shape, self.p.dtype)  # a new array: p stays intact for another backward()
        rows(_cross_entropy_backward_rows, self.p, self.t, self.w_over_n * g, d)
        self.count(self.flops[1] * d.size, "cross_entropy")
        return d.reshape(self.shape), None, None


def _layer_norm_rows(x, xhat, rstd, y, weight, bias, eps: float) -> None:
    """For a block of rows x (n, C): x̂ = (x - μ)·rstd, rstd = 1/√(σ² + eps), y = w ⊙ x̂ + b."""
    xc = np.subtract(x, _row_mean(x), out=xhat)  # x - μ, (n, C)
    var = _row_dot(xc, xc) / x.shape[-1]  # biased variance, (n, 1)
    rstd[:] = 1.0 / np.sqrt(var + eps)
    xhat *= rstd
    np.multiply(xhat, weight, out=y)
    y += bias


def _layer_norm_backward_rows(g, xhat, rstd, dx, weight) -> None:
    """dx = rstd · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ ⊙ x̂)) with dx̂ = g ⊙ w, for a block of rows."""
    dxhat = g * weight
    np.multiply(rstd, dxhat - _row_mean(dxhat) - xhat * (_row_dot(dxhat, xhat) / g.shape[-1]), out=dx)


class LayerNorm(F.LayerNorm):
    def forward(self, x, weight, bias, eps: float = 1e-5):
        self.xhat, y = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)  # (..., C)
        self.rstd = np.empty(x.shape[:-1] + (1,), dtype=x.dtype)  # (..., 1)
        rows(_layer_norm_rows, _as_rows(x), _as_rows(self.xhat), _as_rows(self.rstd), _as_rows(y), weight=weight, bias=bias, eps=eps)
        self.weight = weight
        self.count(self.flops[0] * x.size, "layernorm")
        return y

    def backward(self, g):
        g2, xhat = _as_rows(g), _as_rows(self.xhat)  # (N, C)
        db = g2.sum(axis=0)  # sums across rows: on the whole array
        dw = np.einsum("nc,nc->c", g2, xhat)  # Σ_rows g ⊙ x̂, without the (N, C) temporary
        dx = np.empty(g.shape, g.dtype)
        rows(_layer_norm_backward_rows, g2, xhat, _as_rows(self.rstd), _as_rows(dx), weight=self.weight)
        self.count(self.flops[1] * g.size, "layernorm")
        return dx, dw, db


def _gelu_rows(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
    """t = tanh(√(2/π)(x + 0.044715 x³)) and y = ½x(1 + t), for a block of rows."""
    np.multiply(x, x, out=t)  # x²
    t *= x  # x³
    t *= F.GELU_A
    t += x
    t *= F.GELU_C
    np.tanh(t, out=t)
    np.add(t, 1.0, out=y)
    y *= x
    y *= 0.5


def _gelu_backward_rows(x: np.ndarray, t: np.ndarray, g: np.ndarray, d: np.ndarray) -> None:
    """d = g · [½(1+t) + ½x(1-t²)·√(2/π)(1 + 3·0.044715·x²)], for a block of rows."""
    np.multiply(x, x, out=d)
    d *= 3 * F.GELU_A
    d += 1.0
    d *= F.GELU_C
    d *= 1.0 - t * t
    d *= x
    d += 1.0 + t
    d *= 0.5
    d *= g


class GELU(F.GELU):
    def forward(self, x):
        self.x, self.t, y = x, np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
        rows(_gelu_rows, _as_rows(x), _as_rows(self.t), _as_rows(y))
        self.count(self.flops[0] * x.size, "gelu")
        return y

    def backward(self, g):
        d = np.empty(g.shape, g.dtype)
        rows(_gelu_backward_rows, _as_rows(self.x), _as_rows(self.t), _as_rows(g), _as_rows(d))
        self.count(self.flops[1] * g.size, "gelu")
        return (d,)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)


def softmax(x: Tensor) -> Tensor:
    return Softmax.apply(x)


def cross_entropy(logits: Tensor, targets, loss_mask=None) -> Tensor:
    return CrossEntropy.apply(*F.cross_entropy_inputs(logits, targets, loss_mask))


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    return LayerNorm.apply(x, weight, bias, eps=eps)


def gelu(x: Tensor) -> Tensor:
    return GELU.apply(x)
