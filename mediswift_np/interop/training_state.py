"""The training state of an export: what a run needs to *continue*, not only restart.

A pre-training checkpoint (``kind: "pretrain"``) exports two files beside the Hugging
Face ones (see :mod:`.hf`)::

    optimizer.safetensors   AdamW's state exactly as ``optim.AdamW.state_dict`` names it:
                            m/<GPT-2 name> and v/<GPT-2 name> (float32, the parameter's
                            shape) for every parameter, and t (int64, shape ()) = the
                            number of steps taken. Pruned positions hold exactly 0 in m
                            and v (their gradient is 0; see optim.py), and import checks it.
    training_state.json     {"format": "mediswift_np training state v1",
                             "state":    the checkpoint's state.json minus the names and
                                         hashes of its own files: step, the pre-training
                                         config ("pretrain"), the model config, the data,
                                         dropout and mask RNG states, losses, FLOPs;
                             "schedule": the position in App. A.1's schedule: step, total
                                         steps, peak lr and the lr of the next step;
                             "adamw":    beta1, beta2, eps, weight_decay, grad_clip and
                                         "decay": the parameter names with weight decay;
                             "sha256":   the SHA-256 of model.safetensors,
                                         sparsity_masks.safetensors and optimizer.safetensors}

"state" is stored whole and comes back whole, so export -> import gives back the arrays
and the resumable state bit for bit (``python -m mediswift_np.pretrain --resume`` then
continues exactly as from the original checkpoint). "schedule" and "adamw" are derived
from "state" and the model; they are there for other trainers to read (reference/
train_ddp.py does), and import recomputes and compares them. The hashes tie the state to
the weights it belongs to: weights changed after the export (say, fine-tuned in PyTorch)
with old moments beside them are refused rather than silently resumed from.

Does not handle: fine-tuning checkpoints (their optimizer state is not kept), optimizers
other than AdamW, sharded optimizer state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import sha256_file
from ..errors import UserError
from ..fileio import atomic_write_json
from ..model import GPT
from ..optim import AdamWConfig, lr_schedule
from . import hf_config
from .safetensors_io import load_safetensors, save_safetensors

OPTIMIZER_FILE = "optimizer.safetensors"
TRAINING_STATE_FILE = "training_state.json"
FORMAT = "mediswift_np training state v1"
MANIFEST_KEYS = ("format_version", "array_file", "array_sha256", "tokenizer_sha256", "state_sha256")  # one checkpoint's own files and hashes
ADAM_PREFIX = "adam/"  # checkpoint.model_arrays: AdamW's state_dict under this prefix


@dataclass
class TrainingState:
    """AdamW's ``state_dict`` (m/<name>, v/<name>, t) and the checkpoint's resumable state."""

    moments: dict[str, np.ndarray]
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])


def from_checkpoint(arrays: dict[str, np.ndarray], state: dict[str, Any]) -> TrainingState | None:
    """The training state of a pre-training checkpoint; None for any other kind."""
    moments = {k.removeprefix(ADAM_PREFIX): a for k, a in arrays.items() if k.startswith(ADAM_PREFIX)}
    if state.get("kind") != "pretrain" or not moments:
        return None
    return TrainingState(moments, {k: v for k, v in state.items() if k not in MANIFEST_KEYS})


def checkpoint_arrays(training: TrainingState) -> dict[str, np.ndarray]:
    """The moments under the names ``checkpoint.model_arrays`` gives them (adam/m/<name>, ...)."""
    return {ADAM_PREFIX + k: a for k, a in training.moments.items()}


def derived_fields(training: TrainingState, model: GPT) -> dict[str, Any]:
    """"schedule" and "adamw" of training_state.json, from the pre-training config and the model."""
    pre, step = training.state.get("pretrain"), training.step
    if not isinstance(pre, dict) or not {"steps", "lr", "weight_decay", "grad_clip"} <= set(pre):
        raise UserError("training state: 'pretrain' must be the run's config with steps, lr, weight_decay and grad_clip")
    opt = AdamWConfig(lr=pre["lr"], weight_decay=pre["weight_decay"], grad_clip=pre["grad_clip"])  # as pretrain builds it
    return {
        "schedule": {
            "function": "mediswift_np.optim.lr_schedule",  # App. A.1: 10% linear warmup, cosine to 10% of the peak
            "step": step, "total_steps": pre["steps"], "peak_lr": opt.lr,
            "next_lr": lr_schedule(step, pre["steps"], peak=opt.lr) if step < pre["steps"] else None,
        },
        "adamw": {
            "beta1": opt.beta1, "beta2": opt.beta2, "eps": opt.eps, "weight_decay": opt.weight_decay, "grad_clip": opt.grad_clip,
            "decay": [name for name, p in model.named_parameters() if p.weight_decay],  # optim.py's parameter groups
        },
    }  # fmt: skip


def save_optimizer(path: Path, training: TrainingState) -> list[Path]:
    meta = {"format": "mediswift_np AdamW", "meaning": "m, v: AdamW moments per parameter; t: steps taken (optim.py)"}
    return [save_safetensors(path, training.moments, meta)]


def save_sidecar(out: Path, training: TrainingState, model: GPT, hashed: list[str]) -> list[Path]:
    """Write training_state.json; ``hashed`` names the files already written that it vouches for."""
    sidecar = {"format": FORMAT, "state": training.state, **derived_fields(training, model)}
    sidecar["sha256"] = {name: sha256_file(out / name) for name in hashed}
    return [atomic_write_json(out / TRAINING_STATE_FILE, sidecar)]


def read(d: Path, model: GPT) -> TrainingState:
    """Read and check the training state of export directory ``d`` for ``model`` (weights and masks loaded)."""
    side_path, opt_path = d / TRAINING_STATE_FILE, d / OPTIMIZER_FILE
    if not side_path.is_file():
        raise UserError(f"{d}: {OPTIMIZER_FILE} without {TRAINING_STATE_FILE} (an incomplete export)")
    side = hf_config.read_json_object(side_path)
    if side.get("format") != FORMAT:
        raise UserError(f"{side_path}: format is {side.get('format')!r}, expected {FORMAT!r}")
    hashes, state = side.get("sha256"), side.get("state")
    if not isinstance(hashes, dict) or OPTIMIZER_FILE not in hashes or not isinstance(state, dict):
        raise UserError(f"{side_path}: needs 'state' and the 'sha256' of {OPTIMIZER_FILE}")
    for name, sha256 in hashes.items():
        if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
            raise UserError(f"{side_path}: 'sha256' names {name!r}, not a file of the export directory")
        if not (d / name).is_file():
            raise UserError(f"{d}: {name} is missing (named in {TRAINING_STATE_FILE})")
        if sha256_file(d / name) != sha256:
            raise UserError(f"{d / name}: truncated or modified since {TRAINING_STATE_FILE} was written (SHA-256 does not match)")
    if state.get("kind") != "pretrain" or not isinstance(state.get("step"), int) or isinstance(state.get("step"), bool):
        raise UserError(f"{side_path}: 'state' must be a pre-training state with an integer 'step'")
    if state.get("model") != model.config.to_dict():
        raise UserError(f"{side_path}: the model config in 'state' differs from config.json")
    training = TrainingState(load_safetensors(opt_path)[0], state)
    if {k: side.get(k) for k in ("schedule", "adamw")} != derived_fields(training, model):
        raise UserError(f"{side_path}: 'schedule' or 'adamw' does not follow from 'state' (edited by hand?)")
    check(training, model, str(opt_path))
    return training


def check(training: TrainingState, model: GPT, source: str) -> None:
    """The moments fit ``model``: exactly AdamW's keys, shapes and dtypes; finite; t = step;
    0 wherever the weight is pruned. The state has the config its schedule needs."""
    derived_fields(training, model)
    params = dict(model.named_parameters())
    expected = {f"{key}/{name}" for name in params for key in ("m", "v")} | {"t"}
    moments = training.moments
    if set(moments) != expected:
        extra, missing = sorted(set(moments) - expected), sorted(expected - set(moments))
        raise UserError(f"{source}: " + (f"missing {missing[0]}" if missing else f"unexpected tensor {extra[0]}"))
    t = moments["t"]
    if t.shape != () or t.dtype != np.int64 or int(t) != training.step:
        raise UserError(f"{source}: t must be an int64 scalar equal to the step {training.step}, got {t.dtype} {t.shape} {t}")
    for name, p in params.items():
        for key in ("m", "v"):
            a = moments[f"{key}/{name}"]
            if a.shape != p.shape or a.dtype != np.float32:
                raise UserError(f"{source}: {key}/{name} is {a.dtype} {a.shape}, expected float32 {p.shape}")
            if not np.isfinite(a).all():
                raise UserError(f"{source}: {key}/{name} holds NaN or infinite values")
            if p.mask is not None and np.count_nonzero(a[~p.mask]):
                raise UserError(f"{source}: {key}/{name} is not 0 at pruned weights (their gradient is always 0)")
