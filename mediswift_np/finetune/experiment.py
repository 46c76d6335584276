"""A whole fine-tuning experiment: every stage for one seed (``run_seed``), then the grid
search on the first seed and the remaining seeds of the chosen point (``finetune``).

The grid over batch size × learning rate is chosen on the final stage's validation
metric (first best on ties, in grid order); ``seeds`` runs of the chosen point give mean
± sample std of the test metrics, next to the majority-class baseline. An unlabelled
stage (PQA-U) is pseudo-labelled by the model of the previous stage.

Does not handle: k-fold cross-validation, running seeds in parallel.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..tasks import TASKS, TaskData, hoc, pubmedqa, stratified_split
from ..tasks.evaluation import evaluate, majority_baseline, mean_std
from ..tasks.metrics import FAILED
from ..tasks.prompting import Encoder, predict
from ..tasks.stages import load_stages
from .checkpoint_io import load_init, save_finetuned
from .config import FinetuneConfig
from .start import build_model, pretrained_length
from .train import train_stage


def run_seed(cfg: FinetuneConfig, init, stages: list[TaskData], batch_size: int, lr: float, seed: int, progress: bool) -> dict[str, Any]:
    """All stages for one seed and one grid point; returns the model, prompt and test scores."""
    arrays, state, tokenizer = init
    rng = np.random.default_rng([cfg.seed, seed, 7])
    model, prompt, reactivated = build_model(arrays, state, cfg.prompt_length, rng, cfg.prompt_init, cfg.keep_masks, cfg.revived_init)
    model.reseed_dropout([cfg.seed, seed, 8])
    labels = {ex.label for st in stages for ex in st.train + st.val if ex.label is not None}
    context = pretrained_length(state, model.config.n_ctx)  # never use a position pre-training did not train
    encoder = Encoder.build(tokenizer, TASKS[cfg.task], cfg.prompt_length, context, sorted(labels))
    prompt_start = None if prompt is None else prompt.data.copy()
    stage_logs = []
    for k, data in enumerate(stages):
        if data.train and data.train[0].label is None:  # an unlabelled stage (PQA-U): pseudo-label it
            if k == 0:
                raise UserError(f"{data.description}: an unlabelled stage needs an earlier stage whose model labels it")
            guessed, _, _ = predict(model, encoder, prompt, data.train, progress=progress, desc="pseudo-labelling")
            labelled = [dataclasses.replace(ex, label=g) for ex, g in zip(data.train, guessed) if g != FAILED]
            if len(labelled) < 2:
                raise UserError(f"{data.description}: the previous stage's model gave {len(labelled)} parseable pseudo-label(s); train it longer")
            train, val = stratified_split(labelled, cfg.val_fraction, rng)
            data = dataclasses.replace(data, train=train, val=val)
        log = train_stage(model, prompt, encoder, data, cfg.task, cfg, batch_size, lr, rng, progress,
                          desc=f"stage {k + 1}/{len(stages)} seed {seed} bs {batch_size} lr {lr:g}")  # fmt: skip
        stage_logs.append({"data": data.description, "n_train": len(data.train), "n_val": len(data.val), **log})
    test = evaluate(model, prompt, encoder, stages[-1].test, cfg.task, progress=progress)
    moved = 0.0 if prompt is None else float(np.linalg.norm(prompt.data - prompt_start) / np.linalg.norm(prompt_start))
    return {"seed": seed, "batch_size": batch_size, "lr": lr, "model": model, "prompt": prompt, "encoder": encoder, "prompt_change": moved,
            "reactivated": reactivated, "stages": stage_logs, "val_score": stage_logs[-1]["val_score"], "test": test}  # fmt: skip


def finetune(cfg: FinetuneConfig, out: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Grid on the first seed, then ``cfg.seeds`` runs of the chosen point; the summary (and checkpoint)."""
    start = time.perf_counter()
    cfg.validate()
    init = load_init(cfg.init)
    stages = load_stages(
        cfg.task, cfg.data, test=cfg.test or None, synthetic_sizes=(cfg.n_train, cfg.n_val, cfg.n_test),
        synthetic_evidence=cfg.synthetic_evidence, seed=cfg.seed, allow_overlap=cfg.allow_overlap,
        val_fraction=cfg.val_fraction, max_train=cfg.max_train or None, max_val=cfg.max_val or None, max_test=cfg.max_test or None,
    )  # fmt: skip
    grid = [run_seed(cfg, init, stages, b, lr, 0, progress) for b, lr in cfg.grid_points()]
    grid_scores = [{"batch_size": r["batch_size"], "lr": r["lr"], "val_score": r["val_score"], "history": r["stages"][-1]["history"]} for r in grid]
    chosen = max(grid, key=lambda r: r["val_score"])  # first best on ties (grid order)
    runs = [chosen] + [run_seed(cfg, init, stages, chosen["batch_size"], chosen["lr"], s, progress) for s in range(1, cfg.seeds)]

    metric = TASKS[cfg.task].metric_name
    summary: dict[str, Any] = {"task": cfg.task, "data": stages[-1].description}
    if cfg.task == "hoc":
        summary["level"] = hoc.LEVEL
    scores = {"accuracy": "accuracy", metric: metric}  # summary key -> score of tasks.evaluation.evaluate
    if cfg.task == "pubmedqa":  # macro_f1 is over yes/no/maybe; evaluation.py's is over the labels that occur
        scores["macro_f1_official"] = "macro_f1_file"
    for key, score in scores.items():
        per_seed = [r["test"][score] for r in runs]
        summary[key], summary[f"{key}_std"] = mean_std(per_seed)
        summary[f"{key}_per_seed"] = per_seed
    base = majority_baseline(cfg.task, stages)
    summary.update({f"majority_{k}": v for k, v in base.items()})
    best = max(runs, key=lambda r: r["val_score"])
    summary.update({
        "n_train": len(stages[-1].train), "n_val": len(stages[-1].val), "n_test": len(stages[-1].test), "seeds": cfg.seeds,
        "unparseable": sum(r["test"]["unparseable"] for r in runs), "unparseable_per_seed": [r["test"]["unparseable"] for r in runs],
        "truncated_test_sources": runs[0]["test"]["truncated"], "prompt_length": cfg.prompt_length, "loss_on": cfg.loss_on,
        "context_length": chosen["encoder"].n_ctx, "keep_masks": cfg.keep_masks, "revived_init": cfg.revived_init,
        "batch_size": chosen["batch_size"], "lr": chosen["lr"], "grid": grid_scores, "reactivated_weights": chosen["reactivated"],
        "epochs_run": [[s["epochs_run"] for s in r["stages"]] for r in runs], "best_epochs": [[s["best_epoch"] for s in r["stages"]] for r in runs],
        "finetune_flops_counted": sum(s["flops"] for r in grid + runs[1:] for s in r["stages"]),  # sparse-equivalent
        "finetune_flops_executed": sum(s["flops_executed"] for r in grid + runs[1:] for s in r["stages"]),  # = counted once densified
        "stages": [st.description for st in stages], "saved_seed": best["seed"],
        "prompt_change": [r["prompt_change"] for r in runs],  # ‖P_end − P_start‖ / ‖P_start‖ per seed
        "history_per_seed": [r["stages"][-1]["history"] for r in runs],  # last stage: per epoch train/val loss, val score
        "test_keys": [ex.key for ex in stages[-1].test], "predictions_per_seed": [list(r["test"]["predictions"]) for r in runs],
    })  # fmt: skip
    if cfg.task == "pubmedqa":
        summary["confusion_matrix"] = best["test"]["confusion_matrix"]  # rows: truth yes/no/maybe; columns: prediction
        summary["failed_per_class"] = best["test"]["failed_per_class"]  # per truth: unparseable answers (the missing column)
        summary["per_class_f1"] = best["test"]["per_class_f1"]
    else:
        summary["per_class"] = best["test"]["per_class"]
    if out is not None:
        test = stages[-1].test
        for r in runs:
            if cfg.task == "pubmedqa":
                pubmedqa.write_predictions(out / f"test_predictions_seed{r['seed']}.json", dict(zip([ex.key for ex in test], r["test"]["predictions"])))
            else:
                hoc.write_predictions(out / f"test_predictions_seed{r['seed']}.txt", r["test"]["predictions"])
        save_finetuned(out, best, cfg, init[2], {k: v for k, v in summary.items() if k not in ("grid", "test_keys", "predictions_per_seed")})
        summary["checkpoint"] = str(out)
    summary["wall_seconds"] = round(time.perf_counter() - start, 3)
    return summary
