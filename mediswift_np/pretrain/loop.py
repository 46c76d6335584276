"""The pre-training loop: batch -> learning rate -> step -> log -> evaluate -> save.

Each step is ``training.train_step`` (zero grads, forward, loss of Eq. 1 with m ⊙ θ,
backward, clip, AdamW), the same function fine-tuning uses; a step that ends a SET/RigL
period is ``dst.mask_update_step`` (for RigL the mask update replaces the optimizer step,
Alg. 1 of Evci et al.). The learning rate follows App. A.1: linear warmup over the first
10% of the steps, then cosine decay to 10% of the peak (``optim.lr_schedule``).

A loss, validation loss or weight that becomes NaN or infinite stops the run with
``TrainingDiverged`` before anything is saved; the message names the last good (finite)
checkpoint of the run, if there is one. ``stop_after`` ends the session after that many
steps in total, saving a checkpoint to resume from, without changing the schedule planned
for ``cfg.steps``.

FLOPs of the forward + backward passes (optimizer excluded), three ways:
``flops_sparse_equivalent`` is what the engine counted as the algorithm's work (a masked
product is 2·nnz·N); ``flops_executed`` is what the CPU ran (on the dense path a masked
product is a full 2·in·out·N GEMM, plus W ⊙ m: App. B's gap between saved and executed
work; see sparse.py); ``flops_analytic`` is Hoffmann et al.'s formula for the same
tokens (mediswift_np.flops; mediswift_np.flops.audit reconciles the three term by term).

Does not handle: gradient accumulation, mixed precision, several processes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import checkpoint, flops, sparse
from ..sparse import dst
from ..autograd import count_flops, no_grad
from ..data import iterate_val_batches, sample_batch
from ..errors import UserError
from ..model import GPT
from ..optim import lr_schedule
from ..tokenizer.files import SPECIAL_TOKENS
from ..training import TrainingDiverged, train_step
from .config import PretrainConfig, check_memory
from .start import Run, start_run

MIN_VOCAB = len(SPECIAL_TOKENS)  # every vocabulary has at least these: a lower bound for check_memory


def evaluate(model: GPT, stream: np.ndarray, cfg: PretrainConfig) -> float:
    """Mean next-token loss over the first ``eval_batches`` validation batches (deterministic).

    A diverged model gives NaN or inf here without warnings; the loop checks the value.
    """
    total, n = 0.0, 0
    model.eval()
    with no_grad(), np.errstate(over="ignore", invalid="ignore"):
        for i, (x, y) in enumerate(iterate_val_batches(stream, cfg.batch_size, cfg.seq_len)):
            if i == cfg.eval_batches:
                break
            _, loss = model(x, y)
            total += loss.item() * x.size
            n += x.size
    model.train()
    return total / n


def diverged(what: str, step: int, last_good: tuple[Path, int] | None) -> TrainingDiverged:
    """The error that stops a diverged run, naming the last finite checkpoint it saved (or resumed from)."""
    kept = f"last good checkpoint (step {last_good[1]}) kept in {last_good[0]}" if last_good else "no checkpoint was saved"
    return TrainingDiverged(f"{what} at step {step}; {kept} (try a lower --lr)")


def check_finite(name: str, value: float, step: int, last_good: tuple[Path, int] | None) -> None:
    if not math.isfinite(value):
        raise diverged(f"{name} became {value}", step, last_good)


def save(run: Run, cfg: PretrainConfig, out: Path, step: int, last_good: tuple[Path, int] | None) -> tuple[Path, int]:
    """Write the checkpoint of ``step`` (never a non-finite one); it becomes the last good one."""
    arrays = checkpoint.model_arrays(run.model, run.optimizer)
    bad = checkpoint.first_nonfinite(arrays)
    if bad is not None:  # never save a diverged model (checkpoint.save refuses it too)
        raise diverged(f"{bad} became NaN or infinite", step, last_good)
    run.state.update(
        step=step, kind="pretrain", pretrain=dataclasses.asdict(cfg), model=run.model.config.to_dict(),
        data_rng=run.data_rng.bit_generator.state, dropout_rng=run.model.dropout_rng.bit_generator.state,
        mask_rng=run.mask_rng.bit_generator.state,
    )  # fmt: skip
    checkpoint.save(out, arrays, run.state, run.tokenizer)
    return out, step


def check_stop_after(stop_after: int | None, start: int, steps: int) -> None:
    if stop_after is not None and not start < stop_after < steps:
        raise UserError(f"--stop-after must be a step in [{start + 1}, {steps - 1}]: after the run's step {start} "
                        f"and before the end of its {steps}-step plan; got {stop_after}")  # fmt: skip


def train(cfg: PretrainConfig, out: Path, resume: Path | None = None, progress: bool = True,
          stop_after: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Run (or continue) pre-training and return the summary written to ``out``.

    The sparse backend ``cfg.sparse_backend`` is used for this run only: the previous
    masked-matmul path comes back when ``train`` returns or fails (``sparse.use_backend``).
    """
    start = time.perf_counter()
    cfg = cfg.validate()  # also resolves seq_len 0 to the model context
    check_memory(cfg, MIN_VOCAB)  # before the tokenizer is trained: refuse a model that cannot fit
    if resume is None:
        check_stop_after(stop_after, 0, cfg.steps)
    with sparse.use_backend(cfg.sparse_backend):
        run = start_run(cfg, resume, progress)
        check_stop_after(stop_after, run.state["step"], cfg.steps)
        if "initial_loss" not in run.state:
            run.state["initial_loss"] = evaluate(run.model, run.val_ids, cfg)
        summary = loop(cfg, run, Path(out), progress, stop_after)
    return dict(summary, wall_seconds=round(time.perf_counter() - start, 3))


