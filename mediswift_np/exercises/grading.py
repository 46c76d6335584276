"""Grading: run a student's function on cases, compare with the library, explain mistakes.

An :class:`Exercise` is a few :class:`Task` s; a task is one function the student writes.
For every :class:`Case` the checker knows the right answer (computed by the library:
:mod:`mediswift_np.flops`, :mod:`mediswift_np.functional`, :mod:`mediswift_np.optim`,
the BPE trainer, the masked linear layer, ...) and the answers that common mistakes
would give on the same input (forgetting the (1 − s) factor, the softmax backward
without its subtraction term, L2 decay added to the gradient, ...). A mistake is either
such an answer or a :class:`Symptom` -- a test on the student's output, e.g. "has
NaN or inf on the stability probe". A function

- PASSES when it returns the right answer on every case,
- is TODO while it raises ``NotImplementedError`` (the blank template),
- FAILS otherwise, with the first wrong case and a hint: the hint of the mistake that
  explains every wrong case, else of the one that explains the first, else the case's
  own hint, else the equation itself. A function that raises (``sys.exit()`` included)
  fails with the error and the line of the file where it happened.

An exercise passes when all of its functions pass; :mod:`.runner` skips an exercise
whose prerequisite fails.

The answer key never leaks: a report names the input, what is wrong (:mod:`.compare`
says it in words: a shape, the entries that differ, NaN, the student's own number) and
the hint -- never the expected value, nor how far from it the answer is. With
``hidden=True`` the inputs are left out too.

Tolerances (:mod:`.compare`): floats relative 1e-9, arrays the task's ``rtol``/``atol``
(each track's module docstring states and justifies its own), integers, ids and masks
exactly.

Does not handle: timeouts and crashes of the student's code; :mod:`.runner` runs this
module's :func:`run_exercise` in a separate process for that.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from ..autograd import FlopCounter
from ..errors import UserError
from .compare import ATOL, RTOL, as_number, differs, same, show  # noqa: F401  (re-exported)

PASS, FAIL, TODO, SKIP = "PASS", "FAIL", "TODO", "SKIP"
STATUSES = (PASS, FAIL, TODO, SKIP)


@dataclass(frozen=True)
class Mistake:
    key: str  # short name, also in the JSON report
    hint: str  # what went wrong and which equation to use instead


@dataclass(frozen=True)
class Symptom:
    """A mistake recognised by a test on the output rather than by the value it gives."""

    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Case:
    label: str  # the inputs in words, as the student sees them
    args: tuple  # positional arguments of the student's function
    expected: Any  # the library's answer
    mistakes: dict[str, Any] = field(default_factory=dict)  # mistake key -> the answer it gives, or a Symptom
    hint: str = ""  # what this input probes, shown when no known mistake explains a wrong answer


@dataclass(frozen=True)
class Task:
    function: str  # the name the student defines
    equation: str  # the hint when no known mistake explains the answer
    cases: Callable[[np.random.Generator], list[Case]]
    mistakes: tuple[Mistake, ...] = ()
    outputs: tuple[str, ...] = ()  # names of the returned values when the function returns a tuple
    rtol: float = RTOL
    atol: float = ATOL
    call: Callable[[Callable, tuple], Any] | None = None  # how to call the function (default fn(*args))
    compare: Callable[[Any, Any], str | None] | None = None  # a custom comparison (None = right)


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    reading: str  # where the equations are explained
    tasks: tuple[Task, ...]
    on_pass: Callable[[Any], str] | None = None  # one line of insight, computed with the student's functions
    depends_on: tuple[int, ...] = ()  # exercises whose functions this one builds on
    points: int = 1


@dataclass
class FunctionResult:
    function: str
    status: str
    message: str  # one line: the case count, or what went wrong where
    hint: str = ""
    mistake: str | None = None  # the key of the recognised mistake, if any
    cases: int = 0

    def to_dict(self) -> dict:
        return {"function": self.function, "status": self.status, "message": self.message,
                "hint": self.hint, "mistake": self.mistake, "cases": self.cases}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> "FunctionResult":
        return cls(d["function"], d["status"], d["message"], d["hint"], d["mistake"], d["cases"])


@dataclass
class ExerciseResult:
    number: int
    title: str
    reading: str
    status: str
    functions: list[FunctionResult]
    note: str = ""
    points: int = 1  # what the exercise is worth; earned only when it passes

    @property
    def earned(self) -> int:
        return self.points if self.status == PASS else 0

    def to_dict(self) -> dict:
        return {"number": self.number, "title": self.title, "status": self.status, "reading": self.reading,
                "note": self.note, "points": self.points, "earned": self.earned,
                "functions": [f.to_dict() for f in self.functions]}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> "ExerciseResult":
        return cls(d["number"], d["title"], d["reading"], d["status"],
                   [FunctionResult.from_dict(f) for f in d["functions"]], d["note"], d["points"])  # fmt: skip


@dataclass
class Report:
    source: str  # the checked file (or module name)
    seed: int
    exercises: list[ExerciseResult]
    track: str = "flops"
    hidden: bool = False

    @property
    def passed(self) -> bool:
        return all(e.status == PASS for e in self.exercises)

    def counts(self) -> dict[str, int]:
        return {s: sum(e.status == s for e in self.exercises) for s in STATUSES}

    @property
    def points(self) -> tuple[int, int]:
        """(earned, possible)."""
        return sum(e.earned for e in self.exercises), sum(e.points for e in self.exercises)

    def to_dict(self) -> dict:
        earned, possible = self.points
        return {"source": self.source, "track": self.track, "seed": self.seed, "hidden": self.hidden,
                "passed": self.passed, "counts": self.counts(), "points": earned, "max_points": possible,
                "exercises": [e.to_dict() for e in self.exercises]}  # fmt: skip

    def format(self) -> str:
        mode = ", hidden inputs" if self.hidden else ""
        lines = [f"checking {self.source} (track {self.track}, seed {self.seed}{mode})", ""]
        for e in self.exercises:
            head = f"Exercise {e.number} · {e.title} "
            lines.append(f"{head:.<66} {e.status}")
            for f in e.functions:
                lines.append(f"   [{f.status}] {f.function}: {f.message}" if f.function else f"   {f.message}")
                if f.hint:
                    lines.append(f"          hint: {f.hint}")
            if e.status == TODO:
                lines.append(f"          read first: {e.reading}")
            if e.note:
                lines.append(f"   {e.note}")
        c = self.counts()
        earned, possible = self.points
        skipped = f", {c[SKIP]} skipped" if c[SKIP] else ""
        lines += ["", f"{c[PASS]} of {len(self.exercises)} exercises pass, {c[FAIL]} fail, {c[TODO]} to do{skipped}"
                      f" ({earned} of {possible} points)."]  # fmt: skip
        return "\n".join(lines)


# ----------------------------------------------------------------------------- loading


def load_module(path: str | Path) -> ModuleType:
    """Import the student's ``.py`` file (bad input -> one-line UserError naming the file and line)."""
    path = check_path(path)
    name = f"_mediswift_exercise_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here while the file runs
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UserError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 -- any error (or sys.exit()) while importing is the file's problem
        raise UserError(f"{path}:{_line_in(e, path) or '?'}: importing the file raised {one_line(e)}") from None
    finally:
        sys.modules.pop(name, None)
    return module


