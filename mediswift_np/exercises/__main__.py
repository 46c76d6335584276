"""Command line of the exercise checker.

    python -m mediswift_np.exercises list
    python -m mediswift_np.exercises check FILE.py [--exercise N ...] [--seed K] [--json]

``check`` prints PASS / FAIL (with expected vs got and a hint) / TODO per exercise and
exits 0 when every selected exercise passes, 1 otherwise, and 2 for bad input (missing
file, a file that does not import, an unknown exercise number).

Does not handle: watching the file for changes; run it again after each edit.
"""

from __future__ import annotations

from typing import Sequence

from ..cli import ArgumentParser, add_output_flags
from ..errors import print_json, run_cli
from . import EXERCISES, check


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mediswift_np.exercises",
        description="Check your answers to the sparse-FLOP exercises (tutorials/exercises/).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,list}")
    c = sub.add_parser("check", help="grade a file of answers", description="Grade a file of answers.")
    c.add_argument("file", help="your answers, e.g. tutorials/exercises/sparse_flops.py")
    c.add_argument("--exercise", "-e", type=int, action="append", metavar="N",
                   help="check only exercise N (repeat for several; default: all)")
    c.add_argument("--seed", type=int, default=0, help="seed of the random test inputs (default 0)")
    add_output_flags(c)
    sub.add_parser("list", help="list the exercises and what to read first", description="List the exercises.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for e in EXERCISES:
            names = ", ".join(t.function for t in e.tasks)
            print(f"{e.number}. {e.title}\n   functions: {names}\n   read first: {e.reading}")
        return 0
    report = check(args.file, exercises=args.exercise, seed=args.seed)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.format())
    return 0 if report.passed else 1


if __name__ == "__main__":
    run_cli(main)
