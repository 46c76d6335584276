"""Track ``autograd``, exercises 4-6: LayerNorm, GELU and cross-entropy with their backward passes.

Exercises 1-3 and the shared helpers (the library reference, the stability probes) are
in :mod:`.basics`, whose docstring describes the track and its tolerances.

Does not handle: LayerNorm over several axes, cross-entropy with a loss mask (the
prompting track's Eq. 3 loss has one).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from .... import functional as F
from ...spec import Case, Exercise, Mistake, Symptom, Task
from .basics import PROBE_HINT, PROBES, TOL, TUTORIAL, UNSTABLE, library, unstable

# ----------------------------------------------------------------------------- exercise 4


def ln_inputs(rng):
    out = []
    for shape, eps in (((4, 6), 1e-5), ((2, 3, 8), 1e-5), ((5, 4), 0.1)):
        C = shape[-1]
        x = 3.0 + 2.0 * rng.standard_normal(shape)
        out.append((x, 1 + 0.5 * rng.standard_normal(C), rng.standard_normal(C), eps))
    return out


def ln_label(x, eps):
    return f"x of shape {x.shape}, weight and bias of shape ({x.shape[-1]},), eps={eps}"


def layer_norm_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for x, w, b, eps in ln_inputs(rng):
        mu = x.mean(-1, keepdims=True)
        cases.append(Case(ln_label(x, eps), (x, w, b, eps), library(F.layer_norm, [x, w, b], eps=eps), {
            "unbiased_variance": (x - mu) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps) * w + b,
            "eps_outside_sqrt": (x - mu) / (x.std(-1, keepdims=True) + eps) * w + b,
            "no_affine": (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps),
        }))  # fmt: skip
    return cases


def layer_norm_backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for x, w, b, eps in ln_inputs(rng):
        g = rng.standard_normal(x.shape)
        dx, dw, db = library(F.layer_norm, [x, w, b], g, eps=eps)
        rstd = 1 / np.sqrt(x.var(-1, keepdims=True) + eps)
        xhat, dxhat = (x - x.mean(-1, keepdims=True)) * rstd, g * w
        cases.append(Case(f"{ln_label(x, eps)}, grad_y", (x, w, b, g, eps), (dx, dw, db), {
            "no_mean_terms": (rstd * dxhat, dw, db),
            "missing_xhat_term": (rstd * (dxhat - dxhat.mean(-1, keepdims=True)), dw, db),
            "missing_mean_of_dxhat": (rstd * (dxhat - xhat * (dxhat * xhat).mean(-1, keepdims=True)), dw, db),
            "forgot_weight": (rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)), dw, db),
        }))  # fmt: skip
    return cases


LAYER_NORM = Exercise(4, "LayerNorm and its backward", f"{TUTORIAL} §5 (LayerNorm's hand-derived backward)", (
    Task("layer_norm", "y = (x − μ)/√(σ² + eps) ⊙ w + b, μ and the biased σ² (divide by C) over the last axis.",
         layer_norm_cases, (
             Mistake("unbiased_variance", "LayerNorm uses the biased variance, mean((x − μ)²) (ddof=0), not the "
                                          "unbiased one."),
             Mistake("eps_outside_sqrt", "eps goes inside the square root: √(σ² + eps), not √σ² + eps."),
             Mistake("no_affine", "after normalising, scale by weight and add bias: y = x̂ ⊙ w + b."),
         ), **TOL),
    Task("layer_norm_backward",
         "with x̂ = (x − μ)·rstd, dx̂ = g ⊙ w: dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂)) (means over the last axis),"
         " dw = Σ g ⊙ x̂ and db = Σ g over every axis but the last.",
         layer_norm_backward_cases, (
             Mistake("no_mean_terms", "you treated μ and rstd as constants (dx = rstd·dx̂). They depend on every x of "
                                      "the row, which adds the two mean terms: dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙"
                                      " x̂))."),
             Mistake("missing_xhat_term", "the variance depends on x too: subtract x̂·mean(dx̂ ⊙ x̂) as well as mean(dx̂)."),
             Mistake("missing_mean_of_dxhat", "the mean μ depends on x too: subtract mean(dx̂) as well as "
                                              "x̂·mean(dx̂ ⊙ x̂)."),
             Mistake("forgot_weight", "the gradient reaching x̂ is dx̂ = g ⊙ w (y = x̂ ⊙ w + b): multiply by the weight "
                                      "first."),
         ), outputs=("dx", "dw", "db"), **TOL),
), points=2)  # fmt: skip

# ----------------------------------------------------------------------------- exercise 5

C_GELU, A_GELU = math.sqrt(2 / math.pi), 0.044715


def gelu_inputs(rng):
    return [2 * rng.standard_normal((3, 7)), rng.standard_normal((2, 2, 5)), np.linspace(-6, 6, 25)]


def gelu_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for x in gelu_inputs(rng):
        cases.append(Case(f"x of shape {x.shape}", (x,), library(F.gelu, [x]), {
            "erf_gelu": 0.5 * x * (1 + erf(x / math.sqrt(2))),
            "no_cubic_term": 0.5 * x * (1 + np.tanh(C_GELU * x)),
            "missing_half": x * (1 + np.tanh(C_GELU * (x + A_GELU * x**3))),
        }))  # fmt: skip
    return cases


def gelu_backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for x in gelu_inputs(rng):
        g = rng.standard_normal(x.shape)
        (dx,) = library(F.gelu, [x], g)
        t = np.tanh(C_GELU * (x + A_GELU * x**3))
        phi = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        cases.append(Case(f"x of shape {x.shape}, grad_y", (x, g), dx, {
            "tanh_as_constant": 0.5 * (1 + t) * g,
            "missing_inner_derivative": (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C_GELU) * g,
            "erf_derivative": (0.5 * (1 + erf(x / math.sqrt(2))) + x * phi) * g,
        }))  # fmt: skip
    return cases


GELU = Exercise(5, "GELU (tanh approximation) and its backward", "tutorials/exercises/autograd.md §2 (GELU and its "
                "derivative); Hendrycks & Gimpel 2016", (
    Task("gelu", "y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the tanh approximation GPT-2 and GPT-3 use.",
         gelu_cases, (
             Mistake("erf_gelu", "that is the exact GELU, ½x(1 + erf(x/√2)); GPT-2/GPT-3 (and this library) use the "
                                 "tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))), which differs by up to "
                                 "~5e-4 (near x = −2.7)."),
             Mistake("no_cubic_term", "the tanh argument is √(2/π)·(x + 0.044715·x³): the cubic term is missing."),
             Mistake("missing_half", "off by a factor 2: GELU is ½·x·(1 + tanh(...))."),
         ), **TOL),
    Task("gelu_backward",
         "dy/dx = ½(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²) with t = tanh(√(2/π)(x + 0.044715x³)); "
         "dx = dy/dx ⊙ grad_y.",
         gelu_backward_cases, (
             Mistake("tanh_as_constant", "t depends on x too: add ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²) (product "
                                         "rule, then the chain rule through tanh)."),
             Mistake("missing_inner_derivative", "the chain rule through tanh's argument: d/dx √(2/π)(x + 0.044715x³) "
                                                 "= √(2/π)(1 + 3·0.044715·x²); the (1 + 3·0.044715·x²) is missing."),
             Mistake("erf_derivative", "that is the derivative of the exact (erf) GELU; differentiate the tanh "
                                       "approximation instead."),
         ), **TOL),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 6


def ce_inputs(rng):
    out = []
    for N, V in ((4, 7), (6, 3), (1, 10)):
        out.append((f"logits of shape ({N}, {V}), targets", rng.standard_normal((N, V)), rng.integers(0, V, N), ""))
    z, t = rng.standard_normal((5, 8)), rng.integers(0, 8, 5)
    out += [(f"logits of shape (5, 8) {words} (stability probe), targets", probe(z), t, PROBE_HINT)
            for words, probe in PROBES]
    return out


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def ce_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for label, z, t, hint in ce_inputs(rng):
        loss = float(library(lambda x: F.cross_entropy(x, t), [z]))
        cases.append(Case(label, (z, t), loss, {
            "unstable": Symptom(lambda got: not np.isfinite(np.asarray(got, dtype=np.float64)).all()),
            "sum_not_mean": loss * len(t) if len(t) > 1 else None,
            "wrong_sign": -loss,
            "mean_over_vocabulary": loss / z.shape[1],
        }, hint))  # fmt: skip
    return cases


def ce_backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for label, z, t, hint in ce_inputs(rng):
        (dz,) = library(lambda x: F.cross_entropy(x, t), [z], np.array(1.0))
        p, onehot = _softmax(z), np.eye(z.shape[1])[t]
        cases.append(Case(label, (z, t), dz, {
            "unstable": Symptom(unstable),
            "missing_one_hot": p / len(t),
            "not_divided_by_n": (p - onehot) if len(t) > 1 else None,
            "one_hot_added": (p + onehot) / len(t),
        }, hint))  # fmt: skip
    return cases


def ce_note(module) -> str:
    V = 50
    loss = module.cross_entropy(np.zeros((3, V)), np.array([0, 7, 49]))
    return (f"with equal logits your loss is {float(loss):.4f} = ln {V}: the loss of a model that knows nothing, "
            "the value every GPT starts near (tutorial 03 §5).")


CROSS_ENTROPY = Exercise(6, "cross-entropy (mean NLL) and its backward",
                         "tutorials/exercises/autograd.md §3 (the loss and its gradient); "
                         "tutorials/03_gpt3_block.ipynb §5 (the loss at initialisation); paper Eq. 1", (
    Task("cross_entropy",
         "loss = (1/N) Σ_i [log Σ_v exp(z_iv) − z_i,t_i], with log Σ exp computed as m + log Σ exp(z − m), m = max z.",
         ce_cases, (
             Mistake("unstable", UNSTABLE),
             Mistake("sum_not_mean", "off by a factor N: the loss is the MEAN over the N rows, not the sum."),
             Mistake("wrong_sign", "the negative log-likelihood is −log p(t): the loss is positive."),
             Mistake("mean_over_vocabulary", "average over the N rows only; each row's loss is already one number "
                                             "(a sum over the vocabulary inside log Σ exp)."),
         )),
    Task("cross_entropy_backward",
         "dz = (softmax(z) − onehot(t)) / N: the gradient of the mean loss with respect to the logits.",
         ce_backward_cases, (
             Mistake("unstable", UNSTABLE),
             Mistake("missing_one_hot", "d(−z_t)/dz subtracts 1 at the target: dz = (softmax(z) − onehot(t)) / N."),
             Mistake("not_divided_by_n", "off by a factor N: the loss is a mean over N rows, so divide the gradient by"
                                         " N."),
             Mistake("one_hot_added", "the sign of the one-hot term: the loss has −z_t, so dz = (softmax(z) − "
                                      "onehot(t)) / N."),
         ), **TOL),
), on_pass=ce_note, depends_on=(3,))  # fmt: skip