def check_path(path: str | Path) -> Path:
    """``path`` as a Path, or a UserError when it is not an existing ``.py`` file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.is_dir():
        raise UserError(f"expected a .py file, got a directory: {path}")
    if path.suffix != ".py":
        raise UserError(f"expected a Python file ending in .py, got {path}")
    return path


def _line_in(error: BaseException, path: Path | None) -> int | None:
    """The last line of ``path`` in the error's traceback (where the student's code failed)."""
    if path is None:
        return None
    target = str(Path(path).resolve())
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if str(Path(f.filename).resolve()) == target]
    return lines[-1] if lines else None


def one_line(error: BaseException) -> str:
    """``"ZeroDivisionError: division by zero"``; ``"SystemExit"`` for a bare ``sys.exit()``."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


# ----------------------------------------------------------------------------- running


def run_task(task: Task, module, cases: Sequence[Case], source: Path | None, hidden: bool = False) -> FunctionResult:
    """Call the student's function on every case and grade it."""
    fn = getattr(module, task.function, None)
    if not callable(fn):
        return FunctionResult(task.function, FAIL, f"no function named {task.function} in the file",
                              hint="keep the function names of the template")  # fmt: skip
    compare = task.compare or (lambda g, e: differs(g, e, task.rtol, task.atol))
    wrong: list[tuple[Case, Any, str]] = []
    for case in cases:
        where = task.function if hidden else f"{task.function}({case.label})"
        try:
            args = tuple(_fresh(a) for a in case.args)
            with np.errstate(all="ignore"):  # overflow on a stability probe is reported as NaN/inf, not warned about
                got = task.call(fn, args) if task.call else fn(*args)
        except NotImplementedError:
            return FunctionResult(task.function, TODO, "not done yet (raises NotImplementedError); read its docstring")
        except (Exception, SystemExit) as e:  # noqa: BLE001 -- report the student's error (or exit), do not end the checker
            line = _line_in(e, source)
            at = f" at line {line}" if line else ""
            message = f"{where} raised {one_line(e)}{at}"
            if not wrong:
                return FunctionResult(task.function, FAIL, message, cases=len(cases))
            mistake = diagnose(task, [(c, g) for c, g, _ in wrong], compare)  # wrong before it raised: say why
            first = wrong[0][0]
            return FunctionResult(task.function, FAIL, f"{message}, after {len(wrong)} wrong answers",
                                  hint=mistake.hint if mistake else (first.hint or task.equation),
                                  mistake=mistake.key if mistake else None, cases=len(cases))  # fmt: skip
        try:
            why = compare(got, case.expected)
        except Exception as e:  # noqa: BLE001 -- an answer so odd that comparing it fails
            why = f"returned something that cannot be compared ({one_line(e)})"
        if why:
            wrong.append((case, got, why))
    if not wrong:
        return FunctionResult(task.function, PASS, f"right on all {len(cases)} cases", cases=len(cases))
    case, _, why = wrong[0]
    if hidden:
        message = f"wrong on {len(wrong)} of {len(cases)} hidden cases; the first: {_named(why, task)}"
    else:
        message = f"{task.function}({case.label}): {_named(why, task)}; wrong on {len(wrong)} of {len(cases)} cases"
    mistake = diagnose(task, [(c, g) for c, g, _ in wrong], compare)
    hint = mistake.hint if mistake else (case.hint or task.equation)
    return FunctionResult(task.function, FAIL, message, hint=hint, mistake=mistake.key if mistake else None,
                          cases=len(cases))  # fmt: skip


