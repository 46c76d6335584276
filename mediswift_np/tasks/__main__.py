"""``python -m mediswift_np.tasks score``: score a prediction file like the official scripts.

    score --task pubmedqa --predictions PRED.json --gold test_ground_truth.json
        PRED.json is ``{PMID: label}``; its PMIDs must be exactly the test set's.
        Prints accuracy and macro-F1 as the official ``evaluation.py`` does, then
        macro-F1 over yes/no/maybe (they differ only when some answers are ``failed``).
    score --task hoc --predictions PRED.txt --gold test.tsv
        One label line per test sentence (labels joined by ``|``).
        Prints micro-F1 over the 11 classes (BioGPT's hard-match evaluation).

Does not handle: scoring several prediction files at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..cli import ArgumentParser, add_output_flags
from ..errors import print_json, run_cli
from . import hoc, pubmedqa


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m mediswift_np.tasks", description="Score prediction files as the official scripts do.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="score a prediction file against the gold test labels")
    s.add_argument("--task", choices=("pubmedqa", "hoc"), required=True)
    s.add_argument("--predictions", type=Path, required=True, help="PubMedQA: {PMID: label} JSON; HoC: one label line per sentence")
    s.add_argument("--gold", type=Path, required=True, help="PubMedQA: test_ground_truth.json; HoC: the test TSV")
    add_output_flags(s)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.task == "pubmedqa":
        result = pubmedqa.score_prediction_file(args.predictions, args.gold)
        print(f"Accuracy {result['accuracy']:f}\nMacro-F1 {result['macro_f1_file']:f}")  # the lines evaluation.py prints
        print(f"(macro-F1 over yes/no/maybe {result['macro_f1']:f}; {result['n']} questions, {result['unparseable']} unparseable)")
    else:
        result = hoc.score_prediction_file(args.predictions, args.gold)
        print(f"Micro-F1 {result['micro_f1']:f} (sentence-level; {result['n']} sentences, {result['unparseable']} unparseable)")
    if args.json:
        print_json({"task": args.task, **result})
    return 0


if __name__ == "__main__":
    run_cli(main)
