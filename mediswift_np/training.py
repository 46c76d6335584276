"""One optimizer step, its options and its failure, shared by pre-training (pretrain/) and fine-tuning (finetune/).

Everything around the step differs between the two -- where batches come from, the
mask updates of SET/RigL, FLOP counting, evaluation, early stopping, checkpoints -- but
the step itself is the same five lines (nanoGPT's ``train.py`` loop, without gradient
accumulation)::

    optimizer.zero_grad()          # no gradient left over from the previous step
    loss = compute_loss()          # forward pass and loss: Eq. 1 (pre-training) or Eq. 3 (fine-tuning)
    loss.backward()                # ∂loss/∂θ into every parameter's .grad (masked: 0 at pruned weights)
    optimizer.clip_grad_norm()     # g ← g · min(1, c / ‖g‖), c = the optimizer's grad_clip
    optimizer.step(lr)             # AdamW at this step's learning rate (optim.lr_schedule)

A step whose loss is NaN or infinite is not applied: ``train_step`` returns the loss
without clipping or updating, and the caller stops the run with its own message (which
names the last good checkpoint, or the fine-tuning stage). ``update=False`` stops after
the backward pass: RigL's mask-update steps, where the mask update replaces the
optimizer step (Evci et al. 2020, Alg. 1; sparse/dst.py).

``check_optimizer_options`` is the one check of the options both command lines expose
(peak learning rate, weight decay, clipping threshold), and ``TrainingDiverged`` the one
error both raise when a loss or a weight becomes NaN or infinite.

Does not handle: gradient accumulation over micro-batches, mixed precision, several
optimizers.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .autograd import Tensor
from .errors import UserError
from .optim import AdamW


class TrainingDiverged(UserError):
    """The loss or the weights became NaN or infinite (too high a learning rate, usually)."""


def check_optimizer_options(lrs: Sequence[float], weight_decay: float, grad_clip: float, lr_options: str = "--lr") -> None:
    """One-line errors for options AdamW cannot use: every peak learning rate positive and
    finite, weight decay >= 0 and finite, the global-norm clipping threshold > 0 (inf = no
    clipping; a negative one would flip every gradient, 0 would train nothing).

    Example:
        >>> check_optimizer_options([2e-4], weight_decay=0.1, grad_clip=float("inf"))
        >>> check_optimizer_options([0.0], weight_decay=0.1, grad_clip=1.0)
        Traceback (most recent call last):
        mediswift_np.errors.UserError: learning rates (--lr) must be positive and finite, got 0.0
    """
    for lr in lrs:
        if not (lr > 0 and math.isfinite(lr)):
            raise UserError(f"learning rates ({lr_options}) must be positive and finite, got {lr}")
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise UserError(f"--weight-decay must be >= 0 and finite, got {weight_decay}")
    if not grad_clip > 0:
        raise UserError(f"--grad-clip must be > 0 (the global gradient-norm threshold; inf = no clipping), got {grad_clip}")


def train_step(optimizer: AdamW, compute_loss: Callable[[], Tensor], lr: float, update: bool = True) -> tuple[float, float]:
    """One optimizer step; returns (loss, global gradient norm before clipping).

    ``compute_loss`` runs the forward pass of one batch and returns the scalar loss
    tensor, e.g. ``lambda: model(x, y)[1]``. With a non-finite loss, or ``update=False``
    (gradients only), nothing is updated and the norm returned is NaN.

    Example (one step on L = (θ - 3)², θ = 0: gradient -6, clipped to norm 1, then AdamW's
    first step moves θ by lr·sign(g) = +0.1 whatever the scale of g):
        >>> from mediswift_np.nn import Parameter
        >>> from mediswift_np.optim import AdamWConfig
        >>> theta = Parameter(np.zeros(1))
        >>> opt = AdamW([("theta", theta)], AdamWConfig(weight_decay=0.0, grad_clip=1.0))
        >>> loss, norm = train_step(opt, lambda: ((theta - 3.0) ** 2).sum(), lr=0.1)
        >>> loss, norm, round(float(theta.data[0]), 6)
        (9.0, 6.0, 0.1)
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging step is caught below, not warned about
        optimizer.zero_grad()  # 1. forget the previous step's gradients
        loss = compute_loss()  # 2. forward pass and loss
        loss.backward()  # 3. backward pass
        value = loss.item()
        if not (update and math.isfinite(value)):
            return value, math.nan  # gradients only, or diverged: never apply this update (the caller stops the run)
        grad_norm = optimizer.clip_grad_norm()  # 4. clip the global gradient norm
        optimizer.step(lr)  # 5. the AdamW update at this step's learning rate
    return value, grad_norm
