"""Track ``autograd``, exercises 1-3, and the helpers the whole track shares.

The student writes, in NumPy on float64 arrays (template ``tutorials/exercises/autograd.py``;
preface ``autograd.md`` beside it; unit 01):

    1  numerical_gradient(f, x, eps)            central differences, one element at a time
    2  matmul_backward(a, b, grad_out)          dA = G Bᵀ, dB = Aᵀ G
    3  softmax, softmax_backward                dx = y ⊙ (g − Σ_j g_j y_j)
    4  layer_norm, layer_norm_backward          dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂))
    5  gelu, gelu_backward                      tanh approximation (GPT-2 / GPT-3)
    6  cross_entropy, cross_entropy_backward    mean NLL; (softmax − onehot)/N

Exercises 4-6 live in :mod:`.layers`, which imports this module's helpers. References: the
library's own ops (:mod:`mediswift_np.functional`, the ``MatMul`` of
:mod:`mediswift_np.autograd`), run forward and backward through the engine in float64;
for exercise 1 the closed-form gradients of smooth test functions.

Tolerances: exercise 1 rtol 1e-6, atol 1e-7 (central differences at eps = 1e-5 are off
by ~1e-10; a one-sided difference by ~1e-5); exercises 2-6 rtol 1e-9, atol 1e-10 (the
same formula in another order differs by ~1e-15; every slip recognised here by >1e-4).

Stability probes (CS336-style) for softmax and cross-entropy: the inputs + 100, + 1000
and × 1000 must still give finite, correct answers.

Does not handle: batched matmul, softmax over another axis than the last, LayerNorm
over several axes.
"""

from __future__ import annotations

import numpy as np

from .... import functional as F
from ....autograd import Tensor
from ...spec import Case, Exercise, Mistake, Symptom, Task

TUTORIAL = "tutorials/01_autograd_from_scratch.ipynb"
TOL = dict(rtol=1e-9, atol=1e-10)


def library(op, inputs: list[np.ndarray], grad_out: np.ndarray | None = None, **kw):
    """The library's forward value of ``op(*inputs)`` and, given ``grad_out``, the gradients of every input."""
    ts = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in inputs]
    out = op(*ts, **kw)
    if grad_out is None:
        return out.data.copy()
    out.backward(np.asarray(grad_out, dtype=np.float64))
    return tuple(t.grad.copy() for t in ts)


def _close(a, b) -> bool:
    a = np.asarray(a)
    return a.shape == np.shape(b) and bool(np.allclose(a, b, rtol=1e-9, atol=1e-10))


def unstable(got) -> bool:
    """The symptom of exp() overflowing: NaN or inf somewhere in the answer."""
    items = got if isinstance(got, tuple) else (got,)
    return any(not np.all(np.isfinite(np.asarray(g, dtype=np.float64))) for g in items)


PROBES = (("+ 100", lambda x: x + 100.0), ("+ 1000", lambda x: x + 1000.0), ("× 1000", lambda x: x * 1000.0))
PROBE_HINT = ("this is a stability probe (large inputs): exp() overflows past ~709. Subtract the row maximum before "
              "exponentiating; the answer does not change.")
UNSTABLE = ("NaN or inf on large inputs (a stability probe): exp(z) overflows for z > 709. Shift each row by its max "
            "(softmax(z) = softmax(z − max z)); for the loss use log-sum-exp, log Σ exp(z) = m + log Σ exp(z − m), "
            "not log(softmax), which gives log 0 = −inf for tiny probabilities.")

# ----------------------------------------------------------------------------- exercise 1


