"""Linear, softmax, cross-entropy, LayerNorm, GELU and dropout: forward and backward side by side.

Each op is one ``Function``: a forward in whole-array NumPy, one line per equation, and
the backward its derivative worked out by hand, stated in its docstring. The per-element
FLOP costs of an op are its class attribute ``flops = (forward, backward)`` (the counting
rules are in autograd/counter.py): the one place they are written.

Shapes use C channels, V vocab; N is the number of rows of an array flattened to (N, C).

Does not handle: softmax over an axis other than the last.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, Tensor


def constant(a, dtype=None) -> Tensor:
    """An array argument (token ids, a loss mask, a key mask) as a Tensor that needs no gradient."""
    return Tensor(np.asarray(a.data if isinstance(a, Tensor) else a, dtype=dtype))


class Linear(Function):
    def forward(self, x, w, b=None):
        self.x2, self.w, self.has_bias = x.reshape(-1, x.shape[-1]), w, b is not None  # (..., in) -> (N, in)
        y = self.x2 @ w  # (N, in) @ (in, out) -> (N, out)
        self.count(2 * y.shape[0] * w.shape[0] * w.shape[1], "matmul")
        if b is not None:
            y += b
            self.count(y.size, "bias")
        return y.reshape(*x.shape[:-1], w.shape[1])

    def backward(self, g):
        """dx = g Wᵀ, dW = xᵀ g, db = sum of g over all tokens."""
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        flops = 2 * g2.shape[0] * self.w.shape[0] * self.w.shape[1]
        dx = dw = db = None
        if self.needs_grad[0]:
            dx = (g2 @ self.w.T).reshape(*g.shape[:-1], self.w.shape[0])  # (N, out) @ (out, in)
            self.count(flops, "matmul")
        if self.needs_grad[1]:
            dw = self.x2.T @ g2  # (in, N) @ (N, out)
            self.count(flops, "matmul")
        if self.has_bias and self.needs_grad[2]:
            db = g2.sum(axis=0)
            self.count(g2.size, "bias")
        return dx, dw, db


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight + bias`` with ``weight`` of shape (in, out)."""
    return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)


def stable_softmax(x: np.ndarray) -> np.ndarray:
    """exp(x - max) / Σ exp(x - max) along the last axis; a row that is all -inf gives zeros."""
    m = np.maximum(x.max(axis=-1, keepdims=True), np.finfo(x.dtype).min)  # all -inf: -inf - min = -inf, exp = 0, no NaN
    e = np.exp(x - m)  # shifted by the row max: every e <= 1, so exp never overflows
    return e / np.maximum(e.sum(axis=-1, keepdims=True), np.finfo(x.dtype).tiny)  # 0 / tiny = 0: a masked row stays 0


