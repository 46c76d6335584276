"""Fused ops with closed-form backward passes: the building blocks of the GPT.

Composing softmax or LayerNorm from primitive ops works (``tests/test_functional.py``
does exactly that as the slow reference), but each primitive allocates its own
temporaries and records its own graph node. Here each op is one ``Function`` whose
backward is the derivative worked out by hand, written beside the forward:

    linear                 y = x W + b           (GPT-2 "Conv1D" layout: W is (in, out))
    softmax, log_softmax   along the last axis, shifted by the row max for stability
    cross_entropy          mean over the tokens selected by a loss mask (Eq. 1 / Eq. 3)
    layer_norm             closed-form backward (see LayerNorm.backward)
    gelu                   tanh approximation (GPT-2 / GPT-3)
    dropout                inverted dropout from an explicit np.random.Generator
    causal_self_attention  softmax(q k^T / sqrt(hs) + causal mask) v, fused, one block of
                           queries at a time, skipping the keys the mask hides from it

Shapes use B batch, T time, C channels, nh heads, hs head size, V vocab.

The elementwise and row-wise work (softmax, cross-entropy, LayerNorm, GELU) is written
as small functions of one block of rows, ``_<op>_rows``, which each op runs through
:func:`mediswift_np.parallel.rows`: on all cores, one cache-sized block at a time, with
results bit-identical to calling the function once on the whole array. Sums *across*
rows (a bias or LayerNorm-gain gradient) stay outside, on the whole array. Sums *along*
a row (a softmax's normaliser, a LayerNorm's mean) go through ``_row_sum``, an einsum,
2-4× faster than ``x.sum(axis=-1)`` on rows of 32-256 numbers; a row of products
(a variance, attention's D) through ``_row_dot``, which skips the product's temporary.

Does not handle: attention masks other than causal + optional key padding; softmax over
an axis other than the last.
"""

from __future__ import annotations

import math

import numpy as np

from .autograd import Function, Tensor
from .parallel import rows


class Linear(Function):
    def forward(self, x, w, b=None):
        self.x2 = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
        self.w, self.has_bias = w, b is not None
        y = self.x2 @ w  # (N, in) @ (in, out) -> (N, out)
        self.count(2 * y.shape[0] * w.shape[0] * w.shape[1], "matmul")
        if b is not None:
            y += b
            self.count(y.size, "bias")
        return y.reshape(*x.shape[:-1], w.shape[1])

    def backward(self, g):
        """dx = g W^T, dW = x^T g, db = sum of g over all tokens."""
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        flops = 2 * g2.shape[0] * self.w.shape[0] * self.w.shape[1]
        dx = dw = db = None
        if self.needs_grad[0]:
            dx = (g2 @ self.w.T).reshape(*g.shape[:-1], self.w.shape[0])
            self.count(flops, "matmul")
        if self.needs_grad[1]:
            # dW = xᵀ g, made in W's memory layout: for a transposed view (the tied output layer
            # uses wteᵀ) as (gᵀ x)ᵀ, so adding it to wte's other gradient is not a strided pass
            dw = (g2.T @ self.x2).T if _is_transposed(self.w) else self.x2.T @ g2
            self.count(flops, "matmul")
        if self.has_bias and self.needs_grad[2]:
            db = g2.sum(axis=0)
            self.count(g2.size, "bias")
        return dx, dw, db


def _is_transposed(a: np.ndarray) -> bool:
    """True for a Fortran-ordered 2-D view such as ``w.T`` of a C-contiguous ``w``."""
    return a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight + bias`` with ``weight`` of shape (in, out)."""
    return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)


def _row_sum(a: np.ndarray) -> np.ndarray:
    """Sum along the last axis, keeping it: (..., n) -> (..., 1).

    ``a.sum(axis=-1, keepdims=True)`` up to rounding (another summation order), and
    2-4× faster for short rows (n = 32 ... 256): einsum's sum loop is vectorised along
    the row; NumPy's reduction steps through a short last axis one row at a time.
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


