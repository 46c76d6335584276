"""Command line of the exercise checker.

    python -m mediswift_np.exercises list [TRACK]
    python -m mediswift_np.exercises check TRACK [--file FILE.py] [-e N ...] [--seed K] [--hidden]
                                                 [--timeout S] [--json]
    python -m mediswift_np.exercises check FILE.py [...]        # the track from the file's TRACK = "..." line
    python -m mediswift_np.exercises grade TRACK FOLDER [--seed K] [--hidden] [--timeout S]
                                                 [--format table|json|gradescope] [--json] [--out FILE]
    python -m mediswift_np.exercises handout OUT_DIR

``check`` prints PASS / FAIL (what is wrong and a hint, never the expected value) /
TODO / SKIP per exercise, with what the student's code printed, and exits 0 when every
selected exercise passes, 1 otherwise, and 2 for bad input: an unknown track, a missing
file, a file whose TRACK line names another track (or that has none), a file that does
not import (a syntax error, an exception, an endless loop or a crash while importing),
an unknown exercise number. Without ``--file`` it checks the track's template in
``tutorials/exercises/``. The file runs in a sandboxed process; ``--timeout`` seconds
(default 20) bound its import and each exercise.

``grade`` checks every ``*.py`` file of FOLDER (one submission each; all read before any
runs) on the track: a table with one line per submission -- points, each exercise's
status -- and under it why each exercise failed; or, with ``--format json`` (``--json``),
one JSON object whose ``submissions`` all have the same keys; or, with ``--format
gradescope``, Gradescope's ``results.json`` for the one file in FOLDER, always on hidden
inputs. ``--hidden`` draws other random inputs and leaves them out of the reports; pick
a ``--seed`` the students do not know. ``--out`` writes the JSON to a file (atomically)
instead of stdout. It exits 0 once every file is graded (a file that cannot be checked
scores 0 and says why), 2 for bad usage.

``handout`` writes the students' copy of ``tutorials/`` (no worked solutions, no pointer
to them) into a new directory; see :mod:`.handout`.

SIGINT and SIGTERM stop the checker cleanly: the worker and everything it started end
with it (see :mod:`.sandbox`).

Does not handle: watching the file for changes; run it again after each edit.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Sequence

from ..cli import ArgumentParser, add_output_flags
from ..errors import UserError, print_json, run_cli
from ..fileio import atomic_write_json
from . import TRACKS, check, get_track
from .runner import DEFAULT_TIMEOUT

TEMPLATES = Path(__file__).resolve().parents[2] / "tutorials" / "exercises"


def add_run_flags(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the random test inputs (default 0)")
    parser.add_argument("--hidden", action="store_true",
                        help="other random inputs, left out of the report (for grading)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds the import and each exercise may take before they fail (default {DEFAULT_TIMEOUT:g})")
    add_output_flags(parser)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mediswift_np.exercises",
        description="Check your answers to the build-it-yourself exercises (tutorials/exercises/).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{check,grade,list,handout}")
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
    g.add_argument("--format", choices=("table", "json", "gradescope"), default=None,
                   help="table (default), json (= --json), or gradescope: results.json for the one file in FOLDER")
    g.add_argument("--out", metavar="FILE", help="write the JSON (json or gradescope format) to FILE instead")
    h = sub.add_parser("handout", help="write the students' copy of the course, without solutions (instructors)",
                       description="Write tutorials/ without worked solutions or pointers to them into OUT_DIR.")
    h.add_argument("out", metavar="OUT_DIR", help="a new (or empty) directory")
    ls = sub.add_parser("list", help="list the tracks, or one track's exercises",
                        description="List the tracks, or one track's exercises.")
    ls.add_argument("track", nargs="?", help="show this track's exercises")
    return parser


def resolve(target: str, file: str | None) -> tuple[str | None, str]:
    """(requested track or None, file) from ``check``'s arguments."""
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
    return None, target


def list_tracks(name: str | None) -> None:
    if name is None:
        width = max(len(t) for t in TRACKS)
        for t in TRACKS.values():
            print(f"{t.name:<{width}}  {t.title}\n{'':<{width}}  template: tutorials/exercises/{t.template}; "
                  f"unit: {t.tutorial}")  # fmt: skip
        return
    track = get_track(name)
    for e in track.exercises:
        names = ", ".join(t.function for t in e.tasks)
        needs = f"\n   needs: exercise {', '.join(map(str, e.depends_on))}" if e.depends_on else ""
        print(f"{e.number}. {e.title} ({e.points} point{'s' * (e.points != 1)})\n   functions: {names}\n"
              f"   read first: {e.reading}{needs}")  # fmt: skip


def grade(args) -> int:
    from .grade import format_table, grade_folder, grade_for_gradescope

    fmt = args.format or ("json" if args.json else "table")
    if args.json and fmt != "json":
        raise UserError(f"--json and --format {fmt} disagree; give one of them")
    if args.out and fmt == "table":
        raise UserError("--out writes JSON: use it with --format json or --format gradescope")
    track = get_track(args.track)
    if fmt == "gradescope":
        result = grade_for_gradescope(track.name, args.folder, args.seed, args.timeout)
    else:
        rows = grade_folder(track.name, args.folder, args.seed, args.hidden, args.timeout)
        if not rows:
            raise UserError(f"no .py files in {args.folder}")
        if fmt == "table":
            print(format_table(track.name, rows))
            return 0
        result = {"track": track.name, "seed": args.seed, "hidden": args.hidden, "submissions": rows}
    if args.out:
        atomic_write_json(args.out, result)
    elif fmt == "gradescope":
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_json(result)
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM as Ctrl-C: unwind (closing every sandbox) and exit 130 through run_cli."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        list_tracks(args.track)
        return 0
    if args.command == "handout":
        from .handout import build_handout

        written = build_handout(args.out)
        print(f"wrote {len(written)} files to {args.out}: the course page, notebooks, templates and prefaces")
        return 0
    if args.command == "grade":
        return grade(args)
    track, file = resolve(args.target, args.file)
    report = check(file, exercises=args.exercise, seed=args.seed, track=track, hidden=args.hidden,
                   timeout=args.timeout)  # fmt: skip
    if report.error:
        raise UserError(report.error)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.format())
    return 0 if report.passed else 1


if __name__ == "__main__":
    stop_on_sigterm()
    run_cli(main)
