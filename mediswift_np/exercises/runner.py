"""Running a track's exercises in order: in this process, or in a sandboxed worker with timeouts.

The checker decides, exercise by exercise:

1. **Cascade.** An exercise whose prerequisite (``Exercise.depends_on``) failed or was
   skipped is not run: it is reported as SKIP, "depends on exercise 2, which fails", so
   one slip gives one FAIL, not five. (A prerequisite that is TODO does not block: an
   exercise that calls it is TODO itself.)
2. **Verdicts from values.** The student's process only calls functions and sends back
   what they returned (:mod:`.student`); the checker rebuilds the cases and judges
   (:mod:`.judge`). Whatever the student's code writes -- to the channel, to any file
   descriptor, to stdout -- cannot make a PASS.
3. **Isolation and timeouts** (:class:`Subprocess`). The file runs in a worker in its
   own sandbox (:mod:`.sandbox`): a private directory, writes confined to it, every
   process it starts killed when the worker ends. ``timeout`` bounds the import of the
   file and each exercise: a hang (an infinite loop, a deadlock) is stopped and reported
   as a one-line FAIL; so is a worker that dies (``os._exit``, a segfault in native
   code). The next exercise gets a fresh worker. ``sys.exit()`` and exceptions inside a
   student function never reach this far: :mod:`.student` reports them.
4. **Printed output** of the student's code is kept with the exercise that printed it
   (a few lines; not with hidden inputs, where it could show them).

:class:`InProcess` runs the same cascade on an already imported module or namespace, in
this process and without timeouts: for tests and notebooks that pass functions directly.

Does not handle: resource limits other than time and output size (memory, disk),
Windows (no sandbox).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from . import judge, student
from .report import FAIL, PASS, SKIP, ExerciseResult, FunctionResult, Report, failed_everywhere, shorten_output
from .sandbox import Sandbox, WorkerGone
from .spec import Exercise, Track, exercise_rng

DEFAULT_TIMEOUT = 20.0  # seconds per exercise, and for importing the student's file
STARTUP_TIMEOUT = 60.0  # importing NumPy and the library in the worker, on a busy machine (not the student's code)


class ImportFailed(Exception):
    """The student's file could not be imported (an error, a hang, a crash): one line saying why."""


def skipped(ex: Exercise, prerequisite: int, status: str) -> ExerciseResult:
    why = "fails" if status == FAIL else "was skipped"
    message = f"skipped: depends on exercise {prerequisite}, which {why}; fix that one first"
    return ExerciseResult(ex.number, ex.title, ex.reading, SKIP, [FunctionResult("", SKIP, message)], "", ex.points)


def crashed(ex: Exercise, message: str, hint: str = "") -> ExerciseResult:
    return ExerciseResult(ex.number, ex.title, ex.reading, FAIL, [FunctionResult("", FAIL, message, hint)], "", ex.points)


def run_track(track: Track, executor, numbers=None, seed: int = 0, hidden: bool = False, source: str = "") -> Report:
    """Run the chosen exercises in order through ``executor``, skipping those whose prerequisite failed."""
    results: dict[int, ExerciseResult] = {}
    try:
        for ex in track.select(numbers):
            blocked = next((d for d in ex.depends_on if d in results and results[d].status in (FAIL, SKIP)), None)
            if blocked is not None:
                results[ex.number] = skipped(ex, blocked, results[blocked].status)
                continue
            try:
                results[ex.number] = executor.run(ex, seed, hidden)
            except ImportFailed as e:
                if not results:  # the file never imported: nothing of it can be graded
                    return failed_everywhere(track, str(e), source, seed, hidden, numbers)
                results[ex.number] = crashed(ex, f"exercise {ex.number}: {e}")
    finally:
        executor.close()
    return Report(source, int(seed), list(results.values()), track.name, hidden)