def loop(cfg: PretrainConfig, run: Run, out: Path, progress: bool, stop_after: int | None) -> dict[str, Any]:
    """Steps ``run.state["step"]`` .. ``cfg.steps - 1`` (or ``stop_after - 1``), then the summary."""
    model, optimizer, state, dst_cfg = run.model, run.optimizer, run.state, cfg.dst_config()
    last_good = run.resumed_from  # (directory, step) of this run's last finite checkpoint
    bar = tqdm(range(state["step"], cfg.steps), desc="pre-training", unit="step", disable=not progress,
               initial=state["step"], total=cfg.steps)  # fmt: skip
    for step in bar:
        # 1. a batch of B random windows of T + 1 tokens (Eq. 1's u_{i-k:i-1} and u_i)
        x, y = sample_batch(run.train_ids, cfg.batch_size, cfg.seq_len, run.data_rng)
        # 2. the learning rate of this step: App. A.1, 10% linear warmup, cosine to 10% of the peak
        lr = lr_schedule(step, cfg.steps, peak=cfg.lr)
        # 3. one step of AdamW on Eq. 1 with m ⊙ θ (a step not applied if its loss is non-finite)
        with count_flops() as counted:
            if dst.is_update_step(step, cfg.steps, dst_cfg):  # SET / RigL: same nonzeros, new positions (dst.py)
                fraction = dst.drop_fraction_at(step, cfg.steps, dst_cfg)
                loss = dst.mask_update_step(model, optimizer, lambda: model(x, y)[1], lr, fraction, dst_cfg.method, run.mask_rng)
                state["mask_updates"] += 1
            else:
                loss, _ = train_step(optimizer, lambda: model(x, y)[1], lr)
        check_finite("loss", loss, step, last_good)
        # 4. log: the loss and the FLOPs of this step
        state["train_losses"].append(loss)
        state["flops_sparse_equivalent"] += counted.total()
        state["flops_executed"] += counted.total(executed=True)
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
        done = step + 1
        # 5. evaluate on the held-out stream every eval_every steps (and at the end, below)
        if cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.steps:
            val = evaluate(model, run.val_ids, cfg)
            check_finite("validation loss", val, done, last_good)
            state["val_losses"].append([done, val])
        # 6. save every save_every steps, and where the session stops
        stopping = done == stop_after
        if done < cfg.steps and (stopping or (cfg.save_every and done % cfg.save_every == 0)):
            last_good = save(run, cfg, out, done, last_good)
        if stopping:
            bar.close()
            return {"stopped_at": done, "steps": cfg.steps, "checkpoint": str(out)}
    bar.close()

    final = evaluate(model, run.val_ids, cfg)
    check_finite("validation loss", final, cfg.steps, last_good)
    if not state["val_losses"] or state["val_losses"][-1][0] != cfg.steps:
        state["val_losses"].append([cfg.steps, final])
    state["summary"] = summarize(cfg, run, final, out)
    save(run, cfg, out, cfg.steps, last_good)
    return state["summary"]


def summarize(cfg: PretrainConfig, run: Run, final: float, out: Path) -> dict[str, Any]:
    """The summary stored in the last checkpoint and printed with ``--json``."""
    state, model_cfg = run.state, run.model.config
    tokens = cfg.steps * cfg.batch_size * cfg.seq_len
    report = sparse.sparsity_report(run.model)
    rigl_updates = state["mask_updates"] if cfg.dst_config().method == "rigl" else 0  # each computed dense weight gradients
    analytic = flops.training_flops(model_cfg, cfg.seq_len, cfg.sparsity, tokens=tokens) if tokens else 0.0
    analytic += rigl_updates * cfg.batch_size * flops.flops_dense_weight_gradient_extra(model_cfg, cfg.seq_len, cfg.sparsity)
    losses = state["train_losses"]
    return {
        "initial_loss": state["initial_loss"], "final_loss": final, "ln_vocab": math.log(model_cfg.vocab_size),
        "train_loss_first": losses[0] if losses else None, "train_loss_last": losses[-1] if losses else None,
        "steps": cfg.steps, "tokens": tokens, "sparsity": cfg.sparsity, "overall_sparsity": report.overall_sparsity,
        "params": run.model.num_parameters(),
        "active_params_with_embeddings": report.active_params_with_embeddings,  # counted from the masks
        "vocab_size": model_cfg.vocab_size, "flops_analytic": analytic, "sparse_method": cfg.dst_config().method,
        "mask_updates": state["mask_updates"], "flops_sparse_equivalent": state["flops_sparse_equivalent"],
        "flops_executed": state["flops_executed"], "wall_seconds": None, "checkpoint": str(out),
    }  # fmt: skip
