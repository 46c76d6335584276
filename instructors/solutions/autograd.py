"""Worked solutions to tutorials/exercises/autograd.py (track ``autograd``).

Try the exercises first. Each backward is derived by hand and written beside its
forward, in plain NumPy; the checker compares them with the library's ops:

    python -m mediswift_np.exercises check autograd --file instructors/solutions/autograd.py
"""

from __future__ import annotations

import math

import numpy as np

TRACK = "autograd"

# ----------------------------------------------------------------------------- exercise 1


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)  # views: editing flat perturbs x in place
    for j in range(flat.size):
        original = flat[j]
        flat[j] = original + eps
        plus = f(x)
        flat[j] = original - eps
        minus = f(x)
        flat[j] = original  # put it back before the next element
        out[j] = (plus - minus) / (2 * eps)  # central difference: error O(eps²)
    return grad


# ----------------------------------------------------------------------------- exercise 2


def matmul_backward(a: np.ndarray, b: np.ndarray, grad_out: np.ndarray):
    grad_a = grad_out @ b.T  # (m, n) @ (n, k) -> (m, k)
    grad_b = a.T @ grad_out  # (k, m) @ (m, n) -> (k, n)
    return grad_a, grad_b


# ----------------------------------------------------------------------------- exercise 3


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))  # shifted: the largest exponent is 0
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))  # dy_i/dx_j = y_i(δ_ij − y_j)


# ----------------------------------------------------------------------------- exercise 4


def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased: divide by C
    return (x - mu) / np.sqrt(var + eps) * weight + bias


def layer_norm_backward(x, weight, bias, grad_y, eps=1e-5):
    C = x.shape[-1]
    mu = x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    dxhat = grad_y * weight
    # μ and rstd depend on every x of the row: the two mean terms
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    dw = (grad_y * xhat).reshape(-1, C).sum(axis=0)
    db = grad_y.reshape(-1, C).sum(axis=0)
    return dx, dw, db


# ----------------------------------------------------------------------------- exercise 5

GELU_C, GELU_A = math.sqrt(2.0 / math.pi), 0.044715


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + GELU_A * x**3)))


def gelu_backward(x, grad_y):
    t = np.tanh(GELU_C * (x + GELU_A * x**3))
    dt_dx = (1.0 - t * t) * GELU_C * (1.0 + 3 * GELU_A * x * x)  # chain rule through tanh and its argument
    return (0.5 * (1.0 + t) + 0.5 * x * dt_dx) * grad_y  # product rule on ½·x·(1 + t)


# ----------------------------------------------------------------------------- exercise 6


def cross_entropy(logits, targets):
    m = logits.max(axis=-1, keepdims=True)
    logsumexp = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))  # stable for any logits
    return float(np.mean(logsumexp - logits[np.arange(len(targets)), targets]))


def cross_entropy_backward(logits, targets):
    N = len(targets)
    d = softmax(logits)
    d[np.arange(N), targets] -= 1.0  # − onehot(t)
    return d / N
