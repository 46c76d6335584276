"""Command line of the exercise checker.

    python -m mediswift_np.exercises list [TRACK]
    python -m mediswift_np.exercises check TRACK [--file FILE.py] [-e N ...] [--seed K] [--hidden]
                                                 [--timeout S] [--json]
    python -m mediswift_np.exercises check FILE.py [...]        # the track from the file's TRACK = "..." line
    python -m mediswift_np.exercises grade TRACK FOLDER [--seed K] [--hidden] [--timeout S] [--json]

``check`` prints PASS / FAIL (what is wrong and a hint, never the expected value) /
TODO / SKIP per exercise and exits 0 when every selected exercise passes, 1 otherwise,
and 2 for bad input (unknown track, missing file, a file that does not import, an
unknown exercise number). Without ``--file`` it checks the track's template in
``tutorials/exercises/``. Student code runs in a separate process with ``--timeout``
seconds per exercise (default 20).

``grade`` checks every ``*.py`` file of FOLDER (one submission each) on the track and
prints one line per submission -- points and each exercise's status -- or, with
``--json``, one JSON object with every report. ``--hidden`` draws other random inputs
and leaves them out of the reports; pick a ``--seed`` the students do not know. It
exits 0 once every file is graded (a file that cannot be imported scores 0 and says
why), 2 for bad usage.

Does not handle: watching the file for changes; run it again after each edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..cli import ArgumentParser, add_output_flags
from ..errors import UserError, print_json, run_cli
from . import TRACKS, check, get_track, track_of
from .grading import STATUSES
from .runner import DEFAULT_TIMEOUT

TEMPLATES = Path(__file__).resolve().parents[2] / "tutorials" / "exercises"


def add_run_flags(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the random test inputs (default 0)")
    parser.add_argument("--hidden", action="store_true",
                        help="other random inputs, left out of the report (for grading)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds each exercise may take before it fails (default {DEFAULT_TIMEOUT:g})")
    add_output_flags(parser)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mediswift_np.exercises",
        description="Check your answers to the build-it-yourself exercises (tutorials/exercises/).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,grade,list}")
    c = sub.add_parser("check", help="grade a file of answers", description="Grade a file of answers.")
    c.add_argument("target", metavar="TRACK_OR_FILE",
                   help=f"a track ({', '.join(TRACKS)}) or your answers file, e.g. my_answers.py")
    c.add_argument("--file", help="your answers for TRACK (default: the track's template in tutorials/exercises/)")
    c.add_argument("--exercise", "-e", type=int, action="append", metavar="N",
                   help="check only exercise N (repeat for several; default: all)")
    add_run_flags(c)
    g = sub.add_parser("grade", help="grade a folder of submissions (instructors)",
                       description="Grade every .py file of a folder on one track.")
    g.add_argument("track", help=f"one of {', '.join(TRACKS)}")
    g.add_argument("folder", help="a folder holding one .py file per submission")
    add_run_flags(g)
    ls = sub.add_parser("list", help="list the tracks, or one track's exercises",
                        description="List the tracks, or one track's exercises.")
    ls.add_argument("track", nargs="?", help="show this track's exercises")
    return parser


def resolve(target: str, file: str | None) -> tuple[str, str]:
    """(track, file) from ``check``'s arguments."""
    if target in TRACKS:
        if file is None:
            template = TEMPLATES / TRACKS[target].template
            if not template.exists():
                raise UserError(f"no template {template}; give your answers with --file")
            return target, str(template)
        return target, file
    if file is not None:
        raise UserError(f"no track {target!r}; choose from {', '.join(TRACKS)}")
    if not target.endswith(".py") and not Path(target).exists():
        raise UserError(f"{target!r} is neither a track ({', '.join(TRACKS)}) nor a .py file")
    return track_of(target), target


def list_tracks(name: str | None) -> None:
    if name is None:
        width = max(len(t) for t in TRACKS)
        for t in TRACKS.values():
            print(f"{t.name:<{width}}  {t.title}\n{'':<{width}}  template: tutorials/exercises/{t.template}; "
                  f"taught in {t.tutorial}")  # fmt: skip
        return
    track = get_track(name)
    for e in track.exercises:
        names = ", ".join(t.function for t in e.tasks)
        needs = f"\n   needs: exercise {', '.join(map(str, e.depends_on))}" if e.depends_on else ""
        print(f"{e.number}. {e.title} ({e.points} point{'s' * (e.points != 1)})\n   functions: {names}\n"
              f"   read first: {e.reading}{needs}")  # fmt: skip


def grade(args) -> int:
    track = get_track(args.track)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}")
    files = sorted(folder.glob("*.py"))
    if not files:
        raise UserError(f"no .py files in {folder}")
    rows = []
    for path in files:
        try:
            report = check(path, track=track.name, seed=args.seed, hidden=args.hidden, timeout=args.timeout)
            rows.append({"file": path.name, "error": None, **report.to_dict()})
        except UserError as e:  # the submission does not import: it scores 0, the grading goes on
            rows.append({"file": path.name, "error": str(e), "points": 0,
                         "max_points": sum(x.points for x in track.exercises), "exercises": []})  # fmt: skip
    if args.json:
        print_json({"track": track.name, "seed": args.seed, "hidden": args.hidden, "submissions": rows})
    else:
        print(format_grades(track.name, rows))
    return 0


def format_grades(track: str, rows: list[dict]) -> str:
    """One line per submission: points, then each exercise's status."""
    numbers = [e.number for e in get_track(track).exercises]
    lines = [f"{'submission':<32}{'points':>8}  " + " ".join(f"{n:>4}" for n in numbers)]
    for row in rows:
        by = {e["number"]: e["status"] for e in row["exercises"]}
        cells = " ".join(f"{by.get(n, '-'):>4}" for n in numbers)
        line = f"{row['file'][:31]:<32}{row['points']:>3} / {row['max_points']:<2}  {cells}"
        lines.append(line + (f"  ({row['error']})" if row["error"] else ""))
    lines.append(f"\n{len(rows)} submissions; {', '.join(STATUSES)} per exercise; - = not graded")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        list_tracks(args.track)
        return 0
    if args.command == "grade":
        return grade(args)
    track, file = resolve(args.target, args.file)
    report = check(file, exercises=args.exercise, seed=args.seed, track=track, hidden=args.hidden,
                   timeout=args.timeout)  # fmt: skip
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.format())
    return 0 if report.passed else 1


if __name__ == "__main__":
    run_cli(main)
