"""Reading and writing fine-tuning checkpoints.

``load_init`` reads the starting checkpoint (pre-trained, fine-tuned or imported from
Hugging Face format) with its tokenizer, every hash verified; ``save_finetuned`` writes
the contract checkpoint -- dense weights plus ``prompt/embeddings`` (P, C), state
``kind: "finetune"`` -- and ``load_finetuned`` reads it back.

Does not handle: resuming an interrupted fine-tuning run (there are no optimizer moments
in a fine-tuned checkpoint).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoint
from ..model import GPT
from ..nn import Parameter
from ..tasks import TASKS
from .config import FinetuneConfig
from .train import PROMPT_KEY


def load_init(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """Arrays, state and tokenizer of the starting checkpoint: pre-trained, an earlier
    fine-tuning, or imported from Hugging Face format (``python -m mediswift_np.interop import``).
    Hashes and vocabulary sizes are checked here, as ``checkpoint.load_model`` does."""
    arrays, state, tokenizer = checkpoint.load_with_tokenizer(path)
    if state.get("kind") not in ("pretrain", "finetune", "imported"):
        raise checkpoint.CheckpointError(f"{path}: not a pre-training, fine-tuning or imported checkpoint (kind {state.get('kind')!r})")
    return arrays, state, tokenizer


def save_finetuned(out: Path, run: dict[str, Any], cfg: FinetuneConfig, tokenizer, metrics: dict[str, Any]) -> Path:
    """The contract checkpoint: dense weights + ``prompt/embeddings`` (P, C), state ``kind: "finetune"``."""
    arrays = checkpoint.model_arrays(run["model"])  # no masks after densify (with --keep-masks: the masks)
    if run["prompt"] is not None:
        arrays[PROMPT_KEY] = run["prompt"].data.astype(np.float32)
    fmt = TASKS[cfg.task]
    state = {"kind": "finetune", "step": sum(s["steps"] for s in run["stages"]), "model": run["model"].config.to_dict(),
             "task": cfg.task, "prompt_length": cfg.prompt_length, "pretrained_length": run["encoder"].n_ctx, "labels": list(fmt.labels), "target_prefix": fmt.target_prefix,
             "finetune": dataclasses.asdict(cfg), "seed": run["seed"], "batch_size": run["batch_size"], "lr": run["lr"],
             "stages": run["stages"],
             "metrics": metrics}  # fmt: skip
    return checkpoint.save(out, arrays, state, tokenizer)


def load_finetuned(directory) -> tuple[GPT, Parameter | None, Any, dict[str, Any]]:
    """(model, soft prompt or None, tokenizer, state) of a fine-tuned checkpoint."""
    arrays, state, tokenizer = checkpoint.load_with_tokenizer(directory)
    if state.get("kind") != "finetune":
        raise checkpoint.CheckpointError(f"{directory}: not a fine-tuning checkpoint")
    model = checkpoint.restore_model(arrays, state)
    prompt = Parameter(arrays[PROMPT_KEY]) if PROMPT_KEY in arrays else None
    return model, prompt, tokenizer, state