def _as_rows(a: np.ndarray) -> np.ndarray:
    """(..., n) -> (rows, n): a view of a C-contiguous array (outputs are made with np.empty)."""
    return a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)


class Softmax(Function):
    def forward(self, x):
        self.y = np.empty(x.shape, x.dtype)
        rows(_softmax_rows, _as_rows(x), _as_rows(self.y))
        self.count(4 * x.size, "softmax")  # x - max, exp, sum, divide
        return self.y

    def backward(self, g):
        """dy_i/dx_j = y_i (δ_ij - y_j), so dx = y ⊙ (g - Σ_j g_j y_j)."""
        dx = np.empty(g.shape, g.dtype)
        rows(_softmax_backward_rows, _as_rows(self.y), _as_rows(g), _as_rows(dx))
        self.count(4 * g.size, "softmax")  # g*y, sum, subtract, *y
        return (dx,)


class LogSoftmax(Function):
    def forward(self, x):
        m = x.max(axis=-1, keepdims=True)
        z = x - m
        lse = np.log(np.exp(z).sum(axis=-1, keepdims=True))
        self.out = z - lse
        self.count(5 * x.size, "softmax")  # x - max, exp, sum, (log per row), subtract
        return self.out

    def backward(self, g):
        """d log_softmax(x)_i / dx_j = δ_ij - softmax(x)_j, so dx = g - softmax(x) Σ g."""
        self.count(4 * g.size, "softmax")  # exp(out), sum g, *, subtract
        return (g - np.exp(self.out) * g.sum(axis=-1, keepdims=True),)


def softmax(x: Tensor) -> Tensor:
    """Softmax along the last axis (numerically stable; all -inf rows give zeros)."""
    return Softmax.apply(x)


def log_softmax(x: Tensor) -> Tensor:
    """log(softmax(x)) along the last axis, computed as (x - max) - log Σ exp(x - max)."""
    return LogSoftmax.apply(x)


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


class CrossEntropy(Function):
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
        self.count(5 * z.size, "cross_entropy")  # -max, exp, sum, /s, (+ per row log, gather)
        return np.asarray((nll * w).sum() / n, dtype=z.dtype)

    def backward(self, g):
        """d loss / d z_i = (softmax(z_i) - onehot(t_i)) · mask_i / Σ mask  (times g)."""
        d = np.empty(self.p.shape, self.p.dtype)  # a new array: p stays intact for another backward()
        rows(_cross_entropy_backward_rows, self.p, self.t, self.w_over_n * g, d)
        self.count(2 * d.size, "cross_entropy")
        return d.reshape(self.shape), None, None


def cross_entropy(logits: Tensor, targets, loss_mask=None) -> Tensor:
    """Mean next-token negative log-likelihood (paper Eq. 1; Eq. 3 with a target-only mask).

    ``logits`` (..., V), ``targets`` integer array (...); ``loss_mask`` (...) of 0/1 selects
    which tokens count (e.g. only the target tokens in fine-tuning). The mean is over the
    selected tokens.
    """
    targets = Tensor(np.asarray(targets.data if isinstance(targets, Tensor) else targets))
    if loss_mask is None:
        return CrossEntropy.apply(logits, targets)
    mask = Tensor(np.asarray(loss_mask.data if isinstance(loss_mask, Tensor) else loss_mask))
    return CrossEntropy.apply(logits, targets, mask)


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