def numerical_cases(rng: np.random.Generator) -> list[Case]:
    w = rng.standard_normal((3, 4))
    A = rng.standard_normal((5, 5))
    c = rng.uniform(0.5, 2.0, 4)
    functions = [
        ("f(x) = Σ w ⊙ sin(x), x of shape (3, 4)", lambda x: float(np.sum(w * np.sin(x))), lambda x: w * np.cos(x),
         rng.standard_normal((3, 4)), 1e-5),
        ("f(x) = ½ xᵀ A x, x of shape (5,)", lambda x: float(0.5 * x @ A @ x), lambda x: 0.5 * (A + A.T) @ x,
         rng.standard_normal(5), 1e-4),
        ("f(x) = log Σ exp(x), x of shape (2, 3)", lambda x: float(np.log(np.exp(x).sum())),
         lambda x: np.exp(x) / np.exp(x).sum(), rng.standard_normal((2, 3)), 1e-5),
        ("f(x) = Σ c x³, x of shape (4,)", lambda x: float(np.sum(c * x**3)), lambda x: 3 * c * x**2,
         rng.uniform(0.5, 2.0, 4), 1e-5),
    ]  # fmt: skip
    cases = []
    for words, f, grad, x, eps in functions:
        forward = np.zeros_like(x)
        for j in range(x.size):
            e = np.zeros_like(x)
            e.flat[j] = eps
            forward.flat[j] = (f(x + e) - f(x)) / eps
        right = grad(x)
        x0 = x.copy()
        cases.append(Case(f"f: {words}, x, eps={eps}", (f, x, eps), (right, x0), {
            "forward_difference": (forward, x0),
            "divided_by_eps": (2 * right, x0),
            "not_restored": Symptom(lambda got, x0=x0: not np.array_equal(np.asarray(got[1]), x0)),
            "all_at_once": Symptom(lambda got: np.ndim(got[0]) == 0),
        }))  # fmt: skip
    return cases


def gradient_and_input_after(fn, args):
    f, x, eps = args
    return fn(f, x, eps), x


