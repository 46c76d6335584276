"""One fine-tuning stage: epochs of ``training.train_step`` with early stopping (App. A.2/A.3).

Every weight of the densified model and the soft prompt are trained with AdamW, linear
warmup over 10% of the steps then cosine decay; after each epoch the validation metric
(ties: the lower validation target loss) decides whether this epoch is the best so far;
``patience`` epochs without improvement stop the stage, and the best epoch's weights are
put back. A NaN or infinite training loss, weights or validation loss stop the run with
``TrainingDiverged``, so no diverged epoch is kept.

FLOPs of the forward + backward passes are counted per stage twice (autograd/counter.py):
``flops`` is the sparse-equivalent count, ``flops_executed`` what the CPU ran. After
densification there are no masks and the two are equal; with ``--keep-masks`` the
executed count is the dense one plus the W ⊙ m products (sparse.py).

Does not handle: gradient accumulation, resuming a stage, learning-rate search (the grid
is in experiment.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import checkpoint
from ..autograd import count_flops
from ..model import GPT
from ..nn import Parameter
from ..optim import AdamW, AdamWConfig, lr_schedule
from ..tasks import TaskData
from ..tasks.evaluation import evaluate, target_loss
from ..tasks.prompting import Encoder, make_batch
from ..training import TrainingDiverged, train_step
from .config import FinetuneConfig

PROMPT_KEY = checkpoint.PROMPT_KEY  # the soft prompt's array name in checkpoints


def train_stage(model: GPT, prompt: Parameter | None, encoder: Encoder, data: TaskData, task: str, cfg: FinetuneConfig,
                batch_size: int, lr: float, rng: np.random.Generator, progress: bool, desc: str) -> dict[str, Any]:  # fmt: skip
    """Fine-tune every weight (and the prompt) on ``data.train``; keep the best epoch on ``data.val``."""
    named = list(model.named_parameters()) + ([(PROMPT_KEY, prompt)] if prompt is not None else [])
    opt = AdamW(named, AdamWConfig(lr=lr, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip), fast=True)
    model.use_fast()  # the speed layer (mediswift_np/fast), as in pre-training
    steps_per_epoch = math.ceil(len(data.train) / batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    best: dict[str, Any] | None = None
    history, step, flops, flops_executed = [], 0, 0, 0
    bar = tqdm(total=total_steps, desc=desc, unit="step", disable=not progress, leave=False)
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(data.train))
        losses = []
        for i in range(steps_per_epoch):
            batch = [data.train[int(j)] for j in order[i * batch_size : (i + 1) * batch_size]]
            idx, targets, loss_mask = make_batch(encoder, batch, cfg.loss_on)
            step_lr = lr_schedule(step, total_steps, peak=lr)  # App. A.2: 10% linear warmup, then cosine
            with count_flops() as counted:  # Eq. 3 (Eq. 2 when n = 0); a non-finite loss is not applied
                value, _ = train_step(opt, lambda: model(idx, targets, loss_mask, prompt=prompt)[1], step_lr)
            if not math.isfinite(value):
                raise TrainingDiverged(f"{desc}: loss became {value} at step {step} (try a lower --lr)")
            flops += counted.total()
            flops_executed += counted.total(executed=True)
            losses.append(value)
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{value:.3f}")
        model.eval()
        train_loss = float(np.mean(losses))
        bad = checkpoint.first_nonfinite({name: p.data for name, p in named})  # the last update may have diverged
        if bad is not None:
            raise TrainingDiverged(f"{desc}: {bad} became NaN or infinite in epoch {epoch + 1} (try a lower --lr)")
        with np.errstate(over="ignore", invalid="ignore"):  # huge but finite weights: caught just below
            val = evaluate(model, prompt, encoder, data.val, task) if data.val else {"selection": 0.0}
            val_loss = target_loss(model, prompt, encoder, data.val) if data.val else train_loss
        if not math.isfinite(val_loss):
            raise TrainingDiverged(f"{desc}: validation loss became {val_loss} in epoch {epoch + 1} (try a lower --lr)")
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_score": val["selection"]})
        if best is None or (val["selection"], -val_loss) > (best["val_score"], -best["val_loss"]):
            best = {"epoch": epoch + 1, "val_score": val["selection"], "val_loss": val_loss, "weights": model.state_dict(),
                    "prompt": None if prompt is None else prompt.data.copy()}  # fmt: skip
        elif epoch + 1 - best["epoch"] >= cfg.patience:
            break  # early stopping: the model began to overfit (App. A.2)
    bar.close()
    model.load_state_dict(best["weights"])
    if prompt is not None:
        prompt.data = best["prompt"]
    return {"best_epoch": best["epoch"], "epochs_run": len(history), "steps": step, "val_score": best["val_score"],
            "val_loss": best["val_loss"], "history": history, "flops": flops,
            "flops_executed": flops_executed}  # fmt: skip