class LayerNorm(Function):
    def forward(self, x, weight, bias, eps: float = 1e-5):
        self.xhat, y = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)  # (..., C)
        self.rstd = np.empty(x.shape[:-1] + (1,), dtype=x.dtype)  # (..., 1)
        rows(_layer_norm_rows, _as_rows(x), _as_rows(self.xhat), _as_rows(self.rstd), _as_rows(y), weight=weight, bias=bias, eps=eps)
        self.weight = weight
        self.count(7 * x.size, "layernorm")  # mean, -mu, square, mean, *rstd, *w, +b
        return y

    def backward(self, g):
        """With x̂ = (x - μ)·rstd and y = w ⊙ x̂ + b, per row of C features:

        db = Σ_rows g,  dw = Σ_rows g ⊙ x̂,  and with dx̂ = g ⊙ w,
        dx = rstd · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ ⊙ x̂)).
        The two means come from μ and rstd depending on every x in the row.
        """
        g2, xhat = _as_rows(g), _as_rows(self.xhat)  # (N, C)
        db = g2.sum(axis=0)  # sums across rows: on the whole array
        dw = np.einsum("nc,nc->c", g2, xhat)  # Σ_rows g ⊙ x̂, without the (N, C) temporary
        dx = np.empty(g.shape, g.dtype)
        rows(_layer_norm_backward_rows, g2, xhat, _as_rows(self.rstd), _as_rows(dx), weight=self.weight)
        self.count(11 * g.size, "layernorm")  # db, dw (2), dx̂, mean, dx̂·x̂, mean, x̂·m, two -, *rstd
        return dx, dw, db


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last axis (Ba et al. 2016), biased variance, eps inside the sqrt."""
    return LayerNorm.apply(x, weight, bias, eps=eps)


_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def _gelu_rows(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
    """t = tanh(√(2/π)(x + 0.044715 x³)) and y = ½x(1 + t), for a block of rows."""
    np.multiply(x, x, out=t)  # x²
    t *= x  # x³
    t *= _GELU_A
    t += x
    t *= _GELU_C
    np.tanh(t, out=t)
    np.add(t, 1.0, out=y)
    y *= x
    y *= 0.5


def _gelu_backward_rows(x: np.ndarray, t: np.ndarray, g: np.ndarray, d: np.ndarray) -> None:
    """d = g · [½(1+t) + ½x(1-t²)·√(2/π)(1 + 3·0.044715·x²)], for a block of rows."""
    np.multiply(x, x, out=d)
    d *= 3 * _GELU_A
    d += 1.0
    d *= _GELU_C
    d *= 1.0 - t * t
    d *= x
    d += 1.0 + t
    d *= 0.5
    d *= g


class GELU(Function):
    def forward(self, x):
        self.x, self.t, y = x, np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
        rows(_gelu_rows, _as_rows(x), _as_rows(self.t), _as_rows(y))
        self.count(9 * x.size, "gelu")  # x², x³, ·a, +x, ·c, tanh, +1, ·x, ·0.5
        return y

    def backward(self, g):
        """d/dx [½x(1+t)] = ½(1+t) + ½x(1-t²)·√(2/π)(1 + 3·0.044715·x²)."""
        d = np.empty(g.shape, g.dtype)
        rows(_gelu_backward_rows, _as_rows(self.x), _as_rows(self.t), _as_rows(g), _as_rows(d))
        self.count(12 * g.size, "gelu")
        return (d,)


def gelu(x: Tensor) -> Tensor:
    """GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (Hendrycks & Gimpel)."""
    return GELU.apply(x)


class Dropout(Function):
    def forward(self, x, p: float, rng: np.random.Generator):
        keep = rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32) >= p
        self.scale = keep.astype(x.dtype) / np.asarray(1.0 - p, dtype=x.dtype)  # 0 or 1/(1-p)
        self.count(x.size, "dropout")
        return x * self.scale

    def backward(self, g):
        """Dropped units pass no gradient; kept ones pass g/(1-p)."""
        self.count(g.size, "dropout")
        return (g * self.scale,)


def dropout(x: Tensor, p: float, rng: np.random.Generator | None, training: bool = True) -> Tensor:
    """Inverted dropout: zero each unit with probability p and scale the rest by 1/(1-p).

    Identity when ``p == 0`` or not ``training`` (evaluation), so eval needs no rng.
    """
    if not training or p == 0.0:
        return x
    if rng is None:
        raise ValueError("dropout with p > 0 in training mode needs an np.random.Generator")
    return Dropout.apply(x, p=p, rng=rng)


def causal_mask(Tq: int, Tk: int | None = None) -> np.ndarray:
    """(Tq, Tk) bool, True where a query may NOT look: keys after the query's position.

    With Tk > Tq (cached keys of earlier tokens, see model.KVCache) the queries are the
    last Tq positions, so query i sits at position Tk - Tq + i.
    """
    Tk = Tq if Tk is None else Tk
    return np.triu(np.ones((Tq, Tk), dtype=bool), k=1 + Tk - Tq)


QUERY_BLOCK = 128  # query rows per attention block (see causal_blocks)


def causal_blocks(T: int, Tk: int) -> list[tuple[int, int, int]]:
    """Cut T queries into blocks (i, j, e): query rows i:j may see keys 0:e and no further.

    Query row r sits at position Tk - T + r, so the last row of a block sees keys up to
    e = Tk - T + j. Everything right of column e is masked for the whole block: attention
    never computes those scores (for T = Tk = 1024 and blocks of 128 rows, 56 % of the
    T × T matrix is computed instead of 100 %). Inside a block, the scores of keys after
    a row's own position are still masked with -inf.

    Why 128 rows: each block costs a few NumPy and BLAS calls per head, and small blocks
    make small, slow products. Measured (forward + backward, 2 cores): at T = 1024,
    blocks of 128 take 0.7-0.77× the time of one whole-T block; at T = 256 they take the
    same time as one block, while blocks of 64 take 1.3× longer.

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
    """For a block of b heads: dv, dq, dk as derived in CausalSelfAttention.backward.

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


class CausalSelfAttention(Function):
    def forward(self, q, k, v, key_mask=None, dropout_p: float = 0.0, rng=None):
        B, nh, T, hs = q.shape  # q: (B, nh, T, hs); k, v: (B, nh, Tk, hs), Tk ≥ T with cached keys
        Tk = k.shape[2]
        self.scale = np.asarray(1.0 / math.sqrt(hs), dtype=q.dtype)
        qs = (q * self.scale).reshape(B * nh, T, hs)  # fold 1/√hs into q: (B,nh,T,hs) is smaller than (B,nh,T,T)
        k, v = k.reshape(B * nh, Tk, hs), v.reshape(B * nh, Tk, hs)  # heads side by side: (B·nh, Tk, hs)
        blocked = causal_mask(T, Tk)  # (T, Tk)
        if key_mask is not None:  # (B, Tk) True = a real token that may be attended to; already bool
            blocked = blocked | ~key_mask[:, None, None, :]  # (B, 1, T, Tk)
        blocked = np.broadcast_to(blocked, (B, nh, T, Tk)).reshape(B * nh, T, Tk)  # a view when causal only
        p, y = np.empty((B * nh, T, Tk), q.dtype), np.empty((B * nh, T, hs), q.dtype)
        dropout = ()
        if dropout_p > 0.0:
            keep = (rng.random(p.shape, dtype=np.float32) >= dropout_p).astype(p.dtype) / np.asarray(1 - dropout_p, dtype=p.dtype)
            dropout = (keep, np.empty_like(p))  # (keep, P ⊙ keep)
        rows(_attention_rows, qs, k, v, blocked, p, y, *dropout)  # heads in blocks, on all cores
        self.qs, self.k, self.v, self.p, self.y, self.dropout = qs, k, v, p, y, dropout
        mm = 2 * B * nh * T * Tk * hs  # one (T, Tk, hs) matmul per head
        self.count(q.size, "elementwise", "scale")
        self.count(mm, "matmul", "logits")
        self.count(4 * p.size, "softmax", "softmax")  # x - max, exp, sum, divide
        if dropout_p > 0.0:
            self.count(p.size, "dropout", "softmax")
        self.count(mm, "matmul", "values")
        return y.reshape(B, nh, T, hs)

    def backward(self, g):
        """With S = q kᵀ/√hs, P = softmax(S) (causal), y = P v:

        dv = Pᵀ g,   dP = g vᵀ,   dS = P ⊙ (dP - D),   dq = dS k/√hs,   dk = dSᵀ q/√hs,

        where D_i = Σ_j dP_ij P_ij is the softmax backward's row sum. Since
        Σ_j (g_i · v_j) P_ij = g_i · (Σ_j P_ij v_j) = g_i · y_i, D is a dot product of
        two (T, hs) rows instead of a pass over the (T, T) matrix (the same identity
        FlashAttention uses; it holds with dropout too). Masked entries have P = 0, so
        dS = 0 there. With dropout, P ⊙ keep replaces P in dv, and dP is multiplied by keep.
        Each block of heads runs all of it (_attention_backward_rows), one query block at a
        time, so dP and dS exist only one small block at a time.

        FLOPs: the counts below are the full T × Tk products of the analytic formula
        (Hoffmann et al. App. F), as for a dense model. The code skips the key columns the
        causal mask hides from a whole query block (causal_blocks) and so executes fewer,
        about (T + QUERY_BLOCK) / 2T of them when T = Tk.
        """
        B, nh, T, hs = g.shape
        Tk = self.k.shape[1]
        g3 = g.reshape(B * nh, T, hs)
        dq, dk, dv = np.empty((B * nh, T, hs), g.dtype), np.empty((B * nh, Tk, hs), g.dtype), np.empty((B * nh, Tk, hs), g.dtype)
        keep, pd = self.dropout if self.dropout else (None, self.p)
        extra = () if keep is None else (keep,)
        rows(_attention_backward_rows, g3, self.qs, self.k, self.v, self.p, pd, self.y, dq, dk, dv, *extra, scale=self.scale)
        mm = 2 * B * nh * T * Tk * hs
        self.count(2 * mm, "matmul", "values")  # dv, dP
        if keep is not None:
            self.count(self.p.size, "dropout", "softmax")
        self.count(2 * g.size + 2 * self.p.size, "softmax", "softmax")  # D (g·y, sum), dP - D, ·P
        self.count(2 * mm, "matmul", "logits")  # dq, dk
        self.count(dq.size, "elementwise", "scale")
        return dq.reshape(g.shape), dk.reshape(B, nh, Tk, hs), dv.reshape(B, nh, Tk, hs), None


def causal_self_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_mask: np.ndarray | None = None,
    dropout_p: float = 0.0,
    rng: np.random.Generator | None = None,
    training: bool = True,
) -> Tensor:
    """Fused causal attention softmax(q kᵀ/√hs + mask) v for q, k, v of shape (B, nh, T, hs).

    k and v may be longer than q (Tk > T: keys of earlier tokens from a KV cache).
    ``key_mask`` (B, Tk), optional: False marks padding that no query may attend to.
    FLOPs are recorded under the sub-scopes ``logits``, ``softmax`` and ``values``, the
    names of the analytic terms (Hoffmann et al. App. F), and ``scale`` (q/√hs, which
    the analytic formula leaves out).
    """
    p = dropout_p if training else 0.0
    if p > 0.0 and rng is None:
        raise ValueError("attention dropout needs an np.random.Generator")
    inputs = [q, k, v] if key_mask is None else [q, k, v, Tensor(np.asarray(key_mask, dtype=bool))]
    return CausalSelfAttention.apply(*inputs, dropout_p=p, rng=rng)


def causal_self_attention_reference(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """The same attention from primitive ops: the slow, obvious path the tests compare with."""
    T, hs = q.shape[-2], q.shape[-1]
    att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hs))  # (B, nh, T, T); the constant takes q's dtype
    att = att.masked_fill(causal_mask(T), -np.inf)
    return softmax(att) @ v  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, nh, T, hs)
