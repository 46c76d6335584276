"""Track ``autograd``: write the backward passes of the GPT's ops yourself.

Copy this file, ``cp tutorials/exercises/autograd.py my_autograd.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check autograd --file my_autograd.py

or just ``python my_autograd.py``. Read tutorial 01 first
(``tutorials/01_autograd_from_scratch.ipynb``: §4 the Function pattern, §5 LayerNorm and
the softmax Jacobian, §6 gradient checks, §7 a matmul's backward), then the track's
preface, ``autograd.md`` in this folder (stable exponentials, GELU, cross-entropy).
Every array is float64. ``grad_y`` (or ``grad_out``) is the upstream gradient dL/dy of
some scalar loss L; a backward returns dL/d(input), of the input's shape. Use NumPy only -- the checker compares with the library's ops
(mediswift_np.functional), so look there only afterwards.

Start with exercise 1: once ``numerical_gradient`` passes, use it to test your own
backward passes before you ask the checker, e.g. for softmax_backward:

    x, g = np.random.randn(3, 5), np.random.randn(3, 5)
    numeric = numerical_gradient(lambda x: float((softmax(x) * g).sum()), x.copy())
    np.testing.assert_allclose(softmax_backward(softmax(x), g), numeric, rtol=1e-6, atol=1e-8)
"""

from __future__ import annotations

import math  # noqa: F401

import numpy as np

TRACK = "autograd"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """The gradient of a scalar function ``f`` at ``x`` by central differences.

    ``f`` takes an array of x's shape and returns a float. For every element j:

        grad[j] = (f(x + eps·e_j) − f(x − eps·e_j)) / (2·eps)

    where e_j is 1 at element j and 0 elsewhere. Returns an array of x's shape. You may
    perturb x in place, but x must hold its original values when you return.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def matmul_backward(a: np.ndarray, b: np.ndarray, grad_out: np.ndarray):
    """Backward of C = A B for A (m, k), B (k, n), grad_out = dL/dC (m, n).

    Returns (grad_a, grad_b): dL/dA of shape (m, k) and dL/dB of shape (k, n).
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax along the last axis: y_i = exp(x_i) / Σ_j exp(x_j), any shape (..., V).

    It must stay finite and correct for large inputs (x + 1000, x × 1000).
    """
    raise NotImplementedError


def softmax_backward(y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    """dL/dx given the forward output y = softmax(x) and grad_y = dL/dy, both (..., V).

    Work out ∂y_i/∂x_j first (it is not zero for i ≠ j), then contract with grad_y.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis (Ba et al. 2016), x (..., C), weight and bias (C,):

        μ = mean(x),  σ² = mean((x − μ)²)  (biased: divide by C),
        y = (x − μ) / √(σ² + eps) ⊙ weight + bias.
    """
    raise NotImplementedError


def layer_norm_backward(x, weight, bias, grad_y, eps: float = 1e-5):
    """Backward of layer_norm: returns (dx (..., C), dweight (C,), dbias (C,)).

    Hint: with x̂ = (x − μ)·rstd, rstd = 1/√(σ² + eps), first find dL/dx̂; then remember
    that μ and rstd are functions of every x in the row.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 5


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU in the tanh approximation used by GPT-2 and GPT-3 (elementwise, any shape):

        y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    """
    raise NotImplementedError


def gelu_backward(x: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    """dL/dx = gelu'(x) ⊙ grad_y for the tanh approximation above (elementwise)."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 6


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of the targets (paper Eq. 1 for next-token prediction).

    logits (N, V) float, targets (N,) int in [0, V). Returns a float:

        loss = (1/N) Σ_i −log softmax(logits_i)[targets_i]

    It must stay finite and correct for large logits (logits + 1000, logits × 1000).
    """
    raise NotImplementedError


def cross_entropy_backward(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d loss / d logits for the mean loss above: an (N, V) array."""
    raise NotImplementedError


if __name__ == "__main__":  # python my_autograd.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
