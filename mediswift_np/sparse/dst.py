"""Dynamic sparse training: SET and RigL beside static sparsity (beyond the paper).

The paper's Limitations (Sec. 7) name dynamic sparse training (DST) as the next step
it could not take on its hardware. Here the sparsity level stays fixed but the mask
moves: every ΔT steps, in every sparsified matrix,

1. **drop** the k active weights of smallest magnitude |θ|, with
   k = round(f_t · nnz) and f_t = α/2 · (1 + cos(π t / T_end)) (RigL's cosine decay;
   no updates after T_end = 0.75 T);
2. **grow** k of the positions that are inactive after the drop (just-dropped ones
   included, as in RigL's Alg. 1):
   - SET (Mocanu et al. 2018): uniformly at random;
   - RigL (Evci et al. 2020): those with the largest dense gradient |∇_θ L|, computed
     only on update steps (``linear.dense_weight_gradients``).
3. grown weights start at exactly 0 and their AdamW moments are reset to 0; dropped
   weights and moments become 0, so "masked ⇒ exactly 0" keeps holding.

Where the update sits in the step (``mask_update_step``) follows each method's source:

- **RigL** (Evci et al. 2020, Alg. 1: ``if t mod ΔT = 0 and t < T_end: update the
  connections, else: θ ← θ − α∇L``): the mask update *replaces* the optimizer step.
  Forward and backward run at θ_t (with dense weight gradients); then drop by |θ_t| and
  grow by |∇L(θ_t)| -- both criteria at the same weights -- and there is no AdamW update,
  so AdamW's step count t does not advance on those steps. (The authors' code,
  ``SparseRigLOptimizer.apply_gradients``, does the same: mask update or gradient step.)
- **SET** (Mocanu et al. 2018 prune and regrow after training, at the end of an epoch):
  the optimizer step is applied first and the mask update follows it, dropping by
  |θ_{t+1}|; the order of the RigL authors' ``SparseSETOptimizer`` too.

The two orders give different masks when the step changes which active weight is the
smallest (tests/test_dst.py works a 2 × 3 example by hand).

The number of nonzeros of every matrix (query, key and value of ``c_attn`` counted
separately) never changes. With no update steps this is exactly static sparsity.
Ties are broken by position (stable sorts), so runs are reproducible.

Does not handle: per-layer sparsity redistribution (ERK), gradient accumulation for
RigL's scores, structured growth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..autograd import Tensor
from ..errors import UserError
from ..optim import AdamW
from ..training import train_step
from .linear import dense_weight_gradients
from .masks import sparsified_parts
from .scipy_path import layout_of

METHODS = ("static", "set", "rigl")


@dataclass(frozen=True)
class DSTConfig:
    method: str = "static"  # static | set | rigl
    update_every: int = 50  # ΔT: steps between mask updates (0 = never)
    drop_fraction: float = 0.3  # α: fraction of active weights replaced at the first update (RigL's default)
    end_fraction: float = 0.75  # no updates after this fraction of training (RigL's T_end)

    def validate(self) -> "DSTConfig":
        if self.method not in METHODS:
            raise UserError(f"unknown sparse method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.update_every < 0:
            raise UserError(f"--mask-update-every must be >= 0, got {self.update_every}")
        if not 0.0 <= self.drop_fraction <= 1.0:
            raise UserError(f"--drop-fraction must be in [0, 1], got {self.drop_fraction}")
        return self


def drop_fraction_at(step: int, total_steps: int, cfg: DSTConfig) -> float:
    """f_t = α/2 (1 + cos(π t / T_end)) for t < T_end = end_fraction · T, else 0 (RigL Eq. 1)."""
    t_end = cfg.end_fraction * total_steps
    if step >= t_end:
        return 0.0
    return 0.5 * cfg.drop_fraction * (1.0 + math.cos(math.pi * step / t_end))


def is_update_step(step: int, total_steps: int, cfg: DSTConfig) -> bool:
    """Masks change at step ``step`` (0-based) when it ends a ΔT period before T_end
    (RigL: instead of that step's optimizer update; SET: after it; see ``mask_update_step``)."""
    if cfg.method == "static" or cfg.update_every == 0:
        return False
    t = step + 1
    return t % cfg.update_every == 0 and t < cfg.end_fraction * total_steps


def _update_block(mask, weight, score, k: int, method: str, rng: np.random.Generator):
    """Drop k smallest-|w| active entries, grow k inactive ones; return (new mask, grown, dropped)."""
    flat_mask = mask.reshape(-1)
    active = np.flatnonzero(flat_mask)
    order = np.argsort(np.abs(weight.reshape(-1)[active]), kind="stable")  # smallest magnitude first
    dropped = active[order[:k]]
    new = flat_mask.copy()
    new[dropped] = False
    candidates = np.flatnonzero(~new)  # inactive after the drop (RigL Alg. 1: i ∉ θ \\ I_drop)
    if method == "set":
        grown = rng.choice(candidates, size=k, replace=False)
    else:  # rigl: largest |dense gradient|, ties -> lowest position
        grown = candidates[np.argsort(-np.abs(score.reshape(-1)[candidates]), kind="stable")[:k]]
    new[grown] = True
    return new.reshape(mask.shape), grown, dropped


def update_masks(model, optimizer, fraction: float, method: str, rng: np.random.Generator) -> dict[str, int]:
    """One SET/RigL mask update of every masked matrix; returns counts of changed weights."""
    if method not in ("set", "rigl"):
        raise ValueError(f"mask updates need method set or rigl, got {method!r}")
    stats = {"dropped": 0, "grown": 0, "regrown": 0}
    for name, p in model.named_parameters():
        if p.mask is None:
            continue
        layout = layout_of(p)
        if method == "rigl" and layout.dense_grad is None:
            raise RuntimeError(f"RigL update without a dense gradient for {name}: run the step inside dense_weight_gradients()")
        parts = len(sparsified_parts(name))
        width = p.shape[1] // parts  # c_attn: query | key | value, each updated on its own
        new_mask = p.mask.copy()
        m, v = optimizer.m[name], optimizer.v[name]
        for j in range(parts):
            cols = slice(j * width, (j + 1) * width)
            block = new_mask[:, cols]
            k = round(fraction * int(block.sum()))
            if k == 0:
                continue
            score = None if method == "set" else layout.dense_grad[:, cols]
            updated, grown, dropped = _update_block(block, p.data[:, cols], score, k, method, rng)
            new_mask[:, cols] = updated
            changed = np.unravel_index(np.concatenate([dropped, grown]), block.shape)
            for array in (p.data, m, v):  # dropped and grown: weight and AdamW moments exactly 0
                array[:, cols][changed] = 0.0  # a view of the column block, so this writes through
            stats["dropped"] += k
            stats["grown"] += k
            stats["regrown"] += int(np.isin(grown, dropped).sum())
        layout.dense_grad = None
        p.mask = new_mask  # a new array object: the sparse layout is rebuilt on next use
    return stats


def mask_update_step(model, optimizer: AdamW, compute_loss: Callable[[], Tensor], lr: float, fraction: float, method: str,
                     rng: np.random.Generator) -> float:  # fmt: skip
    """A training step that ends a ΔT period: the loss, and the mask update in each method's order.

    RigL (Alg. 1): gradients (dense ones too) at θ_t, then the mask update *instead of* the
    optimizer step. SET: the optimizer step, then the mask update. ``fraction`` is f_t
    (``drop_fraction_at``). Returns the loss; a non-finite loss changes nothing (the caller stops).
    """
    if method == "rigl":
        with dense_weight_gradients():  # |∇L| at every position, for the grow criterion
            loss, _ = train_step(optimizer, compute_loss, lr, update=False)  # Alg. 1: no θ ← θ − α∇L on this step
    else:
        loss, _ = train_step(optimizer, compute_loss, lr)  # SET: train, then prune and regrow
    if math.isfinite(loss):
        update_masks(model, optimizer, fraction, method, rng)
    return loss
