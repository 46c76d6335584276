"""Command line: export a checkpoint to Hugging Face GPT-2 format, or import one back.

``python -m mediswift_np.export --ckpt DIR --out DIR [--format hf]``
    Write a directory that ``GPT2LMHeadModel.from_pretrained`` and ``BioGptTokenizer``
    (or ``AutoTokenizer``) load: config.json, model.safetensors, vocab.json, merges.txt,
    plus soft_prompt.json for a fine-tuned checkpoint with a soft prompt and
    sparsity_masks.safetensors for a sparse one (see :mod:`mediswift_np.interop.hf`).
``python -m mediswift_np.export --import-hf DIR --out DIR``
    The reverse: a Hugging Face GPT-2 directory (ours or ``save_pretrained``'s) becomes a
    mediswift_np checkpoint (``kind: "imported"``; masks and soft prompt restored).

``--json`` prints one JSON summary as the last stdout line. Bad or mismatched files
(no checkpoint, a truncated safetensors file, shapes that disagree with config.json,
pruned weights that are not 0, a vocab.json of another model) print ``error: ...`` and
exit with status 2; an output directory holding something else is never overwritten.

Does not handle: formats other than Hugging Face GPT-2 (``--format`` has one choice),
uploading to or downloading from the Hub.
"""

from __future__ import annotations

import time
from typing import Sequence

from .cli import ArgumentParser, add_output_flags
from .errors import print_json, run_cli
from .interop import export_hf, import_hf_checkpoint

FORMATS = ("hf",)


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m mediswift_np.export", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", metavar="DIR", help="mediswift_np checkpoint directory to export")
    src.add_argument("--import-hf", metavar="DIR", help="Hugging Face GPT-2 directory to import as a checkpoint")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (new, or a previous export)")
    p.add_argument("--format", choices=FORMATS, default="hf", help="export format (default hf)")
    add_output_flags(p, quiet=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    if args.ckpt is not None:
        summary = {"direction": "export", **export_hf(args.ckpt, args.out, progress=not args.quiet)}
    else:
        summary = {"direction": "import", "format": args.format, **import_hf_checkpoint(args.import_hf, args.out)}
    summary["wall_seconds"] = round(time.perf_counter() - start, 3)
    if args.json:
        print_json(summary)
    else:
        what = "exported to" if args.ckpt is not None else "imported into"
        print(f"{what} {args.out}: vocab {summary['vocab_size']}, {summary['prompt_tokens']} prompt tokens, "
              f"{summary['masked_tensors']} masked tensors ({summary['pruned_weights']} pruned weights, all 0)")  # fmt: skip
    return 0


if __name__ == "__main__":
    run_cli(main)
