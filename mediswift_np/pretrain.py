"""Sparse pre-training: ``python -m mediswift_np.pretrain --tiny [--sparsity S]``.

The paper's pre-training (Sec. 3.2-3.3, App. A.1) at whatever scale fits: a corpus is
Moses+BPE tokenized (the tokenizer is trained on it and saved with the checkpoint),
turned into one id stream with 3% held out for validation (Table 1), and a GPT-3
decoder minimises the next-token loss of Eq. 1 with a static random mask on the six
matrices of every block (``--sparsity``), using AdamW with linear warmup over 10% of
the steps and cosine decay to 10% of the peak. Eq. 1 writes the loss as a sum over
tokens; the code minimises the mean over the B·T tokens of a batch: the sum divided by
a constant, so the same minimiser, with gradients B·T times smaller (AdamW's step does
not depend on that scale; the gradient-clipping threshold ``--grad-clip`` does).

``--tiny`` is the classroom recipe: the embedded synthetic biomedical corpus and a
~1M-parameter model, in well under a minute on two cores. ``--model med|large|xl`` builds
the paper's sizes (slow in NumPy, but every step is the same code); ``--corpus PATH``
trains on real text (PubMed XML, JSON lines, plain text).

Tiny models learn better at a larger peak learning rate than the paper's 2e-4 (chosen
for 302M-1.2B models), so ``--tiny`` defaults to 2e-3; the schedule's shape is the
paper's. FLOPs of the forward + backward passes (optimizer excluded), three ways:
``flops_sparse_equivalent`` is what the engine counted as the algorithm's work (a masked
product is 2·nnz·N); ``flops_executed`` is what the CPU ran (on the dense path a masked
product is a full 2·in·out·N GEMM, plus W ⊙ m: App. B's gap between saved and executed
work; see sparse.py); ``flops_analytic`` is Hoffmann et al.'s formula for the same
tokens (mediswift_np.flops; mediswift_np.flop_audit reconciles the three term by term).

Each step is ``training.train_step`` (zero grads, forward, loss, backward, clip, AdamW
update), the same function fine-tuning uses; a step that ends a SET/RigL period is
``dst.mask_update_step`` (for RigL the mask update replaces the optimizer step, Alg. 1 of
Evci et al.). ``_train`` is the orchestration around them.

Checkpoints (see checkpoint.py) hold everything needed to continue bit-identically
with ``--resume DIR``: weights, masks, AdamW moments and step, both RNG states, the
loss history and the tokenizer. A run that diverges (a NaN or infinite training or
validation loss, or weights) stops with an error before it saves; the error names the
last good checkpoint of the run, if one was saved.

``--sparse-backend`` holds only for the run: ``train`` restores the previous masked-matmul
path when it returns or fails (``sparse.use_backend``), so a notebook's later cells keep
theirs.

Does not handle: multiple processes (reference/train_ddp.py continues an exported run on
PyTorch DDP: README "Scaling up"), gradient accumulation, mixed precision.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from . import checkpoint, flops, sparse
from .autograd import count_flops, no_grad
from .cli import ArgumentParser, add_config_flags, add_output_flags, given_config_values
from .config import GPTConfig, get_preset
from .data import (
    iterate_val_batches,
    read_corpus,
    sample_batch,
    synthetic_corpus,
    token_stream,
    train_val_split,
)
from .sparse import dst
from .sparse.dst import DSTConfig
from .errors import UserError, print_json, run_cli
from .model import GPT
from .optim import AdamW, AdamWConfig, lr_schedule
from .fast.tuning import keep_freed_memory
from .tokenizer import Tokenizer
from .training import train_step


class TrainingDiverged(UserError):
    """The loss or the weights became NaN or infinite."""


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines a pre-training run (stored in its checkpoints)."""

    model: str = "tiny"  # a preset of config.PRESETS; its vocab_size is replaced by the tokenizer's
    n_layer: int = 0  # 0 = the preset's; set to vary the model size (e.g. Sec. 3.4 comparisons)
    n_embd: int = 0
    n_head: int = 0
    sparsity: float = 0.0  # s of the six matrices of every block (Sec. 3.3)
    steps: int = 400
    batch_size: int = 8  # 8 windows of n_ctx = 128 tokens for --tiny: 1,024 tokens a step
    seq_len: int = 0  # 0 = the model's n_ctx, so every position row of wpe is trained (fine-tuning reads them all)
    lr: float = 2e-3  # peak learning rate (paper: 2e-4 for Med/Large/XL)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    merges: int = 1200  # BPE merges learned on the corpus
    n_docs: int = 3000  # size of the synthetic corpus (ignored with --corpus)
    profiles: int = 0  # drug profiles per catalogue drug added to the synthetic corpus (closed-book facts)
    corpus: tuple[str, ...] = ()  # real corpus files; empty = the synthetic corpus
    val_fraction: float = 0.03  # Table 1: 3% validation
    eval_every: int = 100
    eval_batches: int = 16  # validation windows per evaluation = eval_batches * batch_size
    save_every: int = 0  # 0 = save only at the end
    sparse_backend: str = "auto"
    sparse_method: str = "static"  # static | set | rigl (dynamic sparse training, see dst.py)
    mask_update_every: int = 50  # ΔT for set/rigl
    drop_fraction: float = 0.3  # α for set/rigl

    def dst_config(self) -> DSTConfig:
        return DSTConfig(self.sparse_method, self.mask_update_every, self.drop_fraction).validate()

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The preset with the tokenizer's vocabulary and any size overrides (validated)."""
        sizes = {k: getattr(self, k) for k in ("n_layer", "n_embd", "n_head") if getattr(self, k)}
        return get_preset(self.model).with_(vocab_size=vocab_size, **sizes)

    def validate(self) -> "PretrainConfig":
        sparse.check_sparsity(self.sparsity)
        self.model_config(vocab_size=8)  # raises for an unknown preset or heads not dividing n_embd
        if self.steps < 0:
            raise UserError(f"--steps must be >= 0 (0 saves the initialised model: no pre-training), got {self.steps}")
        for name in ("batch_size", "merges", "n_docs", "eval_batches"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        n_ctx = get_preset(self.model).n_ctx
        if not 0 <= self.seq_len <= n_ctx:
            raise UserError(f"--seq-len must be in 1..{n_ctx} (the model context), or 0 for all of it; got {self.seq_len}")
        if self.profiles < 0:
            raise UserError(f"--profiles must be >= 0, got {self.profiles}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"--lr must be positive and finite, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise UserError(f"--weight-decay must be >= 0 and finite, got {self.weight_decay}")
        if not self.grad_clip > 0:  # inf is allowed: no clipping
            raise UserError(f"--grad-clip must be > 0 (the global gradient-norm threshold; inf = no clipping), got {self.grad_clip}")
        if self.sparse_backend not in sparse.BACKENDS:
            raise UserError(f"unknown --sparse-backend {self.sparse_backend!r}; choose from {', '.join(sparse.BACKENDS)}")
        if self.dst_config().method != "static" and self.sparsity == 0:
            raise UserError(f"--sparse-method {self.sparse_method} needs --sparsity > 0")
        return dataclasses.replace(self, seq_len=self.seq_len or n_ctx)


PAPER_RECIPE = {"lr": 2e-4}  # App. A.1 peak learning rate, the default for med/large/xl


def load_texts(cfg: PretrainConfig) -> list[str]:
    """The documents to train on: those of the real files, or the synthetic corpus."""
    if not cfg.corpus:
        return synthetic_corpus(cfg.n_docs, cfg.seed, profiles_per_drug=cfg.profiles)
    docs = [doc for path in cfg.corpus for doc in read_corpus(path)]
    if not docs:
        raise UserError(f"empty corpus: no documents in {', '.join(cfg.corpus)}")
    return docs


def evaluate(model: GPT, stream: np.ndarray, cfg: PretrainConfig) -> float:
    """Mean next-token loss over the first ``eval_batches`` validation batches (deterministic).

    A diverged model gives NaN or inf here without warnings; ``train`` checks the value.
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


def train(
    cfg: PretrainConfig, out: Path, resume: Path | None = None, progress: bool = True, stop_after: int | None = None
) -> dict[str, Any]:
    """Run (or continue) pre-training and return the summary written to ``out``.

    ``stop_after`` ends the session after that many steps in total (saving a checkpoint
    to resume from) without changing the planned schedule of ``cfg.steps``. The sparse
    backend ``cfg.sparse_backend`` is used for this run only.
    """
    cfg = cfg.validate()  # also resolves seq_len 0 to the model context
    with sparse.use_backend(cfg.sparse_backend):  # the previous path comes back afterwards
        return _train(cfg, out, resume, progress, stop_after)


def _train(cfg: PretrainConfig, out: Path, resume: Path | None, progress: bool, stop_after: int | None) -> dict[str, Any]:
    """The body of ``train``, for a validated ``cfg``."""
    start = time.perf_counter()
    texts = load_texts(cfg)
    if resume is not None:
        arrays, state, tokenizer = checkpoint.load_with_tokenizer(resume)
    else:
        arrays, state = None, {}
        tokenizer = Tokenizer.train(texts, cfg.merges, progress=progress)
    stream = token_stream(texts, tokenizer, progress=progress)
    train_ids, val_ids = train_val_split(stream, cfg.val_fraction, tokenizer.eos_id)
    for part, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < cfg.seq_len + 1:
            raise UserError(f"{part} split has {len(ids)} tokens, fewer than --seq-len + 1 = {cfg.seq_len + 1}; use a larger corpus")

    model_cfg = cfg.model_config(tokenizer.vocab_size)
    opt_cfg = AdamWConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)
    data_rng = np.random.default_rng([cfg.seed, 2])
    mask_rng = np.random.default_rng([cfg.seed, 4])  # SET's random growth
    dst_cfg = cfg.dst_config()
    if arrays is None:
        model = GPT(model_cfg, seed=cfg.seed, fast=True)  # the speed layer (mediswift_np/fast)
        if cfg.sparsity > 0:
            sparse.sparsify(model, cfg.sparsity, np.random.default_rng([cfg.seed, 3]))  # Sec. 3.3: static random masks
        opt = AdamW(model.named_parameters(), opt_cfg, fast=True)
        state = {"step": 0, "train_losses": [], "val_losses": [], "flops_sparse_equivalent": 0, "flops_executed": 0,
                 "mask_updates": 0, "initial_loss": evaluate(model, val_ids, cfg)}  # fmt: skip
    else:  # continue exactly where the checkpoint stopped
        model = checkpoint.restore_model(arrays, state).use_fast()
        if model.config != model_cfg:
            raise checkpoint.CheckpointError(f"checkpoint {resume}: model config does not match its tokenizer/pre-training config")
        opt = AdamW(model.named_parameters(), opt_cfg, fast=True)
        opt.load_state_dict({k.removeprefix("adam/"): v for k, v in arrays.items() if k.startswith("adam/")})
        data_rng.bit_generator.state = state["data_rng"]
        mask_rng.bit_generator.state = state["mask_rng"]
        model.dropout_rng.bit_generator.state = state["dropout_rng"]

    last_good = (resume, state["step"]) if resume is not None else None  # (directory, step) of this run's last save

    def diverged(what: str, step: int) -> TrainingDiverged:
        kept = f"last good checkpoint (step {last_good[1]}) kept in {last_good[0]}" if last_good else "no checkpoint was saved"
        return TrainingDiverged(f"{what} at step {step}; {kept} (try a lower --lr)")

    def check_loss(name: str, value: float, step: int) -> None:
        if not math.isfinite(value):
            raise diverged(f"{name} became {value}", step)

    def save(step: int) -> None:
        nonlocal last_good
        arrays = checkpoint.model_arrays(model, opt)
        bad = checkpoint.first_nonfinite(arrays)  # never save a diverged model (checkpoint.save refuses it too)
        if bad is not None:
            raise diverged(f"{bad} became NaN or infinite", step)
        state.update(
            step=step, kind="pretrain", pretrain=dataclasses.asdict(cfg), model=model_cfg.to_dict(),
            data_rng=data_rng.bit_generator.state, dropout_rng=model.dropout_rng.bit_generator.state,
            mask_rng=mask_rng.bit_generator.state,
        )  # fmt: skip
        checkpoint.save(out, arrays, state, tokenizer)
        last_good = (out, step)

    bar = tqdm(range(state["step"], cfg.steps), desc="pre-training", unit="step", disable=not progress, initial=state["step"], total=cfg.steps)
    for step in bar:
        x, y = sample_batch(train_ids, cfg.batch_size, cfg.seq_len, data_rng)
        lr = lr_schedule(step, cfg.steps, peak=cfg.lr)  # App. A.1: 10% linear warmup, cosine to 10%
        with count_flops() as counted:
            if dst.is_update_step(step, cfg.steps, dst_cfg):  # SET / RigL: same nonzeros, new positions (dst.py)
                fraction = dst.drop_fraction_at(step, cfg.steps, dst_cfg)
                value = dst.mask_update_step(model, opt, lambda: model(x, y)[1], lr, fraction, dst_cfg.method, mask_rng)
                state["mask_updates"] += 1
            else:
                value, _ = train_step(opt, lambda: model(x, y)[1], lr)  # Eq. 1 with m ⊙ θ; not applied if non-finite
        check_loss("loss", value, step)
        state["flops_sparse_equivalent"] += counted.total()
        state["flops_executed"] += counted.total(executed=True)
        state["train_losses"].append(value)
        bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}")
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            val = evaluate(model, val_ids, cfg)
            check_loss("validation loss", val, step + 1)
            state["val_losses"].append([step + 1, val])
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            save(step + 1)
        if stop_after is not None and step + 1 == stop_after and step + 1 < cfg.steps:
            bar.close()
            save(step + 1)
            return {"stopped_at": step + 1, "steps": cfg.steps, "checkpoint": str(out)}
    bar.close()

    final = evaluate(model, val_ids, cfg)
    check_loss("validation loss", final, cfg.steps)
    if not state["val_losses"] or state["val_losses"][-1][0] != cfg.steps:
        state["val_losses"].append([cfg.steps, final])
    tokens = cfg.steps * cfg.batch_size * cfg.seq_len
    report = sparse.sparsity_report(model)
    rigl_updates = state["mask_updates"] if dst_cfg.method == "rigl" else 0  # each computed dense weight gradients
    state["summary"] = {
        "initial_loss": state["initial_loss"],
        "final_loss": final,
        "ln_vocab": math.log(model_cfg.vocab_size),
        "train_loss_first": state["train_losses"][0] if state["train_losses"] else None,
        "train_loss_last": state["train_losses"][-1] if state["train_losses"] else None,
        "steps": cfg.steps,
        "tokens": tokens,
        "sparsity": cfg.sparsity,
        "overall_sparsity": report.overall_sparsity,
        "params": model.num_parameters(),
        "active_params_with_embeddings": report.active_params_with_embeddings,  # counted from the masks
        "vocab_size": model_cfg.vocab_size,
        "flops_analytic": (flops.training_flops(model_cfg, cfg.seq_len, cfg.sparsity, tokens=tokens) if tokens else 0.0)
        + rigl_updates * cfg.batch_size * flops.flops_dense_weight_gradient_extra(model_cfg, cfg.seq_len, cfg.sparsity),
        "sparse_method": dst_cfg.method,
        "mask_updates": state["mask_updates"],
        "flops_sparse_equivalent": state["flops_sparse_equivalent"],
        "flops_executed": state["flops_executed"],
        "wall_seconds": None,
        "checkpoint": str(out),
    }
    save(cfg.steps)
    summary = dict(state["summary"], wall_seconds=round(time.perf_counter() - start, 3))
    return summary


# ----------------------------------------------------------------------------- command line

FIELDS = {f.name: f for f in dataclasses.fields(PretrainConfig)}


HELP = {
    "model": "preset of config.PRESETS (default tiny); its vocab_size becomes the tokenizer's",
    "n_layer": "override the preset's number of blocks (default 0 = the preset's)",
    "n_embd": "override the preset's width d_model (default 0 = the preset's)",
    "n_head": "override the preset's number of heads (default 0 = the preset's)",
    "seq_len": "tokens per training window (default 0 = the model context n_ctx, so fine-tuning never reads an untrained position row)",
    "sparsity": "s of the six matrices of every block, in [0, 1) (Sec. 3.3; default 0)",
    "lr": "peak learning rate (default 0.002; the paper uses 2e-4 for Med/Large/XL)",
    "steps": "optimizer steps (default 400); 0 trains the tokenizer and saves the initialised model, the no-pre-training baseline",
    "merges": "BPE merges learned on the corpus (default 1200)",
    "n_docs": "documents of the synthetic corpus (default 3000; ignored with --corpus)",
    "profiles": "profiles of each of the 360 catalogue drugs added to the synthetic corpus: the facts the closed-book task asks about (data/closed_book.py)",
    "val_fraction": "share of documents held out for validation (default 0.03, Table 1)",
    "eval_batches": "validation batches per evaluation (default 16)",
    "save_every": "also save a checkpoint every N steps (default 0 = only at the end)",
    "mask_update_every": "steps between mask updates, Delta T, for set/rigl (default 50)",
    "drop_fraction": "share of active weights swapped at the first update, alpha, then cosine-decayed (set/rigl; default 0.3)",
}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m mediswift_np.pretrain",
        description="Sparse pre-training of a GPT-3 decoder (MediSwift Sec. 3). Example: --tiny --sparsity 0.75",
    )
    p.add_argument("--tiny", action="store_true", help="the classroom recipe: synthetic corpus, tiny model (default model)")
    p.add_argument("--out", type=Path, help="checkpoint directory (default runs/pretrain-<model>-s<sparsity>)")
    p.add_argument("--resume", type=Path, help="continue the run saved in this checkpoint directory")
    add_output_flags(p, quiet=True)
    p.add_argument("--stop-after", type=int, metavar="K", help="save and stop after K steps (resume later with --resume)")
    add_config_flags(p, PretrainConfig, helps=HELP, special={  # one option per config field; None = "not given"
        "corpus": dict(action="append", metavar="PATH", help="real corpus file (.xml, .xml.gz, .jsonl, .txt); repeatable"),
        "sparse_backend": dict(choices=sparse.BACKENDS, help=f"masked matmul path (default {FIELDS['sparse_backend'].default}; see sparse.py)"),
        "sparse_method": dict(choices=dst.METHODS, help="static masks (the paper) or dynamic: SET, RigL (see dst.py)"),
    })
    return p


def config_from_args(args: argparse.Namespace, base: dict | None = None) -> PretrainConfig:
    """Defaults, then the checkpoint's config (on resume), then what the user gave."""
    given = given_config_values(args, PretrainConfig)
    if base is not None:
        changed = {k: v for k, v in given.items() if k != "steps" and base.get(k) != v}
        if changed:
            k, v = next(iter(changed.items()))
            raise UserError(f"config mismatch on resume: --{k.replace('_', '-')} {v} but the checkpoint has {base.get(k)}")
        values = {**base, "corpus": tuple(base.get("corpus", ())), **given}
    else:
        model = given.get("model", "tiny")
        values = {**(PAPER_RECIPE if model in ("med", "large", "xl") else {}), **given}
    return PretrainConfig(**values).validate()


# what main() and train() read back from state.json to continue a run
RESUME_KEYS = ("pretrain", "model", "step", "data_rng", "mask_rng", "dropout_rng", "train_losses", "val_losses",
               "flops_sparse_equivalent", "flops_executed", "mask_updates", "initial_loss")


def resumable_state(directory: Path) -> dict[str, Any]:
    """The state of a pre-training checkpoint to continue; a missing entry is a one-line error naming it."""
    _, state, _ = checkpoint.load_with_tokenizer(directory)  # the whole checkpoint is verified before anything else
    if state.get("kind") != "pretrain":
        raise UserError(f"{directory} is not a pre-training checkpoint")
    where = Path(directory) / checkpoint.STATE_FILE
    missing = next((k for k in RESUME_KEYS if k not in state), None)
    if missing is not None:
        raise checkpoint.CheckpointError(f"{where}: no {missing!r} entry, so the run cannot be resumed")
    stored = state["pretrain"]
    if not isinstance(stored, dict) or "steps" not in stored:
        raise checkpoint.CheckpointError(f"{where}: 'pretrain' must be the run's config with its 'steps'")
    unknown = sorted(set(stored) - set(FIELDS))
    if unknown:
        raise checkpoint.CheckpointError(f"{where}: unknown pre-training option {unknown[0]!r} in 'pretrain'")
    return state


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # reuse big freed arrays between steps (see runtime.py)
    if args.resume is not None:
        state = resumable_state(args.resume)
        cfg = config_from_args(args, state["pretrain"])
        if cfg.steps <= state["step"]:
            raise UserError(f"--steps {cfg.steps} is not beyond the checkpoint's step {state['step']}")
        if cfg.steps != state["pretrain"]["steps"]:
            raise UserError(f"config mismatch on resume: --steps {cfg.steps} but the run was planned for {state['pretrain']['steps']} (the schedule depends on it)")
        out = args.out or args.resume
    else:
        cfg = config_from_args(args)
        out = args.out or Path("runs") / f"pretrain-{cfg.model}-s{cfg.sparsity:g}"
    summary = train(cfg, Path(out), args.resume, progress=not args.quiet, stop_after=args.stop_after)
    if args.json:
        print_json(summary)
    elif "stopped_at" in summary:
        print(f"stopped after {summary['stopped_at']} of {summary['steps']} steps; resume with --resume {summary['checkpoint']}")
    else:
        print(
            f"val loss {summary['initial_loss']:.3f} -> {summary['final_loss']:.3f} (ln V = {summary['ln_vocab']:.3f}); "
            f"{summary['steps']} steps, {summary['tokens']:,} tokens, sparsity {summary['sparsity']:g} "
            f"(overall {summary['overall_sparsity']:.3f}); FLOPs sparse-equivalent {summary['flops_sparse_equivalent']:.3e}, "
            f"executed {summary['flops_executed']:.3e}, analytic {summary['flops_analytic']:.3e}; "
            f"{summary['wall_seconds']:.1f} s; checkpoint {summary['checkpoint']}"
        )
    return 0


if __name__ == "__main__":
    run_cli(main)
