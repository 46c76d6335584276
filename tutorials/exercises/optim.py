"""Track ``optim``: AdamW, the paper's learning-rate schedule, and global-norm clipping (unit 06).

Copy this file, ``cp tutorials/exercises/optim.py my_optim.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check optim --file my_optim.py

or just ``python my_optim.py``. Read the track's preface first,
``optim.md`` in this folder: it derives Adam's update and bias correction, decoupled
weight decay (Loshchilov & Hutter 2019, Algorithm 2), the warmup + cosine schedule of
the paper's App. A.1 (peak lr 2e-4, β1 0.9, β2 0.95, ε 1e-8, weight decay 0.1, 10%
linear warmup then cosine decay to 10% of the peak) and GPT-3's global-norm clipping at
1.0. Arrays are float64; return new arrays (do not rely on changing the inputs in
place). The checker compares with mediswift_np.optim, so look there only afterwards.
"""

from __future__ import annotations

import math  # noqa: F401

import numpy as np  # noqa: F401

TRACK = "optim"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1


def lr_schedule(step: int, total_steps: int, peak: float = 2e-4, warmup_frac: float = 0.1,
                min_ratio: float = 0.1) -> float:
    """The learning rate of step ``step`` (0, 1, ..., total_steps − 1) of N = total_steps.

    - Warmup: the first W = max(1, round(warmup_frac · N)) steps (none if warmup_frac is
      0) rise linearly, step s getting peak · (s + 1) / W -- so step 0 already learns
      and step W − 1 is exactly at the peak.
    - Then cosine decay from the peak at step W to min = min_ratio · peak at the LAST
      step, N − 1:  min + ½ (peak − min)(1 + cos(π · (s − W) / (N − 1 − W))).
      (If N − 1 − W <= 0 there is nothing to decay: return the peak.)
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def clip_grad_norm(grads: list, max_norm: float):
    """Global-norm clipping over a list of gradient arrays (one per parameter).

    norm = √(Σ_p ‖g_p‖²) over all of them. If norm > max_norm, multiply EVERY gradient
    by max_norm / (norm + 1e-6); otherwise leave them unchanged.
    Returns (list of the gradients after clipping, norm before clipping as a float).
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def adamw_step(param, grad, m, v, t: int, lr: float, beta1: float = 0.9, beta2: float = 0.95,
               eps: float = 1e-8, weight_decay: float = 0.1):
    """One AdamW update of one parameter array. ``m``, ``v`` are the moments after step
    t − 1 (zeros before the first step); ``t`` is this step's number, counted from 1.

    Returns (new param, new m, new v), all of param's shape. Weight decay is decoupled
    from the gradient and scaled by the learning rate, as in PyTorch and GPT-3.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def train(param, grad_fn, total_steps: int, peak_lr: float, max_norm: float = 1.0, weight_decay: float = 0.1):
    """Run total_steps optimizer steps on one parameter array and return the final array.

    Each step s = 0, 1, ..., N − 1: g = grad_fn(param); clip g (your clip_grad_norm on
    [g]); lr = your lr_schedule(s, N, peak_lr) (default warmup and minimum); one
    adamw_step with β1 = 0.9, β2 = 0.95, ε = 1e-8. The moments start at zero.
    """
    raise NotImplementedError


if __name__ == "__main__":  # python my_optim.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