def _named(why: str, task: Task) -> str:
    """``item 1: ...`` -> ``dB: ...`` when the task names its outputs."""
    if why.startswith("item ") and task.outputs:
        index, _, rest = why[5:].partition(": ")
        if index.isdigit() and int(index) < len(task.outputs):
            return f"{task.outputs[int(index)]}: {rest}"
    return why


def diagnose(task: Task, wrong: Sequence[tuple[Case, Any]], compare=None) -> Mistake | None:
    """The known mistake that explains every wrong answer, else the first wrong answer, else None."""
    compare = compare or (lambda g, e: differs(g, e, task.rtol, task.atol))

    def explained(m: Mistake, case: Case, got) -> bool:
        answer = case.mistakes.get(m.key)
        if answer is None:
            return False
        try:
            return bool(answer.test(got)) if isinstance(answer, Symptom) else compare(got, answer) is None
        except Exception:  # noqa: BLE001 -- a symptom test that cannot read the answer does not apply
            return False

    for pairs in (wrong, wrong[:1]):
        for m in task.mistakes:
            if all(explained(m, case, got) for case, got in pairs):
                return m
    return None


def _fresh(arg):
    """A copy of a mutable argument, so a student's function cannot change the next case's input."""
    if isinstance(arg, np.ndarray):
        return arg.copy()
    if isinstance(arg, (list, dict, FlopCounter)) or hasattr(arg, "named_parameters"):
        return copy.deepcopy(arg)
    return arg


def run_exercise(ex: Exercise, module, rng: np.random.Generator, source: Path | None, hidden: bool = False) -> ExerciseResult:
    results = [run_task(task, module, task.cases(rng), source, hidden) for task in ex.tasks]
    statuses = {r.status for r in results}
    status = FAIL if FAIL in statuses else TODO if TODO in statuses else PASS
    note = ""
    if status == PASS and ex.on_pass is not None:
        try:
            note = ex.on_pass(module)
        except (Exception, SystemExit) as e:  # noqa: BLE001 -- the note is a bonus; never let it hide the result
            note = f"(could not compute the summary: {one_line(e)})"
    return ExerciseResult(ex.number, ex.title, ex.reading, status, results, note, ex.points)


def exercise_rng(seed: int, number: int, hidden: bool = False) -> np.random.Generator:
    """The generator of one exercise's random inputs; ``hidden`` draws from another stream."""
    return np.random.default_rng([int(seed), number, 1] if hidden else [int(seed), number])
