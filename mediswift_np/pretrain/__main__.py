"""``python -m mediswift_np.pretrain``: sparse pre-training on the command line.

    python -m mediswift_np.pretrain --tiny --sparsity 0.75 --out runs/s75
    python -m mediswift_np.pretrain --tiny --steps 400 --stop-after 200 --out runs/a   # then:
    python -m mediswift_np.pretrain --resume runs/a

One option per field of :class:`~mediswift_np.pretrain.config.PretrainConfig`; ``--tiny``
names the tiny preset (the default) and conflicts with ``--model`` naming another. Every
input is checked before any work: the options, the output directory (refused if it holds
anything but the run being resumed, unless ``--overwrite``), and on resume the whole
checkpoint (resume.py). Prints the summary, or with ``--json`` one JSON object.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .. import sparse
from ..sparse import dst
from ..cli import ArgumentParser, add_config_flags, add_output_flags, add_overwrite_flag, given_config_values
from ..errors import UserError, print_json, run_cli
from ..fileio import check_output_dir
from .config import PAPER_PRESETS, PAPER_RECIPE, PretrainConfig
from .loop import check_stop_after, train
from .resume import FIELDS, resumable_state, rounding_note

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
    p.add_argument("--tiny", action="store_true", help="the classroom recipe: the tiny preset on the synthetic corpus (the default model)")
    p.add_argument("--out", type=Path, help="checkpoint directory (default runs/pretrain-<model>-s<sparsity>)")
    p.add_argument("--resume", type=Path, help="continue the run saved in this checkpoint directory")
    add_overwrite_flag(p)
    add_output_flags(p, quiet=True)
    p.add_argument("--stop-after", type=int, metavar="K", help="save and stop after K steps, 1 <= K < --steps (resume later with --resume)")
    add_config_flags(p, PretrainConfig, helps=HELP, special={  # one option per config field; None = "not given"
        "corpus": dict(action="append", metavar="PATH", help="real corpus file (.xml, .xml.gz, .jsonl, .txt); repeatable"),
        "sparse_backend": dict(choices=sparse.BACKENDS, help=f"masked matmul path (default {FIELDS['sparse_backend'].default}; see sparse.py)"),
        "sparse_method": dict(choices=dst.METHODS, help="static masks (the paper) or dynamic: SET, RigL (see sparse/dst.py)"),
    })
    return p


def config_from_args(args: argparse.Namespace, base: dict | None = None) -> PretrainConfig:
    """Defaults, then the checkpoint's config (on resume), then what the user gave."""
    given = given_config_values(args, PretrainConfig)
    if args.tiny:
        if given.get("model", "tiny") != "tiny":
            raise UserError(f"--tiny selects the tiny preset and conflicts with --model {given['model']}; give one of them")
        given["model"] = "tiny"
    if base is not None:
        changed = {k: v for k, v in given.items() if k != "steps" and base.get(k) != v}
        if changed:
            k, v = next(iter(changed.items()))
            raise UserError(f"config mismatch on resume: --{k.replace('_', '-')} {v} but the checkpoint has {base.get(k)}")
        values = {**base, "corpus": tuple(base.get("corpus", ())), **given}
    else:
        values = {**(PAPER_RECIPE if given.get("model") in PAPER_PRESETS else {}), **given}
    return PretrainConfig(**values).validate()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.resume is not None:
        state = resumable_state(args.resume)
        cfg = config_from_args(args, state["pretrain"])
        if cfg.steps <= state["step"]:
            raise UserError(f"--steps {cfg.steps} is not beyond the checkpoint's step {state['step']}")
        if cfg.steps != state["pretrain"]["steps"]:
            raise UserError(f"config mismatch on resume: --steps {cfg.steps} but the run was planned for {state['pretrain']['steps']} (the schedule depends on it)")
        out = args.out or args.resume
        note = rounding_note(state, args.resume)
        if note:
            print(note, file=sys.stderr)
    else:
        cfg = config_from_args(args)
        out = args.out or Path("runs") / f"pretrain-{cfg.model}-s{cfg.sparsity:g}"
    check_stop_after(args.stop_after, state["step"] if args.resume is not None else 0, cfg.steps)
    check_output_dir(out, overwrite=args.overwrite, resuming=args.resume)  # before any work
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
