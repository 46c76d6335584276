"""Dense fine-tuning with soft prompts: ``python -m mediswift_np.finetune --task {pubmedqa,hoc} --init CKPT``
(command line in ``__main__.py``).

The paper's fine-tuning (Sec. 2.2, 4, App. A.2-A.3) at whatever scale fits:

1. **Densify** (Sec. 2.2.1, Eq. 2): the pre-trained checkpoint's masks are removed; the
   Σ_l s_l·N_l reactivated weights start at exactly 0 (they are 0 already) and every
   weight θ^j + Δθ is trained.
2. **Soft prompt** (Sec. 2.2.2, Eq. 3): n virtual tokens with learned embeddings between
   source and target, ``[source; prompt; target]``; n = 9 for PubMedQA and 1 for HoC by
   default (``--prompt-len``; 0 = plain fine-tuning). Loss on the target tokens only
   (``--loss-on source`` adds the source, as BioGPT's code does). See tasks/prompting.py
   for the sequence layout, truncation and prompt initialisation.
3. **Protocol** (App. A.2/A.3): AdamW, linear warmup over 10% of the steps then cosine
   decay (to 10% of the peak, as in pre-training), at most ``--epochs`` epochs per stage
   with early stopping on the validation metric -- accuracy for PubMedQA, micro-F1 for
   HoC, ties broken by the lower validation target loss (``--patience`` epochs without
   improvement; the best epoch's weights are kept). A grid over batch size × learning
   rate is searched with the first seed and chosen on the final stage's validation metric;
   then ``--seeds`` runs of the chosen point give mean ± std (sample std, ddof = 1).
   ``--grid`` searches the paper's grid (PubMedQA {8,16,32,64} × {2e-4,1e-4,5e-5,2.5e-5};
   HoC {16,32,64} × {8e-5,4e-5,2e-5,1e-5}); the default is a single point so the CLI
   stays fast, and tiny models want larger learning rates than the paper's 302M-1.2B ones.
4. **Stages**: ``--data`` may be repeated (PQA-A, PQA-U, PQA-L in the paper): each stage
   starts from the weights (and prompt) the previous stage ended with; the last stage has
   the test split (tasks/stages.py). A stage without labels (PQA-U) is pseudo-labelled by
   the model of the previous stage (Jin et al.'s bootstrapping, here in the reasoning-
   required format); answers it cannot parse are dropped.
5. **Evaluation**: greedy generation after ``[source; prompt]`` with the KV cache, parsed
   back to a label; an unparseable answer counts as wrong and is reported. Metrics are
   the official scripts' (tasks/metrics.py) next to the majority-class baseline. For
   PubMedQA the summary has two macro-F1s: ``macro_f1`` over yes/no/maybe (an
   unparseable answer is a miss of its true class) and ``macro_f1_official``, what
   the official ``evaluation.py`` prints for the prediction file (sklearn's macro-F1
   over the labels that occur in truth and predictions, so ``failed`` is a fourth
   class); they agree when every answer parses and the test set has all three. The KV
   cache runs the context once and one position per answer token; recomputing instead
   costs about (answer length) × (context length) positions (benchmarks/bench_finetune_predict.py).

A run whose loss or weights become NaN or infinite (too high a learning rate) stops with
an error: the training loss is checked every step, the weights and the validation loss
at the end of every epoch, so no diverged epoch is kept and no diverged checkpoint is
written.

Weight decay 0.1 on the block matrices (the GPT convention of optim.py; the soft prompt,
like the embeddings, has none); gradient clipping at global norm 1. Seeds change the
soft-prompt initialisation and the order of the training examples; every seed starts
from the same pre-trained weights.

Outputs (``--out``): the fine-tuned checkpoint of the seed with the best validation score
(dense weights + ``prompt/embeddings``, state ``kind: "finetune"``) and one prediction
file per seed in the official format.

Does not handle: k-fold cross-validation on PQA-L, abstract-level HoC, resuming an
interrupted fine-tuning run, mixed precision.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import checkpoint, sparse
from ..autograd import count_flops
from ..data.synthetic_tasks import EVIDENCE
from ..errors import UserError
from ..model import GPT
from ..nn import Parameter
from ..optim import AdamW, AdamWConfig, lr_schedule
from ..tasks import TASKS, TaskData, hoc, pubmedqa, stratified_split
from ..tasks.evaluation import evaluate, majority_baseline, mean_std, target_loss
from ..tasks.metrics import FAILED
from ..tasks.prompting import (
    LOSS_ON,
    PROMPT_INITS,
    Encoder,
    init_soft_prompt,
    make_batch,
    predict,
)
from ..tasks.stages import load_stages

PAPER_GRID = {  # App. A.2 / A.3: batch sizes x learning rates searched on validation
    "pubmedqa": ((8, 16, 32, 64), (2e-4, 1e-4, 5e-5, 2.5e-5)),
    "hoc": ((16, 32, 64), (8e-5, 4e-5, 2e-5, 1e-5)),
}
PROMPT_KEY = checkpoint.PROMPT_KEY  # the soft prompt's array name in checkpoints
REVIVED_INITS = ("zero", "random")


class TrainingDiverged(UserError):
    """The loss or the weights became NaN or infinite."""


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that determines a fine-tuning run (stored in its checkpoint)."""

    task: str = "pubmedqa"
    init: str = ""  # pre-trained checkpoint directory
    data: tuple[str, ...] = ()  # one file/folder per stage, in order; empty = the synthetic task
    test: str = ""  # test labels of the last stage; "" = beside its file
    prompt_len: int = -1  # n of Eq. 3; -1 = the task's default (9 PubMedQA, 1 HoC)
    prompt_init: str = "vocab"
    loss_on: str = "target"  # Eq. 3; "source" adds the source tokens (BioGPT's code)
    epochs: int = 5  # at most, per stage (paper: 5 for PubMedQA, 100 for HoC)
    patience: int = 2  # epochs without validation improvement before stopping
    batch_size: int = 16
    lr: float = 1e-3  # peak learning rate (paper: grid of 2.5e-5 .. 2e-4 for 302M-1.2B models)
    grid: bool = False  # search the paper's grid instead of (batch_size, lr)
    grid_batch_sizes: tuple[int, ...] = ()  # a custom grid (overrides --grid)
    grid_lrs: tuple[float, ...] = ()
    seeds: int = 3  # App. A.2/A.3: results averaged over 3 random seeds
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    val_fraction: float = 0.1  # of each earlier stage / of the HoC training file
    synthetic_evidence: str = "context"  # "knowledge": no results sentence, the answer needs pre-training
    n_train: int = 400  # synthetic task sizes
    n_val: int = 60
    n_test: int = 200
    max_train: int = 0  # 0 = all; subsample real data for quick runs
    max_val: int = 0
    max_test: int = 0
    keep_masks: bool = False  # sparse fine-tuning: the pre-trained masks stay (SPDF's sparse arm; ablation)
    revived_init: str = "zero"  # reactivated weights start at 0 (Sec. 2.2.1) or "random" (their dense initialisation)
    seed: int = 0

    @property
    def prompt_length(self) -> int:
        return TASKS[self.task].default_prompt_length if self.prompt_len < 0 else self.prompt_len

    def grid_points(self) -> list[tuple[int, float]]:
        if self.grid_batch_sizes or self.grid_lrs:
            sizes, lrs = self.grid_batch_sizes or (self.batch_size,), self.grid_lrs or (self.lr,)
        elif self.grid:
            sizes, lrs = PAPER_GRID[self.task]
        else:
            sizes, lrs = (self.batch_size,), (self.lr,)
        return [(int(b), float(lr)) for b in sizes for lr in lrs]

    def validate(self) -> "FinetuneConfig":
        if self.task not in TASKS:
            raise UserError(f"unknown task {self.task!r}; choose from {', '.join(TASKS)}")
        if not self.init:
            raise UserError("--init CKPT is required (a pre-training checkpoint directory)")
        for name in ("epochs", "patience", "seeds", "batch_size", "n_train", "n_val", "n_test"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("max_train", "max_val", "max_test"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.prompt_len < -1:
            raise UserError(f"--prompt-len must be >= 0, got {self.prompt_len}")
        if self.prompt_init not in PROMPT_INITS or self.loss_on not in LOSS_ON:
            raise UserError(f"--prompt-init must be one of {PROMPT_INITS} and --loss-on one of {LOSS_ON}")
        for b, lr in self.grid_points():
            if b < 1:
                raise UserError(f"batch sizes must be >= 1, got {b}")
            if not (lr > 0 and math.isfinite(lr)):
                raise UserError(f"learning rates (--lr, --grid-lrs) must be positive and finite, got {lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise UserError(f"--weight-decay must be >= 0 and finite, got {self.weight_decay}")
        if not self.grad_clip > 0:  # inf is allowed: no clipping
            raise UserError(f"--grad-clip must be > 0 (the global gradient-norm threshold; inf = no clipping), got {self.grad_clip}")
        if self.synthetic_evidence not in EVIDENCE:
            raise UserError(f"--synthetic-evidence must be one of {', '.join(EVIDENCE)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        if self.revived_init not in REVIVED_INITS:
            raise UserError(f"--revived-init must be one of {', '.join(REVIVED_INITS)}, got {self.revived_init!r}")
        if self.keep_masks and self.revived_init != "zero":
            raise UserError("--keep-masks keeps pruned weights at 0, so --revived-init does not apply")
        return self


# ----------------------------------------------------------------------------- one stage of training


def train_stage(model: GPT, prompt: Parameter | None, encoder: Encoder, data: TaskData, task: str, cfg: FinetuneConfig,
                batch_size: int, lr: float, rng: np.random.Generator, progress: bool, desc: str) -> dict[str, Any]:  # fmt: skip
    """Fine-tune every weight (and the prompt) on ``data.train``; keep the best epoch on ``data.val``."""
    named = list(model.named_parameters()) + ([(PROMPT_KEY, prompt)] if prompt is not None else [])
    opt = AdamW(named, AdamWConfig(lr=lr, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip))
    steps_per_epoch = math.ceil(len(data.train) / batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    best: dict[str, Any] | None = None
    history, step, flops = [], 0, 0
    bar = tqdm(total=total_steps, desc=desc, unit="step", disable=not progress, leave=False)
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(data.train))
        losses = []
        for i in range(steps_per_epoch):
            batch = [data.train[int(j)] for j in order[i * batch_size : (i + 1) * batch_size]]
            idx, targets, loss_mask = make_batch(encoder, batch, cfg.loss_on)
            with count_flops() as counted, np.errstate(over="ignore", invalid="ignore"):
                _, loss = model(idx, targets, loss_mask, prompt=prompt)  # Eq. 3 (Eq. 2 when n = 0)
                loss.backward()
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(f"{desc}: loss became {value} at step {step} (try a lower --lr)")
            with np.errstate(over="ignore", invalid="ignore"):
                opt.clip_grad_norm()
                opt.step(lr_schedule(step, total_steps, peak=lr))  # App. A.2: 10% linear warmup, then cosine
            opt.zero_grad()
            flops += counted.total()
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
            "val_loss": best["val_loss"], "history": history, "flops": flops}  # fmt: skip


# ----------------------------------------------------------------------------- a whole run (all stages, one seed)


def load_init(path: str) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """Arrays, state and tokenizer of the starting checkpoint: pre-trained, an earlier
    fine-tuning, or imported from Hugging Face format (``python -m mediswift_np.export --import-hf``).
    Hashes and vocabulary sizes are checked here, as ``checkpoint.load_model`` does."""
    arrays, state, tokenizer = checkpoint.load_with_tokenizer(path)
    if state.get("kind") not in ("pretrain", "finetune", "imported"):
        raise checkpoint.CheckpointError(f"{path}: not a pre-training, fine-tuning or imported checkpoint (kind {state.get('kind')!r})")
    return arrays, state, tokenizer


def revive_randomly(model: GPT, seed: int) -> None:
    """Give every pruned weight the value a fresh dense initialisation (``GPT(config, seed)``) puts there."""
    fresh = dict(GPT(model.config, seed=seed).named_parameters())
    for name, p in model.named_parameters():
        if p.mask is not None:
            p.data[~p.mask] = fresh[name].data[~p.mask]


def pretrained_length(state: dict[str, Any], n_ctx: int) -> int:
    """The longest sequence the starting weights were trained on: every position row of
    ``wpe`` below it was updated. Pre-training stores its ``seq_len``; a fine-tuned or
    imported checkpoint passes on what it records (else ``n_ctx``)."""
    length = state.get("pretrain", {}).get("seq_len") or state.get("pretrained_length") or n_ctx
    return min(int(length), n_ctx)


def build_model(arrays: dict[str, np.ndarray], state: dict[str, Any], prompt_length: int, rng: np.random.Generator,
                prompt_init: str, keep_masks: bool = False, revived_init: str = "zero") -> tuple[GPT, Parameter | None, int]:  # fmt: skip
    """The densified model (Sec. 2.2.1), its soft prompt, and the number of reactivated weights.

    ``keep_masks`` keeps the pre-trained masks (sparse fine-tuning, nothing reactivated);
    ``revived_init="random"`` starts the reactivated weights from a dense initialisation
    instead of 0 (the paper's Sec. 2.2.1 choice, which this ablates).
    """
    model = checkpoint.restore_model(arrays, state)
    if keep_masks:
        reactivated = 0
    else:
        reactivated = sum(int((~p.mask).sum()) for p in model.parameters() if p.mask is not None)
        if revived_init == "random":
            revive_randomly(model, seed=int(rng.integers(2**31)))
        sparse.densify(model)  # masks removed: pruned weights (0, or random) now train like every other weight
    prompt = None
    if prompt_length > 0:
        saved = arrays.get(PROMPT_KEY)
        if saved is not None and saved.shape == (prompt_length, model.config.n_embd):
            prompt = Parameter(saved.astype(np.float32))  # continue an earlier fine-tuning's prompt
        else:
            prompt = init_soft_prompt(model.transformer.wte.weight.data, prompt_length, rng, prompt_init)
    return model, prompt, reactivated


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


# ----------------------------------------------------------------------------- the experiment


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


def finetune(cfg: FinetuneConfig, out: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Grid on the first seed, then ``cfg.seeds`` runs of the chosen point; the summary (and checkpoint)."""
    start = time.perf_counter()
    cfg.validate()
    init = load_init(cfg.init)
    stages = load_stages(
        cfg.task, cfg.data, test=cfg.test or None, synthetic_sizes=(cfg.n_train, cfg.n_val, cfg.n_test),
        synthetic_evidence=cfg.synthetic_evidence, seed=cfg.seed,
        val_fraction=cfg.val_fraction, max_train=cfg.max_train or None, max_val=cfg.max_val or None, max_test=cfg.max_test or None,
    )  # fmt: skip
    grid = [run_seed(cfg, init, stages, b, lr, 0, progress) for b, lr in cfg.grid_points()]
    grid_scores = [{"batch_size": r["batch_size"], "lr": r["lr"], "val_score": r["val_score"]} for r in grid]
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
        "finetune_flops_counted": sum(s["flops"] for r in grid + runs[1:] for s in r["stages"]),
        "stages": [st.description for st in stages], "saved_seed": best["seed"],
        "prompt_change": [r["prompt_change"] for r in runs],  # ‖P_end − P_start‖ / ‖P_start‖ per seed
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
        save_finetuned(out, best, cfg, init[2], {k: v for k, v in summary.items() if k not in ("grid",)})
        summary["checkpoint"] = str(out)
    summary["wall_seconds"] = round(time.perf_counter() - start, 3)
    return summary
