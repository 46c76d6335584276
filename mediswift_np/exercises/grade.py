"""Grading a folder of submissions: one report per file, the same keys for all, and Gradescope.

:func:`grade_folder` reads every ``*.py`` file of the folder ONCE, before any of them
runs, and grades each from those bytes in its own sandbox (:mod:`.sandbox`): a
submission that overwrites its neighbour (or anything else) cannot change what the
neighbour is graded on. Each row is ``{"file", "sha256", **report}`` with the report's
fixed keys (:mod:`.report`), also for a file that does not import or names another
track (``error`` says why; every exercise FAIL). The folder and the grader's working
directory are compared before and after each submission; a change is a warning on the
row of the submission that made it (with Landlock, :mod:`.confine`, there is none to
make).

:func:`format_table` shows one line per submission and, under it, why each exercise
that did not pass failed. :func:`gradescope_results` is Gradescope's ``results.json``
for one submission (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
a ``tests`` list with one entry per exercise (``name``, ``number``, ``score``,
``max_score``, ``status``, ``output``, ``visibility``), top-level ``score``,
``output``, ``visibility`` and ``stdout_visibility``. Every exercise's reason is
``visible`` to the student; the inputs stay hidden (it is meant for ``--hidden``).

Does not handle: several files per submission (one ``.py`` file is one submission).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from ..errors import UserError
from . import check_source, get_track
from .report import PASS, STATUSES, TODO, failed_everywhere
from .runner import DEFAULT_TIMEOUT


def read_submissions(folder: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every ``*.py`` file of ``folder``, read once, sorted by name."""
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}")
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.py")) if p.is_file()]


def fingerprint(folder: Path) -> dict[str, tuple]:
    """(size, mtime, inode) of every entry of ``folder`` (not recursive): enough to see a change."""
    state = {}
    try:
        for entry in os.scandir(folder):
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            state[entry.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        pass
    return state


def changes(before: dict, after: dict) -> list[str]:
    return sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))


def grade_folder(track: str, folder, seed: int = 0, hidden: bool = False, timeout: float = DEFAULT_TIMEOUT,
                 submissions: list[tuple[str, bytes]] | None = None) -> list[dict]:  # fmt: skip
    """One row per submission of ``folder`` (or of ``submissions``, already read)."""
    chosen = get_track(track)
    folder = Path(folder)
    if submissions is None:
        submissions = read_submissions(folder)
    watched = {"the submissions folder": folder, "the grader's working directory": Path.cwd()}
    rows = []
    for name, data in submissions:
        before = {what: fingerprint(where) for what, where in watched.items()}
        try:
            report = check_source(data, name, chosen.name, None, seed, hidden, timeout)
        except UserError as e:  # e.g. its TRACK line names another track: it scores 0 and says why
            report = failed_everywhere(chosen, str(e), name, seed, hidden)
        for what, where in watched.items():
            changed = changes(before[what], fingerprint(where))
            if changed:
                report.warnings.append(f"{what} changed while this submission ran: {', '.join(changed[:5])}")
        rows.append({"file": name, "sha256": hashlib.sha256(data).hexdigest(), **report.to_dict()})
    return rows


def format_table(track: str, rows: list[dict]) -> str:
    """One line per submission (points, each exercise's status), then why each one failed."""
    numbers = [e.number for e in get_track(track).exercises]
    lines = [f"{'submission':<32}{'points':>8}  " + " ".join(f"{n:>4}" for n in numbers)]
    for row in rows:
        by = {e["number"]: e for e in row["exercises"]}
        cells = " ".join(f"{by[n]['status'] if n in by else '-':>4}" for n in numbers)
        lines.append(f"{row['file'][:31]:<32}{row['points']:>3} / {row['max_points']:<2}  {cells}")
        if row["error"]:
            lines.append(f"    error: {row['error']}")
        else:
            for e in row["exercises"]:
                if e["status"] != PASS:
                    lines.append(f"    {e['number']:>2} {e['status']:<4}  {reason(e)}")
        lines += [f"    warning: {w}" for w in row["warnings"]]
    lines.append(f"\n{len(rows)} submissions; {', '.join(STATUSES)} per exercise; - = not graded")
    return "\n".join(lines)


def reason(exercise: dict) -> str:
    """Why an exercise (as a dict) did not pass: its first failing function's message and mistake."""
    bad = next((f for f in exercise["functions"] if f["status"] != PASS), None)
    if bad is None:
        return ""
    text = f"{bad['function']}: {bad['message']}" if bad["function"] else bad["message"]
    return text + (f" [{bad['mistake']}]" if bad["mistake"] else "")


def gradescope_results(track: str, rows: list[dict], problem: str | None = None, seconds: float = 0.0) -> dict:
    """Gradescope's results.json for ONE submission (``rows`` has one row), or for a
    ``problem`` that kept it from being graded (no file, several files)."""
    if problem is None and len(rows) != 1:
        problem = f"expected one .py file in the submission, found {len(rows)}"
    if problem is not None:
        failed = failed_everywhere(get_track(track), problem, "", 0, True).to_dict()
        row = {"error": problem, "points": 0, "warnings": [], "exercises": failed["exercises"]}
    else:
        row = rows[0]
    tests = []
    for e in row["exercises"]:
        lines = [f"[{f['status']}] {f['function']}: {f['message']}" if f["function"] else f["message"]
                 for f in e["functions"]]  # fmt: skip
        lines += [f"hint: {f['hint']}" for f in e["functions"] if f["hint"]]
        if e["status"] == TODO:
            lines.append(f"read first: {e['reading']}")
        if e["note"]:
            lines.append(e["note"])
        tests.append({"name": f"Exercise {e['number']}: {e['title']}", "number": str(e["number"]),
                      "score": float(e["earned"]), "max_score": float(e["points"]),
                      "status": "passed" if e["status"] == PASS else "failed", "output": "\n".join(lines),
                      "visibility": "visible"})  # fmt: skip
    summary = f"error: {row['error']}" if row["error"] else (
        f"{sum(t['status'] == 'passed' for t in tests)} of {len(tests)} exercises pass on hidden inputs.")
    summary += "".join(f"\nwarning: {w}" for w in row["warnings"])
    return {"score": float(row["points"]), "execution_time": round(seconds), "output": summary,
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}  # fmt: skip


def grade_for_gradescope(track: str, folder, seed: int, timeout: float) -> dict:
    """Grade the one submission in ``folder`` on hidden inputs, as Gradescope's results.json."""
    started = time.monotonic()
    submissions = read_submissions(Path(folder))
    if len(submissions) != 1:
        names = ", ".join(n for n, _ in submissions) or "none"
        problem = f"upload exactly one .py file (your copy of the {track} template); found: {names}"
        return gradescope_results(track, [], problem)
    rows = grade_folder(track, folder, seed, True, timeout, submissions)
    return gradescope_results(track, rows, seconds=time.monotonic() - started)