NUMERICAL = Exercise(1, "numerical_gradient: central differences, one element at a time",
                     f"{TUTORIAL} §4 (gradcheck's central difference) and §6 (why in float64)", (
    Task("numerical_gradient",
         "grad[j] = (f(x + eps·e_j) − f(x − eps·e_j)) / (2·eps) for every element j, x restored after each step.",
         numerical_cases, (
             Mistake("not_restored", "x is not the same after your function: put each element back "
                                     "(x[j] = original) after evaluating f at x ± eps, or work on a copy."),
             Mistake("all_at_once", "perturb ONE element at a time: the gradient has the shape of x, one partial "
                                    "derivative per element."),
             Mistake("forward_difference", "that is the one-sided difference (f(x + eps) − f(x)) / eps, whose error "
                                           "is O(eps); the central difference (f(x + eps) − f(x − eps)) / (2·eps) is "
                                           "O(eps²)."),
             Mistake("divided_by_eps", "off by a factor 2: the two evaluations are 2·eps apart, so divide by 2·eps."),
         ), outputs=("the gradient", "x after the call"), rtol=1e-6, atol=1e-7, call=gradient_and_input_after),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def matmul_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for m, k, n in ((4, 4, 4), (3, 4, 5), (1, 6, 2), (5, 3, 3), (3, 3, 3)):  # square first (see masked_linear)
        a, b, g = rng.standard_normal((m, k)), rng.standard_normal((k, n)), rng.standard_normal((m, n))
        ga, gb = library(lambda x, y: x @ y, [a, b], g)
        square = m == k == n
        cases.append(Case(f"a of shape ({m}, {k}), b ({k}, {n}), grad_out ({m}, {n})", (a, b, g), (ga, gb), {
            "grad_b_transposed": Symptom(lambda got, gb=gb: _close(np.asarray(got[1]).T, gb) and not _close(got[1], gb)),
            "grad_a_transposed": Symptom(lambda got, ga=ga: _close(np.asarray(got[0]).T, ga) and not _close(got[0], ga)),
            "swapped": Symptom(lambda got, ga=ga, gb=gb: _close(got[0], gb) and _close(got[1], ga)),
            "no_transposes": (g @ b, a @ g) if square else None,
        }))  # fmt: skip
    return cases


MATMUL = Exercise(2, "matmul_backward: the two products of a product's backward",
                  f"{TUTORIAL} §1 (the chain rule by hand) and §7 (a matmul's backward: two products)", (
    Task("matmul_backward",
         "for C = A B with upstream gradient G = dL/dC: dA = G Bᵀ (m × k) and dB = Aᵀ G (k × n).",
         matmul_cases, (
             Mistake("grad_b_transposed", "your dB is the transpose of the right one: dB = Aᵀ G has B's shape (k × n);"
                                          " Gᵀ A is (n × k)."),
             Mistake("grad_a_transposed", "your dA is the transpose of the right one: dA = G Bᵀ has A's shape (m × k)."),
             Mistake("swapped", "you returned (dB, dA); return them in the order of the inputs, (dA, dB)."),
             Mistake("no_transposes", "each gradient needs the OTHER factor transposed: dA = G Bᵀ, dB = Aᵀ G (check "
                                      "the shapes: (m × n)(n × k) and (k × m)(m × n))."),
         ), outputs=("grad_a", "grad_b"), **TOL),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def softmax_inputs(rng):
    base = [rng.standard_normal((2, 5)), rng.standard_normal((3, 4, 6)), 3 * rng.standard_normal((4, 7))]
    cases = [(f"x of shape {x.shape}", x, "") for x in base]
    x = rng.standard_normal((3, 5))
    cases += [(f"x of shape {x.shape} {words} (stability probe)", probe(x), PROBE_HINT) for words, probe in PROBES]
    return cases


def softmax_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for label, x, hint in softmax_inputs(rng):
        e = np.exp(x - x.max(axis=0, keepdims=True))
        cases.append(Case(label, (x,), library(F.softmax, [x]), {
            "unstable": Symptom(unstable),
            "wrong_axis": e / e.sum(axis=0, keepdims=True),
        }, hint))  # fmt: skip
    return cases


def softmax_backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for label, x, _ in softmax_inputs(rng):
        y, g = library(F.softmax, [x]), rng.standard_normal(x.shape)
        (dx,) = library(F.softmax, [x], g)
        cases.append(Case(f"y = softmax(x), {label}, grad_y", (y, g), dx, {
            "missing_subtraction": y * g,
            "diagonal_only": y * (1 - y) * g,
            "sum_over_wrong_axis": y * (g - (g * y).sum(axis=0, keepdims=True)),
        }))  # fmt: skip
    return cases


SOFTMAX = Exercise(3, "softmax and its backward", f"{TUTORIAL} §5, the paragraph after LayerNorm (the softmax "
                   "Jacobian); tutorials/exercises/autograd.md §1 (stable exponentials)", (
    Task("softmax", "y_i = exp(x_i − max x) / Σ_j exp(x_j − max x), along the last axis.", softmax_cases, (
        Mistake("unstable", UNSTABLE),
        Mistake("wrong_axis", "normalise along the LAST axis (axis=-1, keepdims=True): each row sums to 1."),
    ), **TOL),
    Task("softmax_backward", "dx = y ⊙ (g − Σ_j g_j y_j), the sum along the last axis (keepdims).",
         softmax_backward_cases, (
             Mistake("missing_subtraction", "you dropped the subtraction term: ∂y_i/∂x_j = y_i(δ_ij − y_j), so dx = y ⊙"
                                            " (g − Σ_j g_j y_j), not y ⊙ g."),
             Mistake("diagonal_only", "you kept only the diagonal of the Jacobian, y_i(1 − y_i); every output depends "
                                      "on every input: dx = y ⊙ (g − Σ_j g_j y_j)."),
             Mistake("sum_over_wrong_axis", "sum g ⊙ y along the last axis (the softmax axis), keepdims=True."),
         ), **TOL),
))  # fmt: skip

