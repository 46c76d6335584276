"""Command line: export a checkpoint to Hugging Face GPT-2 format, or import one back.

``python -m mediswift_np.export --ckpt DIR --out DIR [--format hf]``
    Write a directory that ``GPT2LMHeadModel.from_pretrained`` and ``BioGptTokenizer``
    (or ``AutoTokenizer``) load: config.json, model.safetensors, vocab.json, merges.txt,
    plus soft_prompt.json for a fine-tuned checkpoint with a soft prompt,
    sparsity_masks.safetensors for a sparse one, and optimizer.safetensors +
    training_state.json for a pre-training one (AdamW moments, step, RNG states, config:
    what a run needs to continue; see :mod:`mediswift_np.interop.hf`).
``... --ckpt DIR --out DIR --train-tokens FILE.npy``
    Also write the training split of the checkpoint's pre-training corpus, tokenized with
    its tokenizer, as one int32 array: the stream ``pretrain`` samples its batches from,
    which reference/train_ddp.py reads to draw the same batches in the same order.
``python -m mediswift_np.export --import-hf DIR --out DIR``
    The reverse: a Hugging Face GPT-2 directory (ours or ``save_pretrained``'s) becomes a
    mediswift_np checkpoint (``kind: "imported"``; masks and soft prompt restored), or,
    with a training state, the pre-training checkpoint that ``pretrain --resume`` continues.

``--json`` prints one JSON summary as the last stdout line. Bad or mismatched files
(no checkpoint, a truncated safetensors file, shapes that disagree with config.json,
pruned weights that are not 0, a vocab.json of another model, a missing, truncated or
mismatched optimizer.safetensors or training_state.json) print ``error: ...`` and
exit with status 2; an output directory holding something else is never overwritten.

Does not handle: formats other than Hugging Face GPT-2 (``--format`` has one choice),
uploading to or downloading from the Hub.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from . import checkpoint
from .cli import ArgumentParser, add_output_flags
from .data import token_stream, train_val_split
from .errors import UserError, print_json, run_cli
from .fileio import atomic_write_bytes
from .interop import export_hf, import_hf_checkpoint

FORMATS = ("hf",)


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m mediswift_np.export", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", metavar="DIR", help="mediswift_np checkpoint directory to export")
    src.add_argument("--import-hf", metavar="DIR", help="Hugging Face GPT-2 directory to import as a checkpoint")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (new, or a previous export)")
    p.add_argument("--format", choices=FORMATS, default="hf", help="export format (default hf)")
    p.add_argument("--train-tokens", metavar="FILE", help="with --ckpt: also write the training token stream (.npy) of its corpus")
    add_output_flags(p, quiet=True)
    return p


def train_tokens(ckpt_dir, progress: bool = False) -> np.ndarray:
    """The training split ``pretrain`` samples its batches from, for a pre-training checkpoint.

    The same three calls as pre-training: its corpus (``load_texts``), tokenized with the
    checkpoint's tokenizer (``token_stream``), minus the held-out tail (``train_val_split``).
    """
    from .pretrain import PretrainConfig, load_texts, resumable_state  # only this option needs the trainer

    state = resumable_state(Path(ckpt_dir))  # a verified pre-training checkpoint, or a one-line error
    tokenizer = checkpoint.load_tokenizer(ckpt_dir)
    cfg = PretrainConfig(**{**state["pretrain"], "corpus": tuple(state["pretrain"].get("corpus", ()))})
    stream = token_stream(load_texts(cfg), tokenizer, progress=progress)
    train_ids, _ = train_val_split(stream, cfg.val_fraction, tokenizer.eos_id)
    return train_ids.astype(np.int32)  # (N,)


def save_npy(path, array: np.ndarray) -> None:
    """``array`` as a ``.npy`` file, written atomically, that loads with ``allow_pickle=False``."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    if args.train_tokens is not None and (args.ckpt is None or not args.train_tokens.endswith(".npy")):
        raise UserError(f"--train-tokens needs --ckpt and a file name ending in .npy, got {args.train_tokens}")
    if args.ckpt is not None:
        tokens = None if args.train_tokens is None else train_tokens(args.ckpt, progress=not args.quiet)  # before writing anything
        summary = {"direction": "export", **export_hf(args.ckpt, args.out, progress=not args.quiet)}
        if tokens is not None:
            save_npy(args.train_tokens, tokens)
            summary["train_tokens"] = len(tokens)
    else:
        summary = {"direction": "import", "format": args.format, **import_hf_checkpoint(args.import_hf, args.out)}
    summary["wall_seconds"] = round(time.perf_counter() - start, 3)
    if args.json:
        print_json(summary)
    else:
        what = "exported to" if args.ckpt is not None else "imported into"
        step = summary["training_state_step"] if args.ckpt is not None else summary["step"] if summary["kind"] == "pretrain" else None
        print(f"{what} {args.out}: vocab {summary['vocab_size']}, {summary['prompt_tokens']} prompt tokens, "
              f"{summary['masked_tensors']} masked tensors ({summary['pruned_weights']} pruned weights, all 0)"
              + ("" if step is None else f", training state at step {step}"))  # fmt: skip
    return 0


if __name__ == "__main__":
    run_cli(main)
