"""Track ``optim``: AdamW with the paper's warmup + cosine schedule and global-norm clipping.

The student writes (template ``tutorials/exercises/optim.py``; preface ``optim.md`` beside it; unit 06):

    1  lr_schedule(step, total_steps, peak, warmup_frac, min_ratio)    App. A.1
    2  clip_grad_norm(grads, max_norm)                                  global norm, GPT-3's 1.0
    3  adamw_step(param, grad, m, v, t, lr, ...)                        Loshchilov & Hutter Alg. 2
    4  train(param, grad_fn, total_steps, ...)                          1-3 together, step by step

References: :func:`mediswift_np.optim.lr_schedule`, :class:`mediswift_np.optim.AdamW`
(its ``clip_grad_norm`` and ``step``) on :class:`mediswift_np.nn.Parameter` s holding
the same arrays. Tolerances: rtol 1e-9 (the schedule is compared per step, as a
number), atol 1e-13 for parameters of size ~1; every recognised slip changes the answer
by more than 1e-7 relative.

Does not handle: parameter groups (the library decays only weight matrices; here every
parameter decays), AdamW's state dict.
"""

from __future__ import annotations

import math

import numpy as np

from ... import optim
from ...nn import Parameter
from ..spec import Case, Exercise, Mistake, Symptom, Task, Track

TUTORIAL = "tutorials/exercises/optim.md (the track's preface); paper App. A.1"
TOL = dict(rtol=1e-9, atol=1e-13)

# ----------------------------------------------------------------------------- exercise 1


def _schedule(step, N, peak, warmup_frac, min_ratio, *, warmup_shift=1, floor=None, span=-1, warmup_on=True):
    """The library's schedule with one knob turned: the slips of exercise 1."""
    W = max(1, round(warmup_frac * N)) if warmup_frac > 0 and warmup_on else 0
    lo = min_ratio * peak if floor is None else floor
    if step < W:
        return peak * (step + warmup_shift) / W
    steps = N + span - W
    if steps <= 0:
        return peak
    return lo + 0.5 * (peak - lo) * (1 + math.cos(math.pi * (step - W) / steps))


def schedule_cases(rng: np.random.Generator) -> list[Case]:
    settings = [(20, 2e-4, 0.1, 0.1), (37, 2e-4, 0.1, 0.1), (100, 2e-4, 0.1, 0.1),
                (int(rng.integers(30, 80)), round(float(rng.uniform(1e-4, 1e-3)), 6), 0.2, 0.05)]  # fmt: skip
    cases = []
    for N, peak, wf, mr in settings:
        for step in range(N):
            args = (step, N, peak, wf, mr)
            cases.append(Case(f"step={step}, total_steps={N}, peak={peak}, warmup_frac={wf}, min_ratio={mr}", args,
                              optim.lr_schedule(*args), {
                "warmup_from_zero": _schedule(*args, warmup_shift=0),
                "cosine_to_zero": _schedule(*args, floor=0.0),
                "cosine_over_n_minus_w": _schedule(*args, span=0),
                "no_warmup": _schedule(*args, warmup_on=False),
            }))  # fmt: skip
    return cases


