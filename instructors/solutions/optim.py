"""Worked solutions to tutorials/exercises/optim.py (track ``optim``).

Try the exercises first. Written from the equations (Loshchilov & Hutter 2019, Alg. 2;
MediSwift App. A.1), not by calling mediswift_np.optim:

    python -m mediswift_np.exercises check optim --file instructors/solutions/optim.py
"""

from __future__ import annotations

import math

import numpy as np

TRACK = "optim"

# ----------------------------------------------------------------------------- exercise 1


def lr_schedule(step, total_steps, peak=2e-4, warmup_frac=0.1, min_ratio=0.1):
    warmup = max(1, round(warmup_frac * total_steps)) if warmup_frac > 0 else 0
    if step < warmup:
        return peak * (step + 1) / warmup  # step 0 already learns; step W − 1 is at the peak
    lowest = min_ratio * peak
    decay_steps = total_steps - 1 - warmup  # the last step, N − 1, lands exactly on the minimum
    if decay_steps <= 0:
        return peak
    progress = (step - warmup) / decay_steps
    return lowest + 0.5 * (peak - lowest) * (1 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- exercise 2


def clip_grad_norm(grads, max_norm):
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))  # ONE norm over every parameter
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        grads = [g * scale for g in grads]  # one scale for all: the direction is kept
    return grads, norm


# ----------------------------------------------------------------------------- exercise 3


def adamw_step(param, grad, m, v, t, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**t)  # bias corrections, t counted from 1
    v_hat = v / (1 - beta2**t)
    param = param - lr * weight_decay * param - lr * m_hat / (np.sqrt(v_hat) + eps)  # decoupled decay
    return param, m, v


# ----------------------------------------------------------------------------- exercise 4


def train(param, grad_fn, total_steps, peak_lr, max_norm=1.0, weight_decay=0.1):
    m, v = np.zeros_like(param), np.zeros_like(param)
    for step in range(total_steps):
        (g,), _ = clip_grad_norm([grad_fn(param)], max_norm)
        lr = lr_schedule(step, total_steps, peak_lr)
        param, m, v = adamw_step(param, g, m, v, step + 1, lr, 0.9, 0.95, 1e-8, weight_decay)
    return param
