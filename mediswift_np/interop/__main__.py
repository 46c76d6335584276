"""``python -m mediswift_np.interop export|import``: Hugging Face GPT-2 format on the command line.

``export --ckpt DIR --out DIR``
    Write a directory that ``GPT2LMHeadModel.from_pretrained`` and ``BioGptTokenizer``
    (or ``AutoTokenizer``) load: config.json, model.safetensors, vocab.json, merges.txt,
    plus soft_prompt.json for a fine-tuned checkpoint with a soft prompt,
    sparsity_masks.safetensors for a sparse one, and optimizer.safetensors +
    training_state.json for a pre-training one (AdamW moments, step, RNG states, config:
    what a run needs to continue; see :mod:`mediswift_np.interop.hf`).
``export --ckpt DIR --out DIR --train-tokens FILE.npy``
    Also write the training split of the checkpoint's pre-training corpus, tokenized with
    its tokenizer, with the tokenizer's hash beside it (token_stream.py): the stream
    reference/train_ddp.py reads to draw the same batches in the same order.
``import --hf DIR --out DIR``
    The reverse: a Hugging Face GPT-2 directory (ours or ``save_pretrained``'s) becomes a
    mediswift_np checkpoint (``kind: "imported"``; masks and soft prompt restored), or,
    with a training state, the pre-training checkpoint that ``pretrain --resume`` continues.

``--json`` prints one JSON summary as the last stdout line. Bad or mismatched files
(no checkpoint, NaN or infinite weights, a truncated safetensors file, shapes that
disagree with config.json, pruned weights that are not 0, a vocab.json of another model,
a missing, truncated or mismatched optimizer.safetensors or training_state.json) print
``error: ...`` and exit with status 2. ``--out`` is checked before any work: a directory
that holds anything (a previous export too) is refused unless ``--overwrite`` is given,
and a folder that a failed export created is removed.

Does not handle: formats other than Hugging Face GPT-2, uploading to or downloading from
the Hub.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from .. import checkpoint
from ..cli import ArgumentParser, add_output_flags, add_overwrite_flag
from ..errors import UserError, print_json, run_cli
from ..fileio import check_output_dir, writing_into
from .hf import export_hf, import_hf_checkpoint
from .token_stream import save_token_stream, train_tokens


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m mediswift_np.interop", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write a checkpoint as a Hugging Face GPT-2 directory")
    e.add_argument("--ckpt", required=True, metavar="DIR", help="mediswift_np checkpoint directory to export")
    e.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (new or empty)")
    e.add_argument("--train-tokens", metavar="FILE", help="also write the training token stream (.npy) of a pre-training checkpoint's corpus")
    i = sub.add_parser("import", help="turn a Hugging Face GPT-2 directory into a mediswift_np checkpoint")
    i.add_argument("--hf", required=True, metavar="DIR", help="Hugging Face GPT-2 directory to import")
    i.add_argument("--out", required=True, type=Path, metavar="DIR", help="checkpoint directory (new or empty)")
    for s in (e, i):
        add_overwrite_flag(s)
        add_output_flags(s, quiet=True)
    return p


def export(args) -> dict:
    if args.train_tokens is not None and not args.train_tokens.endswith(".npy"):
        raise UserError(f"--train-tokens needs a file name ending in .npy, got {args.train_tokens}")
    tokens = None if args.train_tokens is None else train_tokens(args.ckpt, progress=not args.quiet)  # before writing anything
    with writing_into(args.out):
        summary = {"direction": "export", **export_hf(args.ckpt, args.out, progress=not args.quiet)}
    if tokens is not None:
        with writing_into(Path(args.train_tokens).parent):
            save_token_stream(args.train_tokens, tokens, checkpoint.load_tokenizer(args.ckpt))
        summary["train_tokens"] = len(tokens)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    check_output_dir(args.out, overwrite=args.overwrite)  # before any work
    if args.command == "export":
        summary = export(args)
    else:
        with writing_into(args.out):
            summary = {"direction": "import", "format": "hf", **import_hf_checkpoint(args.hf, args.out, overwrite=args.overwrite)}
    summary["wall_seconds"] = round(time.perf_counter() - start, 3)
    if args.json:
        print_json(summary)
    else:
        what = "exported to" if args.command == "export" else "imported into"
        step = summary["training_state_step"] if args.command == "export" else summary["step"] if summary["kind"] == "pretrain" else None
        print(f"{what} {args.out}: vocab {summary['vocab_size']}, {summary['prompt_tokens']} prompt tokens, "
              f"{summary['masked_tensors']} masked tensors ({summary['pruned_weights']} pruned weights, all 0)"
              + ("" if step is None else f", training state at step {step}"))  # fmt: skip
    return 0


if __name__ == "__main__":
    run_cli(main)
