"""AdamW with decoupled weight decay, global-norm clipping, and the paper's schedule.

AdamW (Loshchilov & Hutter 2019, Alg. 2), for each parameter θ with gradient g at step t:

    m ← β1·m + (1-β1)·g            v ← β2·v + (1-β2)·g²
    m̂ = m / (1-β1^t)              v̂ = v / (1-β2^t)
    θ ← θ - lr·λ·θ - lr·m̂ / (√v̂ + ε)

The decay term lr·λ·θ is *decoupled*: it shrinks θ directly instead of being added to g
(which Adam would rescale). Like PyTorch and GPT-3 we scale it by the scheduled lr.
Paper App. A.1 values: peak lr 2e-4, β1 0.9, β2 0.95, ε 1e-8, λ 0.1.

Parameter groups (the GPT convention): weight decay on the weight matrices of the
blocks only; none on biases, LayerNorm gains/shifts, or the token and position
embeddings. Each ``Parameter`` carries this as ``p.weight_decay``, set where the layer is
built (``nn.Linear`` weights: yes; everything else: no).

Sparse weights need no special case: a pruned weight is 0 and its gradient is exactly
0, so m = v = 0, the update is 0/(0+ε) = 0 and the decay is lr·λ·0 = 0 -- it stays
exactly 0 forever (tested in tests/test_sparse.py).

Schedule (App. A.1): linear warmup over the first 10% of steps, then cosine decay to
10% of the peak. Step s = 0..N-1 uses ``lr_schedule(s, N)``: (s+1)/W · peak during warmup
(first value peak/W rather than a wasted lr of 0; the peak at s = W-1), then
min + ½(peak-min)(1 + cos(π·(s-W)/(N-1-W))) from s = W (peak) to s = N-1 (min = 2e-5).

``adamw_update`` below is the update as the paper writes it, one line per equation. With
``AdamW(..., fast=True)`` the speed layer's twin runs instead (fast/adamw.py: the same
update in place, block by block on all cores; equal up to rounding).

Does not handle: per-group learning rates, AMSGrad, fused multi-tensor kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .nn import Parameter, kernels


@dataclass(frozen=True)
class AdamWConfig:
    lr: float = 2e-4  # peak learning rate (App. A.1)
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float | None = 1.0  # global-norm clipping threshold (GPT-3's value; None = off)


def lr_schedule(step: int, total_steps: int, peak: float = 2e-4, warmup_frac: float = 0.1, min_ratio: float = 0.1) -> float:
    """Learning rate for step ``step`` of ``total_steps``: linear warmup, then cosine (App. A.1)."""
    if not 0 <= step < total_steps:
        raise ValueError(f"step {step} outside [0, {total_steps})")
    warmup = max(1, round(warmup_frac * total_steps)) if warmup_frac > 0 else 0
    min_lr = min_ratio * peak
    if step < warmup:
        return peak * (step + 1) / warmup
    decay_steps = total_steps - 1 - warmup
    if decay_steps <= 0:
        return peak
    progress = (step - warmup) / decay_steps  # 0 at the end of warmup, 1 at the last step
    return min_lr + 0.5 * (peak - min_lr) * (1.0 + math.cos(math.pi * progress))


def global_grad_norm(params: list[Parameter]) -> float:
    """√(Σ_p ‖g_p‖²) over every parameter that has a gradient.

    Each ‖g_p‖² is a dot product in the gradient's own dtype; the sum over parameters
    and the square root are taken in Python float (float64).
    """
    total = 0.0
    for p in params:
        if p.grad is not None:
            g = p.grad.reshape(-1)
            total += float(np.dot(g, g))
    return math.sqrt(total)


def adamw_update(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, t: int, lr: float, beta1: float,
                 beta2: float, eps: float, weight_decay: float) -> None:  # fmt: skip
    """Step t of AdamW for one parameter θ with gradient g, updating θ and its moments m, v in place.

    Loshchilov & Hutter 2019, Alg. 2, with the decay scaled by the scheduled lr (as PyTorch
    and GPT-3 do); ``weight_decay`` is λ, or 0 for a parameter outside the decayed group.
    """
    m[:] = beta1 * m + (1 - beta1) * g  # m ← β1 m + (1-β1) g
    v[:] = beta2 * v + (1 - beta2) * g * g  # v ← β2 v + (1-β2) g²
    m_hat = m / (1 - beta1**t)  # m̂ = m / (1-β1^t)
    v_hat = v / (1 - beta2**t)  # v̂ = v / (1-β2^t)
    if weight_decay:
        theta -= lr * weight_decay * theta  # θ ← θ - lr·λ·θ (decoupled)
    theta -= lr * m_hat / (np.sqrt(v_hat) + eps)  # θ ← θ - lr·m̂ / (√v̂ + ε)


class AdamW:
    """AdamW over named parameters; state is exposed for checkpoints via ``state_dict``."""

    def __init__(self, named_params, config: AdamWConfig = AdamWConfig(), fast: bool = False):
        self.named = list(named_params)
        self.config = config
        self.fast = fast  # update with the speed layer's twin of adamw_update (fast/adamw.py)
        self.t = 0  # number of steps taken
        self.m = {name: np.zeros_like(p.data) for name, p in self.named}
        self.v = {name: np.zeros_like(p.data) for name, p in self.named}

    @property
    def params(self) -> list[Parameter]:
        return [p for _, p in self.named]

    def zero_grad(self) -> None:
        for _, p in self.named:
            p.grad = None

    def clip_grad_norm(self) -> float:
        """Scale all gradients by min(1, c / ‖g‖) and return the norm before clipping."""
        norm = global_grad_norm(self.params)
        c = self.config.grad_clip
        if c is not None and norm > c:
            scale = c / (norm + 1e-6)
            for p in self.params:
                if p.grad is not None:
                    p.grad *= np.asarray(scale, dtype=p.grad.dtype)
        return norm

    def step(self, lr: float) -> None:
        """One AdamW update of every parameter with a gradient, at learning rate ``lr``."""
        cfg = self.config
        self.t += 1
        update = kernels(fast=True).adamw_update if self.fast else adamw_update
        for name, p in self.named:
            if p.grad is not None:
                decay = cfg.weight_decay if p.weight_decay else 0.0  # the parameter's group (module docstring)
                update(p.data, p.grad, self.m[name], self.v[name], t=self.t, lr=lr, beta1=cfg.beta1, beta2=cfg.beta2,
                       eps=cfg.eps, weight_decay=decay)  # fmt: skip

    def state_dict(self) -> dict[str, np.ndarray]:
        """Moments keyed ``m/<param name>``, ``v/<param name>``, plus the step count ``t``."""
        state = {f"m/{n}": a for n, a in self.m.items()}
        state.update({f"v/{n}": a for n, a in self.v.items()})
        state["t"] = np.array(self.t, dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for name, p in self.named:
            for key, store in (("m", self.m), ("v", self.v)):
                a = np.asarray(state[f"{key}/{name}"])
                if a.shape != p.shape:
                    raise ValueError(f"optimizer state {key}/{name} has shape {a.shape}, expected {p.shape}")
                store[name] = a.astype(p.dtype, copy=True)
        self.t = int(state["t"])