SCHEDULE = Exercise(1, "lr_schedule: linear warmup, then cosine to 10% of the peak", TUTORIAL, (
    Task("lr_schedule",
         "W = max(1, round(warmup_frac·N)); step < W: peak·(step + 1)/W; else min + ½(peak − min)(1 + cos(π·(step − W)"
         "/(N − 1 − W))), min = min_ratio·peak (App. A.1).",
         schedule_cases, (
             Mistake("warmup_from_zero", "off by one at the warmup boundary: step s (counted from 0) gets peak·(s + 1)"
                                         "/W, so the first step already learns (peak/W) and step W − 1 reaches the "
                                         "peak; peak·s/W wastes step 0 on a learning rate of 0."),
             Mistake("cosine_to_zero", "the cosine decays to min = min_ratio·peak (10% of the peak, App. A.1), not to "
                                       "0: lr = min + ½(peak − min)(1 + cos(...))."),
             Mistake("cosine_over_n_minus_w", "the last step is N − 1, so the cosine's progress is (step − W)/(N − 1 − "
                                              "W), which reaches 1 (lr = min) exactly at the last step."),
             Mistake("no_warmup", "the first W = max(1, round(warmup_frac·N)) steps warm up linearly before the "
                                  "cosine starts."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def library_clip(grads, max_norm):
    params = [Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    opt = optim.AdamW([(str(i), p) for i, p in enumerate(params)], optim.AdamWConfig(grad_clip=max_norm))
    norm = opt.clip_grad_norm()
    return [p.grad for p in params], norm


def clip_cases(rng: np.random.Generator) -> list[Case]:
    shapes = [(4, 3), (3,), (2, 2, 2)]
    inputs = []
    for target, words in ((5.0, "global norm ≈ 5"), (0.5, "global norm ≈ 0.5 (below max_norm)"),
                          (1.5, "global norm ≈ 1.5, every tensor's own norm below 1")):  # fmt: skip
        grads = [rng.standard_normal(s) for s in shapes]
        scale = target / math.sqrt(sum(float((g * g).sum()) for g in grads))
        grads = [g * scale for g in grads]
        if target == 1.5:
            grads = [g / np.linalg.norm(g) * 1.5 / math.sqrt(3) for g in grads]  # each 0.87, together 1.5
        inputs.append((grads, 1.0, words))
    inputs.append(([rng.standard_normal((6,)) * 3], 2.0, "one tensor, max_norm=2.0"))
    cases = []
    for grads, c, words in inputs:
        clipped, norm = library_clip(grads, c)
        sq = sum(float((g * g).sum()) for g in grads)
        label = f"grads=<{len(grads)} arrays of shapes {', '.join(str(g.shape) for g in grads)}, {words}>, max_norm={c}"
        cases.append(Case(label, (grads, c), (clipped, norm), {
            "per_tensor": ([g * min(1.0, c / (np.linalg.norm(g) + 1e-6)) for g in grads], norm),
            "always_scaled": ([g * c / (norm + 1e-6) for g in grads], norm),
            "norm_after_clipping": (clipped, min(norm, c)),
            "squared_norm": Symptom(lambda got, sq=sq: math.isclose(float(got[1]), sq, rel_tol=1e-9)),
            "no_epsilon": ([g * min(1.0, c / norm) for g in grads], norm),
        }))  # fmt: skip
    return cases


CLIP = Exercise(2, "clip_grad_norm: one global norm over all parameters", TUTORIAL, (
    Task("clip_grad_norm",
         "norm = √(Σ_p ‖g_p‖²) over ALL gradients; if norm > max_norm multiply every gradient by max_norm/(norm + "
         "1e-6); return (the gradients, norm before clipping).",
         clip_cases, (
             Mistake("per_tensor", "you clipped each tensor by its own norm. Clipping is global: one norm √(Σ_p "
                                   "‖g_p‖²) over all parameters and ONE scale for all of them, so the update's "
                                   "direction does not change."),
             Mistake("always_scaled", "clip only when norm > max_norm; smaller gradients stay as they are (clipping "
                                      "never scales up)."),
             Mistake("norm_after_clipping", "return the norm BEFORE clipping: the training log uses it to show how "
                                            "often clipping kicks in."),
             Mistake("squared_norm", "the norm is the square root of the sum of squares."),
             Mistake("no_epsilon", "scale by max_norm / (norm + 1e-6), as the docstring (and mediswift_np.optim) "
                                   "say: the 1e-6 guards against dividing by a tiny norm."),
         ), outputs=("clipped gradients", "norm"), **TOL),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def library_adamw(param, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
    p = Parameter(param.copy(), weight_decay=True)
    opt = optim.AdamW([("p", p)], optim.AdamWConfig(lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                                   weight_decay=weight_decay, grad_clip=None))  # fmt: skip
    opt.m["p"], opt.v["p"], opt.t = m.copy(), v.copy(), t - 1
    p.grad = grad.copy()
    opt.step(lr)
    return p.data, opt.m["p"], opt.v["p"]


def adamw_variant(param, grad, m, v, t, lr, b1, b2, eps, wd, *, l2=False, correct=True, lr_decay=True, eps_in=False):
    g = grad + wd * param if l2 else grad
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    mh, vh = (m / (1 - b1**t), v / (1 - b2**t)) if correct else (m, v)
    denom = np.sqrt(vh + eps) if eps_in else np.sqrt(vh) + eps
    decay = 0.0 if l2 else (lr * wd if lr_decay else wd)
    return param - decay * param - lr * mh / denom, m, v


def adamw_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for shape, t in (((3, 4), 1), ((5,), 2), ((2, 3), 10), ((4,), 1000), ((3, 3), 3)):
        param, grad = rng.standard_normal(shape), rng.standard_normal(shape)
        m, v = (0.1 * rng.standard_normal(shape), 0.01 * rng.random(shape)) if t > 1 else (np.zeros(shape),) * 2
        hyper = (t, 1e-2, 0.9, 0.95, 1e-8, 0.1)
        args = (param, grad, m, v, *hyper)
        cases.append(Case(f"param, grad, m, v of shape {shape}, t={t}, lr=0.01, beta1=0.9, beta2=0.95, eps=1e-08, "
                          "weight_decay=0.1", args, library_adamw(*args), {
            "l2_in_gradient": adamw_variant(*args, l2=True),
            "no_bias_correction": adamw_variant(*args, correct=False),
            "decay_not_scaled_by_lr": adamw_variant(*args, lr_decay=False),
            "eps_inside_sqrt": adamw_variant(*args, eps_in=True),
        }))  # fmt: skip
    return cases


ADAMW = Exercise(3, "adamw_step: one AdamW update with decoupled weight decay",
                 f"{TUTORIAL}; Loshchilov & Hutter 2019, Alg. 2", (
    Task("adamw_step",
         "m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t); θ ← θ − lr·λ·θ − "
         "lr·m̂/(√v̂ + ε). Return (θ, m, v).",
         adamw_cases, (
             Mistake("l2_in_gradient", "you added λ·θ to the gradient (L2 regularisation, 'Adam'). AdamW decouples "
                                       "the decay: θ ← θ − lr·λ·θ directly, and the moments see only the loss "
                                       "gradient g (Loshchilov & Hutter, Alg. 2)."),
             Mistake("no_bias_correction", "the moments start at 0 and are biased towards 0 in early steps: divide by"
                                           " (1 − β1^t) and (1 − β2^t) (m̂ and v̂) with t counted from 1."),
             Mistake("decay_not_scaled_by_lr", "scale the decay by the learning rate: θ ← θ − lr·λ·θ (as PyTorch and "
                                               "GPT-3 do), so it follows the schedule."),
             Mistake("eps_inside_sqrt", "ε goes outside the square root: √v̂ + ε."),
         ), outputs=("param", "m", "v"), **TOL),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 4


def quadratic(rng: np.random.Generator, n: int = 6):
    A, y = rng.standard_normal((2 * n, n)), rng.standard_normal(2 * n)
    return lambda theta: 5.0 * A.T @ (A @ theta - y)  # steep enough that clipping is active early on


def library_train(theta, grad_fn, N, peak, max_norm, wd, clip=True):
    p = Parameter(theta.copy(), weight_decay=True)
    opt = optim.AdamW([("p", p)], optim.AdamWConfig(lr=peak, weight_decay=wd, grad_clip=max_norm if clip else None))
    for s in range(N):
        p.grad = grad_fn(p.data.copy())
        opt.clip_grad_norm()
        opt.step(optim.lr_schedule(s, N, peak))
    return p.data


def train_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, peak in ((30, 0.05), (50, 0.02), (12, 0.1)):
        grad_fn, theta = quadratic(rng), rng.standard_normal(6)
        args = (theta, grad_fn, N, peak, 1.0, 0.1)
        cases.append(Case(f"param of shape (6,), grad_fn=<a least-squares gradient>, total_steps={N}, peak_lr={peak}, "
                          "max_norm=1.0, weight_decay=0.1", args, library_train(*args), {
            "no_clipping": library_train(*args, clip=False),
            "t_from_zero": Symptom(lambda got: not np.all(np.isfinite(np.asarray(got, dtype=np.float64)))),
        }))  # fmt: skip
    return cases


TRAIN = Exercise(4, "train: schedule, clipping and AdamW, step by step", TUTORIAL, (
    Task("train",
         "for step s = 0..N−1: g = grad_fn(param); g = clip_grad_norm([g], max_norm)[0][0]; lr = lr_schedule(s, N, "
         "peak_lr); (param, m, v) = adamw_step(param, g, m, v, s + 1, lr, 0.9, 0.95, 1e-8, weight_decay), m = v = 0 "
         "at the start.",
         train_cases, (
             Mistake("no_clipping", "clip the gradient (global norm, max_norm) before every AdamW step."),
             Mistake("t_from_zero", "NaN or inf: AdamW's t counts steps from 1 (at t = 0 the bias correction 1 − β^0 "
                                    "is 0 and you divide by it)."),
         ), **TOL),
), depends_on=(1, 2, 3), points=2, on_pass=lambda module: (
    "your schedule, clipping and AdamW reproduce the library's trajectory step for step: the optimizer of "
    "mediswift_np.pretrain is now yours."))  # fmt: skip

TRACK = Track("optim", "AdamW with the warmup + cosine schedule and global-norm clipping",
              "tutorials/06_sparse_pretraining.ipynb", (SCHEDULE, CLIP, ADAMW, TRAIN))
