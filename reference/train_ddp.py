"""MediSwift's sparse pre-training on PyTorch DDP: the bridge from mediswift_np to GPUs.

    python -m mediswift_np.interop export --ckpt CKPT --out run/ --train-tokens train.npy
    torchrun --nproc_per_node N reference/train_ddp.py --export run/ --tokens train.npy --out run2/
    python -m mediswift_np.interop import --hf run2/ --out CKPT2
    python -m mediswift_np.pretrain --resume CKPT2            # back in NumPy (after a --stop-after K run)

It reads an export with a training state (weights, static masks, AdamW moments, step,
pre-training config and data RNG state; see mediswift_np/interop/training_state.py) into
transformers' ``GPT2LMHeadModel``, continues the run under DDP (gloo on CPU, NCCL on
GPUs), and writes the same format back. Each step is mediswift_np.pretrain's step:

1. The global batch is ``sample_batch(tokens, B, T, data_rng)``: the same NumPy draws from
   the same generator state, so the same windows in the same order. Rank r of N takes
   rows r·B/N .. (r+1)·B/N - 1.
2. The loss is the mean cross-entropy over the rank's (B/N)·T tokens. DDP averages the
   gradients over the N ranks, and the shards are equal, so the result is the gradient of
   the mean over the global batch's B·T tokens: our loss (Eq. 1 divided by B·T).
3. The gradient of every pruned weight is set to 0. Our masked matmul never computes it,
   so AdamW's m and v stay 0 there and its update is 0 / (0 + ε) = 0 (optim.py).
4. Global-norm clipping at ``grad_clip``; lr = ``lr_schedule(step, total, peak)`` (App. A.1:
   10% linear warmup, cosine to 10% of the peak); AdamW (β1, β2, ε of App. A.1) with
   weight decay only on the parameters the export lists under "decay" (optim.py's groups).
5. The mask is applied to the weights again after the step: in exact arithmetic a no-op
   (0 update, decay of 0 is 0), kept so pruned weights are exactly +0.0 whatever happens.

The schedule and the batch sampler are mediswift_np's own functions (pure NumPy), so they
are ours by construction; PyTorch does the model, the gradients, AdamW and the all-reduce.
Without torchrun (plain ``python``) it runs as one process without DDP. Everything is
checked before training: the export's hashes, the token stream against the export's
tokenizer (the hash beside it, interop/token_stream.py), and ``--out``, which must be new,
empty or the export being continued, unless ``--overwrite``.

Does not handle: dynamic sparse training (set/rigl), dropout (pre-training uses none),
validation losses, gradient accumulation, mixed precision, sharded optimizers (FSDP,
ZeRO). The FLOP counters in the state count only the steps NumPy ran.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import transformers
from torch.nn.parallel import DistributedDataParallel

from mediswift_np.cli import ArgumentParser
from mediswift_np.data import sample_batch
from mediswift_np.errors import UserError, print_json, run_cli
from mediswift_np.fileio import check_output_dir
from mediswift_np.interop import export_model, load_hf
from mediswift_np.interop.token_stream import load_token_stream
from mediswift_np.interop.training_state import TrainingState, derived_fields
from mediswift_np.optim import lr_schedule


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="reference/train_ddp.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--export", required=True, type=Path, help="export directory with a training state (python -m mediswift_np.interop export --ckpt)")
    p.add_argument("--tokens", required=True, type=Path, help="the training token stream, .npy (interop export --train-tokens)")
    p.add_argument("--out", required=True, type=Path, help="where to write the continued run (new or empty, or the --export directory)")
    p.add_argument("--overwrite", action="store_true", help="replace the export that --out holds")
    p.add_argument("--steps", type=int, help="total steps of the schedule (default: the run's plan; may be changed only at step 0)")
    p.add_argument("--batch-size", type=int, help="global batch, split over the processes (default: the run's; may be changed only at step 0)")
    p.add_argument("--stop-after", type=int, metavar="K", help="save and stop when the run reaches step K")
    p.add_argument("--save-every", type=int, default=0, metavar="K", help="also save every K steps (default 0: only at the end)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last stdout line (rank 0)")
    return p


def read_run(args) -> tuple:
    """(the export as mediswift_np reads it, its state with the run's plan, the step to stop at, the tokens), all checked."""
    imp = load_hf(args.export)  # hashes, shapes, masks and moments checked (interop/training_state.py)
    if imp.training is None:
        raise UserError(f"{args.export}: no training state (optimizer.safetensors); export a pre-training checkpoint")
    state, step = imp.training.state, imp.training.step
    pre = state["pretrain"]
    if pre.get("sparse_method", "static") != "static":
        raise UserError(f"{args.export}: sparse_method {pre['sparse_method']!r}; this trainer keeps static masks only")
    plan = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v is not None and v != pre[k]}
    if plan and step > 0:  # at step 0 (pretrain --steps 0) the plan is still open
        k, v = next(iter(plan.items()))
        raise UserError(f"--{k.replace('_', '-')} {v} but the run at step {step} was planned with {pre[k]} (the schedule depends on it)")
    pre = {**pre, **plan}
    stop = pre["steps"] if args.stop_after is None else args.stop_after
    if not step < stop <= pre["steps"]:
        raise UserError(f"nothing to do: the run is at step {step}, asked to stop at {stop} of {pre['steps']}")
    if pre["batch_size"] < 1:
        raise UserError(f"--batch-size must be >= 1, got {pre['batch_size']}")
    if imp.tokenizer is None:
        raise UserError(f"{args.export}: no vocab.json, so the token stream cannot be checked against the export's tokenizer")
    tokens = load_token_stream(args.tokens, imp.tokenizer)  # made by this tokenizer, unchanged since
    if len(tokens) <= pre["seq_len"]:
        raise UserError(f"{args.tokens}: {len(tokens)} tokens, but a window needs more than {pre['seq_len']}")
    check_output_dir(args.out, overwrite=args.overwrite, resuming=args.export)  # refuse a bad --out before training, not after
    return imp, dict(state, pretrain=pre), stop, tokens


