"""``python -m mediswift_np.tasks``: write the synthetic splits, or score a prediction file like the official scripts.

    make --task pubmedqa [--evidence context|knowledge] --seed K --out DIR
        Writes train.json, dev.json and test.json in the ``ori_pqal.json`` schema and
        test_ground_truth.json ({PMID: label}), about disjoint catalogue drugs: no
        question, PMID or drug occurs in two splits. ``knowledge`` leaves the results
        sentence out (closed book). ``finetune --data DIR`` reads exactly these files.
    make --task hoc --seed K --out DIR
        Writes train.tsv, valid.tsv and test.tsv (``sentence<TAB>label|label``); no
        sentence occurs in two of them. ``make`` refuses an ``--out`` that holds anything,
        unless ``--overwrite``.

    score --task pubmedqa --predictions PRED.json --gold test_ground_truth.json
        PRED.json is ``{PMID: label}``; its PMIDs must be exactly the test set's.
        Prints accuracy and macro-F1 as the official ``evaluation.py`` does, then
        macro-F1 over yes/no/maybe (they differ only when some answers are ``failed``).
    score --task hoc --predictions PRED.txt --gold test.tsv
        One label line per test sentence (labels joined by ``|``).
        Prints micro-F1 over the 11 classes (BioGPT's hard-match evaluation).
    Predictions that hold labels outside the task's label set (``Yes``, ``null``, ``failed``)
    are counted as ``unparseable``, and a warning on stderr names the first.

Does not handle: scoring several prediction files at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from ..cli import ArgumentParser, add_output_flags, add_overwrite_flag
from ..data.synthetic_tasks import EVIDENCE, synthetic_hoc_splits, synthetic_pubmedqa_splits
from ..errors import UserError, print_json, run_cli
from ..fileio import atomic_write_json, atomic_write_text, check_output_dir, writing_into
from . import hoc, pubmedqa


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m mediswift_np.tasks", description="Write synthetic task splits, or score prediction files as the official scripts do.")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="write the synthetic train/validation/test splits in the real files' formats")
    m.add_argument("--task", choices=("pubmedqa", "hoc"), required=True)
    m.add_argument("--evidence", choices=EVIDENCE, default="context", help="pubmedqa: results sentence in the context, or closed book (default context)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", type=Path, required=True, help="folder to write the split files into")
    m.add_argument("--n-train", type=int, default=400)
    m.add_argument("--n-val", type=int, default=60)
    m.add_argument("--n-test", type=int, default=200)
    add_overwrite_flag(m)
    add_output_flags(m)
    s = sub.add_parser("score", help="score a prediction file against the gold test labels")
    s.add_argument("--task", choices=("pubmedqa", "hoc"), required=True)
    s.add_argument("--predictions", type=Path, required=True, help="PubMedQA: {PMID: label} JSON; HoC: one label line per sentence")
    s.add_argument("--gold", type=Path, required=True, help="PubMedQA: test_ground_truth.json; HoC: the test TSV")
    add_output_flags(s)
    return p


def make(args) -> dict:
    """Write the splits of ``args.task`` into ``args.out``; returns what was written."""
    sizes = (args.n_train, args.n_val, args.n_test)
    if min(sizes) < 1:
        raise UserError(f"--n-train, --n-val and --n-test must be >= 1, got {sizes}")
    if args.task == "hoc" and args.evidence != "context":
        raise UserError("--evidence knowledge exists for pubmedqa only")
    check_output_dir(args.out, overwrite=args.overwrite)
    if args.task == "pubmedqa":
        train, val, test = synthetic_pubmedqa_splits(sizes, args.seed, args.evidence)  # everything is made before anything is written
        files = {"train.json": train, "dev.json": val, "test.json": test,
                 "test_ground_truth.json": {pmid: r["final_decision"] for pmid, r in test.items()}}  # fmt: skip
        with writing_into(args.out):  # every file, or (on a full disk) none
            for name, data in files.items():
                atomic_write_json(args.out / name, data)
    else:
        parts = synthetic_hoc_splits(sizes, args.seed)
        files = dict(zip(("train.tsv", "valid.tsv", "test.tsv"), parts))
        with writing_into(args.out):
            for name, pairs in files.items():
                atomic_write_text(args.out / name, "".join(f"{text}\t{'|'.join(labels)}\n" for text, labels in pairs))
    return {"task": args.task, "evidence": args.evidence, "seed": args.seed, "out": str(args.out),
            "files": sorted(files), "sizes": dict(zip(("train", "val", "test"), sizes))}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "make":
        result = make(args)
        print(f"wrote {', '.join(result['files'])} to {result['out']} ({args.n_train} / {args.n_val} / {args.n_test} examples)")
        if args.json:
            print_json(result)
        return 0
    if args.task == "pubmedqa":
        result = pubmedqa.score_prediction_file(args.predictions, args.gold)
        print(f"Accuracy {result['accuracy']:f}\nMacro-F1 {result['macro_f1_file']:f}")  # the lines evaluation.py prints
        print(f"(macro-F1 over yes/no/maybe {result['macro_f1']:f}; {result['n']} questions, {result['unparseable']} unparseable)")
    else:
        result = hoc.score_prediction_file(args.predictions, args.gold)
        print(f"Micro-F1 {result['micro_f1']:f} (sentence-level; {result['n']} sentences, {result['unparseable']} unparseable)")
    if result["unparseable"]:
        print(f"warning: {result['unparseable']} of {result['n']} predictions hold labels outside the task's label set "
              f"(first: {result['first_unparseable']}); " + ("they are scored as wrong" if args.task == "pubmedqa" else "those labels predict no class"),
              file=sys.stderr)  # fmt: skip
    if args.json:
        print_json({"task": args.task, **result})
    return 0


if __name__ == "__main__":
    run_cli(main)