class Softmax(Function):
    flops = (4, 4)  # per element: x - max, exp, sum, divide; backward g·y, sum, subtract, ·y

    def forward(self, x):
        self.y = stable_softmax(x)
        self.count(self.flops[0] * x.size, "softmax")
        return self.y

    def backward(self, g):
        """dy_i/dx_j = y_i (δ_ij - y_j), so dx = y ⊙ (g - Σ_j g_j y_j)."""
        self.count(self.flops[1] * g.size, "softmax")
        return (self.y * (g - (g * self.y).sum(axis=-1, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x):
        z = x - x.max(axis=-1, keepdims=True)
        self.out = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # log softmax = (x - max) - log Σ exp(x - max)
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


class CrossEntropy(Function):
    flops = (5, 2)  # per logit: -max, exp, sum, /s (+ per row log, gather); backward (p - onehot)·w/n

    def forward(self, logits, targets, loss_mask=None):
        V = logits.shape[-1]
        z, t = logits.reshape(-1, V), targets.reshape(-1)  # (N, V), (N,)
        w = np.ones(t.shape, z.dtype) if loss_mask is None else loss_mask.reshape(-1).astype(z.dtype)  # (N,)
        n = w.sum()
        if n == 0:
            raise ValueError("cross_entropy: the loss mask selects no tokens")
        zs = z - z.max(axis=1, keepdims=True)  # shift by the row max (stability)
        e = np.exp(zs)
        s = e.sum(axis=1)  # Σ_v exp(z_v - max), (N,)
        nll = np.log(s) - zs[np.arange(len(t)), t]  # -log softmax(z)[t] = log Σ exp(z - max) - (z[t] - max)
        self.p, self.t, self.w_over_n, self.shape = e / s[:, None], t, w / n, logits.shape  # p = softmax(z), for backward
        self.count(self.flops[0] * z.size, "cross_entropy")
        return np.asarray((nll * w).sum() / n, dtype=z.dtype)  # mean over the selected tokens

    def backward(self, g):
        """d loss / d z_i = (softmax(z_i) - onehot(t_i)) · mask_i / Σ mask  (times g)."""
        d = self.p.copy()  # a copy: p stays intact for another backward()
        d[np.arange(len(self.t)), self.t] -= 1.0  # softmax(z) - onehot(t)
        self.count(self.flops[1] * d.size, "cross_entropy")
        return (d * (self.w_over_n * g)[:, None]).reshape(self.shape), None, None


def cross_entropy_inputs(logits: Tensor, targets, loss_mask=None) -> list[Tensor]:
    """The inputs of ``CrossEntropy.apply``: the logits, then the targets (and the mask) as constants."""
    return [logits, constant(targets)] + ([] if loss_mask is None else [constant(loss_mask)])


def cross_entropy(logits: Tensor, targets, loss_mask=None) -> Tensor:
    """Mean next-token negative log-likelihood (paper Eq. 1; Eq. 3 with a target-only mask).

    ``logits`` (..., V), ``targets`` integer array (...); ``loss_mask`` (...) of 0/1 selects
    which tokens count (e.g. only the target tokens in fine-tuning). The mean is over the
    selected tokens.
    """
    return CrossEntropy.apply(*cross_entropy_inputs(logits, targets, loss_mask))


class LayerNorm(Function):
    flops = (7, 11)  # per element: mean, x - μ, square, mean, ·rstd, ·w, + b; backward see the docstring

    def forward(self, x, weight, bias, eps: float = 1e-5):
        mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased variance σ², (..., 1)
        self.rstd = 1.0 / np.sqrt(var + eps)  # 1/√(σ² + eps), (..., 1)
        self.xhat = (x - mu) * self.rstd  # x̂ = (x - μ)/√(σ² + eps), (..., C)
        self.weight = weight
        self.count(self.flops[0] * x.size, "layernorm")
        return weight * self.xhat + bias  # y = w ⊙ x̂ + b  (Ba et al. 2016)

    def backward(self, g):
        """With x̂ = (x - μ)·rstd and y = w ⊙ x̂ + b, per row of C features:

        db = Σ_rows g,  dw = Σ_rows g ⊙ x̂,  and with dx̂ = g ⊙ w,
        dx = rstd · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ ⊙ x̂)).

        Derivation: x̂_i depends on x_j directly (rstd δ_ij) and through μ (-rstd/C) and
        rstd (∂rstd/∂x_j = -rstd³ (x_j - μ)/C = -rstd² x̂_j / C), so
        ∂x̂_i/∂x_j = rstd (δ_ij - 1/C - x̂_i x̂_j / C). Summing dx̂_i times it over i gives
        the line above. FLOPs: db, dw (2), dx̂, mean, dx̂ ⊙ x̂, mean, x̂ · m, two -, ·rstd.
        """
        C = g.shape[-1]
        dxhat = g * self.weight  # (..., C)
        dx = self.rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True) - self.xhat * (dxhat * self.xhat).mean(axis=-1, keepdims=True))
        dw = (g * self.xhat).reshape(-1, C).sum(axis=0)  # Σ over every row: (N, C) -> (C,)
        db = g.reshape(-1, C).sum(axis=0)
        self.count(self.flops[1] * g.size, "layernorm")
        return dx, dw, db


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last axis (Ba et al. 2016), biased variance, eps inside the sqrt."""
    return LayerNorm.apply(x, weight, bias, eps=eps)


GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


class GELU(Function):
    flops = (9, 12)  # per element: x², x³, ·a, +x, ·c, tanh, +1, ·x, ·½; backward the 12 of its formula

    def forward(self, x):
        self.x = x
        self.t = np.tanh(GELU_C * (x + GELU_A * (x * x * x)))  # t = tanh(√(2/π)(x + 0.044715 x³))
        self.count(self.flops[0] * x.size, "gelu")
        return 0.5 * x * (1.0 + self.t)  # GELU(x) ≈ ½x(1 + t)  (Hendrycks & Gimpel 2016)

    def backward(self, g):
        """d/dx [½x(1+t)] = ½(1+t) + ½x(1-t²)·√(2/π)(1 + 3·0.044715·x²)."""
        x, t = self.x, self.t
        self.count(self.flops[1] * g.size, "gelu")
        return (g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x)),)


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