class InProcess:
    """Run exercises on an imported module (or any namespace with the functions) in this process."""

    def __init__(self, module, source: Path | None = None):
        self.module, self.source = module, source

    def run(self, ex: Exercise, seed: int, hidden: bool) -> ExerciseResult:
        outcomes = student.call_exercise(ex, self.module, exercise_rng(seed, ex.number, hidden), self.source)
        result = judge.judge_exercise(ex, exercise_rng(seed, ex.number, hidden), outcomes, hidden)
        if result.status == PASS:
            result.note = student.note(ex, self.module)
        return result

    def close(self) -> None:
        pass


class Subprocess:
    """Run exercises in a sandboxed worker process, restarting it after a timeout or a crash."""

    def __init__(self, track: Track, source: bytes, display: str, timeout: float = DEFAULT_TIMEOUT):
        self.track, self.display, self.timeout = track, display, float(timeout)
        self.box = Sandbox(source, display, track.name)
        self.running = False
        self.printed_from = 0  # byte of the output file where the next exercise's output starts

    def start(self) -> None:
        self.box.start()
        self.running = True
        try:
            booted = self.box.receive(STARTUP_TIMEOUT, lambda m: "booted" in m or "boot_error" in m)
        except (TimeoutError, WorkerGone) as e:
            self.stop()
            raise ImportFailed(f"the checker's worker did not start ({e or 'timed out'}); please report this") from None
        if "boot_error" in booted:
            self.stop()
            raise ImportFailed(f"the checker's worker did not start: {booted['boot_error']}")
        try:
            imported = self.box.receive(self.timeout, lambda m: "imported" in m or "import_error" in m)
        except TimeoutError:
            self.stop()
            raise ImportFailed(f"{self.display}: importing the file did not finish within {self.timeout:g} s (a loop "
                               "or a long computation at the top level?); stopped it") from None
        except WorkerGone as e:
            self.stop()
            raise ImportFailed(f"{self.display}: importing the file ended the process: {e.why}") from None
        if "import_error" in imported:
            self.stop()
            raise ImportFailed(str(imported["import_error"]))

    def run(self, ex: Exercise, seed: int, hidden: bool) -> ExerciseResult:
        if not self.running:
            self.start()
        nonce = secrets.randbits(62)  # replies to other orders (or lines the student's code wrote) are skipped
        self.box.send({"run": ex.number, "seed": int(seed), "hidden": bool(hidden), "id": nonce})
        try:
            reply = self.box.receive(self.timeout, lambda m: m.get("id") == nonce)
        except TimeoutError:
            result = crashed(ex, f"exercise {ex.number}: timed out after {self.timeout:g} s; stopped it",
                             "look for a loop that never ends (a while whose condition never changes, an index that "
                             "is never advanced), or a method far slower than the exercise needs; --timeout S allows "
                             "more time.")  # fmt: skip
            self.stop()
        except WorkerGone as e:
            result = crashed(ex, f"exercise {ex.number}: {e.why}", e.hint)
            self.stop()
        else:
            if "internal_error" in reply:
                result = crashed(ex, f"exercise {ex.number}: the checker itself failed: {reply['internal_error']}",
                                 "please report this to your instructor.")  # fmt: skip
            else:
                result = judge.judge_exercise(ex, exercise_rng(seed, ex.number, hidden), reply.get("outcomes"), hidden)
                if result.status == PASS and ex.on_pass is not None:
                    result.note = self.note(ex)
        printed = self.box.output_since(self.printed_from)
        self.printed_from = self.box.output_size()
        if printed.strip():
            result.output = "(not shown with hidden inputs)" if hidden else shorten_output(printed)
        return result

    def note(self, ex: Exercise) -> str:
        nonce = secrets.randbits(62)
        self.box.send({"note": ex.number, "id": nonce})
        try:
            return str(self.box.receive(self.timeout, lambda m: m.get("id") == nonce).get("note", ""))[:400]
        except (TimeoutError, WorkerGone):
            self.stop()
            return ""

    def stop(self) -> None:
        if self.running:
            self.box.stop()
            self.running = False

    def close(self) -> None:
        self.running = False
        self.box.close()
