"""Running a track's exercises in order, each in a child process with a timeout.

The parent process decides, exercise by exercise:

1. **Cascade.** An exercise whose prerequisite (``Exercise.depends_on``) failed or was
   skipped is not run: it is reported as SKIP, "depends on exercise 2, which fails", so
   one slip gives one FAIL, not five. (A prerequisite that is TODO does not block: an
   exercise that calls it is TODO itself.)
2. **Isolation.** Student code runs in a worker process (``python -m
   mediswift_np.exercises._worker``) that imports the file once and then runs the
   exercises it is sent, one JSON line back per exercise. The worker's own stdout is
   the result channel; whatever the student prints goes to its stderr, which is
   discarded.
3. **Timeout.** The parent waits at most ``timeout`` seconds per exercise. A hang (an
   infinite loop, a deadlock) is killed and reported as a one-line FAIL; so is a worker
   that dies (``os._exit``, a segfault in native code). The next exercise gets a fresh
   worker. ``sys.exit()`` and exceptions inside a student function never reach this
   far: :func:`.grading.run_task` catches them and reports the exception type, message
   and line.

``InProcess`` runs the same cascade on an already imported module or namespace, in this
process and without timeouts: for tests and notebooks that pass functions directly.

Does not handle: resource limits other than time (memory, disk), Windows (process
groups, signals).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .grading import FAIL, SKIP, Exercise, ExerciseResult, FunctionResult, Report, exercise_rng, run_exercise

DEFAULT_TIMEOUT = 20.0  # seconds per exercise
STARTUP_TIMEOUT = 60.0  # importing numpy, the library and the student's file, on a busy machine


@dataclass(frozen=True)
class Track:
    name: str
    title: str
    template: str  # file name in tutorials/exercises/ (the solution has the same name in solutions/)
    tutorial: str  # the notebook that teaches it
    exercises: tuple[Exercise, ...]

    def select(self, numbers=None) -> tuple[Exercise, ...]:
        """The exercises with the given numbers (all when None), or a UserError naming a bad one."""
        if numbers is None:
            return self.exercises
        by_number = {e.number: e for e in self.exercises}
        chosen = []
        for n in numbers:
            if isinstance(n, bool) or not isinstance(n, int) or n not in by_number:
                raise UserError(f"no exercise {n!r} in track {self.name}; choose from {', '.join(map(str, by_number))}")
            if by_number[n] not in chosen:
                chosen.append(by_number[n])
        return tuple(sorted(chosen, key=lambda e: e.number))

    def exercise(self, number: int) -> Exercise:
        return next(e for e in self.exercises if e.number == number)


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
            else:
                results[ex.number] = executor.run(ex, seed, hidden)
    finally:
        executor.close()
    return Report(source, int(seed), list(results.values()), track.name, hidden)


class InProcess:
    """Run exercises on an imported module (or any namespace with the functions) in this process."""

    def __init__(self, module, source: Path | None = None):
        self.module, self.source = module, source

    def run(self, ex: Exercise, seed: int, hidden: bool) -> ExerciseResult:
        return run_exercise(ex, self.module, exercise_rng(seed, ex.number, hidden), self.source, hidden)

    def close(self) -> None:
        pass


class Subprocess:
    """Run exercises in a worker process, restarting it after a timeout or a crash."""

    def __init__(self, track: Track, path: Path, timeout: float = DEFAULT_TIMEOUT):
        if not timeout > 0:
            raise UserError(f"timeout must be a positive number of seconds, got {timeout}")
        self.track, self.path, self.timeout = track, Path(path), float(timeout)
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()

    def start(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])  # so the worker imports this very library
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "mediswift_np.exercises._worker", self.track.name,
                                      str(self.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env, start_new_session=True)  # fmt: skip
        self.lines = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        ready = self._read(STARTUP_TIMEOUT + self.timeout)
        if ready is None or "ready" not in ready:
            error = (ready or {}).get("error")
            self.close()
            if error:
                raise UserError(error)
            raise UserError(f"{self.path}: importing the file did not finish (timed out or crashed)")

    def run(self, ex: Exercise, seed: int, hidden: bool) -> ExerciseResult:
        if self.proc is None:
            self.start()
        try:
            self.proc.stdin.write(json.dumps({"number": ex.number, "seed": int(seed), "hidden": hidden}) + "\n")
            self.proc.stdin.flush()
        except OSError:  # the worker is already gone
            pass
        reply = self._read(self.timeout)
        if reply is not None and "result" in reply:
            return ExerciseResult.from_dict(reply["result"])
        what, hint = self._why_stopped(reply)
        self.close()
        return crashed(ex, f"exercise {ex.number}: {what}", hint)

    def _read(self, timeout: float) -> dict | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return {"timeout": True}
        return None if line is None else json.loads(line)

    def _why_stopped(self, reply: dict | None) -> tuple[str, str]:
        """(what happened, a hint), in one line each."""
        if reply and reply.get("timeout"):
            return (f"timed out after {self.timeout:g} s; stopped it",
                    "look for a loop that never ends (a while whose condition never changes, an index that is never "
                    "advanced), or a method far slower than the exercise needs; --timeout S allows more time.")
        if reply and "internal_error" in reply:
            return f"the checker itself failed: {reply['internal_error']}", "please report this to your instructor."
        code = self.proc.wait(timeout=10)
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return (f"the process running your code was killed by signal {name}",
                    "a crash in native code (ctypes, an out-of-bounds write, running out of memory?).")
        return (f"the process running your code ended with status {code} without an answer",
                "os._exit() (or a crash) ends the checker's worker; return a value instead.")

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the worker and anything the student's code started
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc.wait()
        self.proc = None


def _pump(stream, lines: queue.Queue) -> None:
    """Copy the worker's result lines into a queue (None at end of stream)."""
    try:
        for line in stream:
            if line.startswith("{"):
                lines.put(line)
    except (OSError, ValueError):
        pass
    lines.put(None)