def start_processes(device_kind: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun: a process group, gloo on CPU, NCCL on GPUs."""
    if "WORLD_SIZE" not in os.environ:  # plain python: one process, no DDP
        return 0, 1, torch.device(device_kind)
    dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    local_rank = int(os.environ["LOCAL_RANK"])
    if device_kind == "cuda":
        torch.cuda.set_device(local_rank)
        return dist.get_rank(), dist.get_world_size(), torch.device("cuda", local_rank)
    return dist.get_rank(), dist.get_world_size(), torch.device("cpu")


def build_optimizer(params: dict[str, torch.nn.Parameter], imp, device) -> torch.optim.AdamW:
    """torch's AdamW with our parameter groups, hyperparameters and moments (m, v, t)."""
    adamw = derived_fields(imp.training, imp.model)["adamw"]  # what training_state.json says
    decay = set(adamw["decay"])
    groups = [
        {"params": [p for n, p in params.items() if n in decay], "weight_decay": adamw["weight_decay"]},
        {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=0.0, betas=(adamw["beta1"], adamw["beta2"]), eps=adamw["eps"])
    moments = imp.training.moments
    for name, p in params.items():
        opt.state[p] = {
            "step": torch.tensor(float(moments["t"]), dtype=torch.float32),  # t steps taken; torch adds 1 before use, as we do
            "exp_avg": torch.from_numpy(moments[f"m/{name}"].copy()).to(device),
            "exp_avg_sq": torch.from_numpy(moments[f"v/{name}"].copy()).to(device),
        }
    return opt


def save(out: Path, imp, params: dict[str, torch.nn.Parameter], opt, state: dict) -> None:
    """Write the run in the export format, through mediswift_np's own writer (rank 0 only)."""
    imp.model.load_state_dict({n: p.detach().cpu().numpy() for n, p in params.items()})
    moments = {"t": np.array(state["step"], dtype=np.int64)}
    for name, p in params.items():
        moments[f"m/{name}"] = opt.state[p]["exp_avg"].cpu().numpy()
        moments[f"v/{name}"] = opt.state[p]["exp_avg_sq"].cpu().numpy()
    export_model(imp.model, out, imp.tokenizer, training=TrainingState(moments, state))  # checks pruned weights are 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    imp, state, stop, tokens = read_run(args)
    rank, world, device = start_processes(args.device)
    pre, start = state["pretrain"], state["step"]
    if pre["batch_size"] % world:
        raise UserError(f"the global batch of {pre['batch_size']} does not split over {world} processes")
    transformers.logging.set_verbosity_error()
    model = transformers.GPT2LMHeadModel.from_pretrained(str(args.export)).to(device, torch.float32).train()
    params = dict(model.named_parameters())  # GPT-2 names; the tied lm_head.weight is wte, listed once
    keep = {n: torch.from_numpy(p.mask).to(device) for n, p in imp.model.named_parameters() if p.mask is not None}  # True = kept
    opt = build_optimizer(params, imp, device)
    ddp = DistributedDataParallel(model) if world > 1 else model
    data_rng = np.random.default_rng()
    data_rng.bit_generator.state = state["data_rng"]  # where pretrain's batch sampler stopped
    shard = slice(rank * pre["batch_size"] // world, (rank + 1) * pre["batch_size"] // world)
    state["train_losses"] = list(state["train_losses"])  # one loss per step, from step 0
    clock = time.perf_counter()

    for step in range(start, stop):
        x, y = sample_batch(tokens, pre["batch_size"], pre["seq_len"], data_rng)  # (B, T) each: the global batch
        x, y = (torch.from_numpy(a[shard]).to(device) for a in (x, y))  # (B/N, T): this rank's rows
        logits = ddp(input_ids=x).logits  # (B/N, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # mean over this rank's tokens
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces: every rank now holds the gradient of the global mean
        with torch.no_grad():
            for name, kept in keep.items():
                params[name].grad.masked_fill_(~kept, 0.0)  # pruned weights get no gradient (Eq. 1: m ⊙ θ)
            torch.nn.utils.clip_grad_norm_(list(params.values()), pre["grad_clip"])
            for group in opt.param_groups:
                group["lr"] = lr_schedule(step, pre["steps"], peak=pre["lr"])  # App. A.1
            opt.step()
            for name, kept in keep.items():
                params[name].masked_fill_(~kept, 0.0)  # a no-op in exact arithmetic; pruned stays +0.0
            mean_loss = loss.detach().clone()
            if world > 1:
                dist.all_reduce(mean_loss)  # sum of the ranks' means
                mean_loss /= world  # = the mean over the global batch
        if not torch.isfinite(mean_loss):  # as pretrain does: a diverged run never overwrites a good checkpoint
            raise UserError(f"loss became {mean_loss.item()} at step {step}; nothing saved since the last checkpoint (try a lower lr)")
        state["train_losses"].append(mean_loss.item())
        state.update(step=step + 1, data_rng=data_rng.bit_generator.state)
        if rank == 0 and not args.json:
            print(f"step {step + 1}/{pre['steps']}  loss {mean_loss.item():.4f}", flush=True)
        if step + 1 == stop or (args.save_every and (step + 1) % args.save_every == 0):
            state.pop("summary", None)  # the summary of a finished NumPy run no longer describes this one
            state["reference"] = {"trainer": "reference/train_ddp.py", "torch": torch.__version__, "world_size": world, "device": device.type}
            if rank == 0:
                save(args.out, imp, params, opt, state)
            if world > 1:
                dist.barrier()  # no rank leaves before the checkpoint is complete

    if rank == 0 and args.json:
        print_json({"out": str(args.out), "start_step": start, "step": stop, "steps": pre["steps"], "world_size": world,
                    "device": device.type, "losses": state["train_losses"][start:stop],
                    "wall_seconds": round(time.perf_counter() - clock, 3)})  # fmt: skip
    if world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    run_cli(main)
