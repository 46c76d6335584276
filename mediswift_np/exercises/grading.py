"""Grading: run a student's function on cases, compare with the library, explain mistakes.

An :class:`Exercise` is a few :class:`Task` s; a task is one function the student writes.
For every :class:`Case` the checker knows the right answer (computed by the library:
:mod:`mediswift_np.flops`, :mod:`mediswift_np.flop_audit`, :mod:`mediswift_np.sparse`,
the accelerator emulator) and the answers that common mistakes would give on the same
input (forgetting the (1 − s) factor, counting the embedding lookup 3×, ...). A
function

- PASSES when it returns the right answer on every case,
- is TODO while it raises ``NotImplementedError`` (the blank template),
- FAILS otherwise, with the first wrong case (expected vs got) and a hint: the hint of
  the mistake that explains every wrong case, else of the one that explains the first,
  else the equation itself. A function that raises (``sys.exit()`` included) fails with
  the error and the line of the file where it happened.

An exercise passes when all of its functions pass.

Numbers are compared with a relative tolerance of 1e-9: two correct formulas that sum
the same terms in a different order differ by a few units in the last place (~1e-16),
while every mistake recognised here changes the answer by far more than 1e-9.
Integer answers (counted FLOPs, parameter counts) must be exact.

A file that raises while it is imported, or calls ``sys.exit()`` at its top level, is
bad input: a one-line :class:`UserError` naming the file and line.

Does not handle: student code that never returns (no timeout) or that breaks the
interpreter (``os._exit``); the file is imported and run in this process, like any
module the student runs themselves.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from ..autograd import FlopCounter
from ..errors import UserError

PASS, FAIL, TODO = "PASS", "FAIL", "TODO"
RTOL = 1e-9  # see the module docstring


@dataclass(frozen=True)
class Mistake:
    key: str  # short name, also in the JSON report
    hint: str  # what went wrong and which equation to use instead


@dataclass(frozen=True)
class Case:
    label: str  # the inputs in words, as the student sees them
    args: tuple  # positional arguments of the student's function
    expected: Any  # the library's answer
    mistakes: dict[str, Any] = field(default_factory=dict)  # mistake key -> the answer that mistake gives


@dataclass(frozen=True)
class Task:
    function: str  # the name the student defines
    equation: str  # the hint when no known mistake explains the answer
    cases: Callable[[np.random.Generator], list[Case]]
    mistakes: tuple[Mistake, ...] = ()


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    reading: str  # where the equations are explained
    tasks: tuple[Task, ...]
    on_pass: Callable[[Any], str] | None = None  # one line of insight, computed with the student's functions


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


@dataclass
class ExerciseResult:
    number: int
    title: str
    reading: str
    status: str
    functions: list[FunctionResult]
    note: str = ""

    def to_dict(self) -> dict:
        return {"number": self.number, "title": self.title, "status": self.status, "reading": self.reading,
                "note": self.note, "functions": [f.to_dict() for f in self.functions]}  # fmt: skip


@dataclass
class Report:
    source: str  # the checked file (or module name)
    seed: int
    exercises: list[ExerciseResult]

    @property
    def passed(self) -> bool:
        return all(e.status == PASS for e in self.exercises)

    def counts(self) -> dict[str, int]:
        return {s: sum(e.status == s for e in self.exercises) for s in (PASS, FAIL, TODO)}

    def to_dict(self) -> dict:
        return {"source": self.source, "seed": self.seed, "passed": self.passed, "counts": self.counts(),
                "exercises": [e.to_dict() for e in self.exercises]}  # fmt: skip

    def format(self) -> str:
        lines = [f"checking {self.source} (seed {self.seed})", ""]
        for e in self.exercises:
            head = f"Exercise {e.number} · {e.title} "
            lines.append(f"{head:.<66} {e.status}")
            for f in e.functions:
                lines.append(f"   [{f.status}] {f.function}: {f.message}")
                if f.hint:
                    lines.append(f"          hint: {f.hint}")
            if e.status == TODO:
                lines.append(f"          read first: {e.reading}")
            if e.note:
                lines.append(f"   {e.note}")
        c = self.counts()
        lines += ["", f"{c[PASS]} of {len(self.exercises)} exercises pass, {c[FAIL]} fail, {c[TODO]} to do."]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- loading


def load_module(path: str | Path) -> ModuleType:
    """Import the student's ``.py`` file (bad input -> one-line UserError naming the file and line)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.is_dir():
        raise UserError(f"expected a .py file, got a directory: {path}")
    if path.suffix != ".py":
        raise UserError(f"expected a Python file ending in .py, got {path}")
    name = f"_mediswift_exercise_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here while the file runs
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UserError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 -- any error (or sys.exit()) while importing is the file's problem
        raise UserError(f"{path}:{_line_in(e, path) or '?'}: importing the file raised {_one_line(e)}") from None
    finally:
        sys.modules.pop(name, None)
    return module


def _line_in(error: BaseException, path: Path | None) -> int | None:
    """The last line of ``path`` in the error's traceback (where the student's code failed)."""
    if path is None:
        return None
    target = str(Path(path).resolve())
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if str(Path(f.filename).resolve()) == target]
    return lines[-1] if lines else None


def _one_line(error: BaseException) -> str:
    """``"ZeroDivisionError: division by zero"``; ``"SystemExit"`` for a bare ``sys.exit()``."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


# ----------------------------------------------------------------------------- comparing


def as_number(value) -> float | int | None:
    """A Python int/float from a Python or NumPy scalar, or None if ``value`` is not one."""
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        return None
    if isinstance(value, (int, float)):
        return value  # a Python int may exceed int64
    try:
        a = np.asarray(value)
    except Exception:  # noqa: BLE001
        return None
    if a.ndim != 0 or a.dtype.kind not in "iuf":
        return None
    return a.item()


def _dtype(value):
    try:
        return np.asarray(value).dtype
    except Exception:  # noqa: BLE001
        return None


def same(got, expected) -> bool:
    """True when ``got`` is the expected number (exact for integers, rel. 1e-9 for floats)."""
    if got is None or expected is None:
        return False
    if isinstance(expected, int):
        return got == expected
    if not math.isfinite(got):
        return False
    return math.isclose(got, expected, rel_tol=RTOL, abs_tol=0.0)


def show(x) -> str:
    """A number as the report prints it: all digits of an integer, 10 significant digits of a float."""
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    return f"{x:.10g}"


# ----------------------------------------------------------------------------- running


def run_task(task: Task, module, cases: Sequence[Case], source: Path | None) -> FunctionResult:
    """Call the student's function on every case and grade it."""
    fn = getattr(module, task.function, None)
    if not callable(fn):
        return FunctionResult(task.function, FAIL, f"no function named {task.function} in the file",
                              hint="keep the function names of the template")  # fmt: skip
    wrong: list[tuple[Case, float]] = []
    for case in cases:
        try:
            got = fn(*[_fresh(a) for a in case.args])
        except NotImplementedError:
            return FunctionResult(task.function, TODO, "not done yet (raises NotImplementedError); read its docstring")
        except (Exception, SystemExit) as e:  # noqa: BLE001 -- report the student's error (or exit), do not end the checker
            where = _line_in(e, source)
            at = f" at line {where}" if where else ""
            return FunctionResult(task.function, FAIL, f"{task.function}({case.label}) raised {_one_line(e)}{at}")
        if _dtype(got) in (np.float16, np.float32):
            return FunctionResult(task.function, FAIL,
                                  f"{task.function}({case.label}) returned a numpy.{_dtype(got)} ({got}); "
                                  "compute in float64 or Python numbers: float32 keeps only ~7 digits")  # fmt: skip
        number = as_number(got)
        if number is None:
            return FunctionResult(task.function, FAIL,
                                  f"{task.function}({case.label}) returned {got!r} ({type(got).__name__}); "
                                  "expected a single number")  # fmt: skip
        if not same(number, case.expected):
            wrong.append((case, number))
    if not wrong:
        return FunctionResult(task.function, PASS, f"right on all {len(cases)} cases", cases=len(cases))
    case, got = wrong[0]
    ratio = f" ({got / case.expected:.6g} × expected)" if case.expected else ""
    message = (f"{task.function}({case.label}): expected {show(case.expected)}, got {show(got)}{ratio}; "
               f"wrong on {len(wrong)} of {len(cases)} cases")  # fmt: skip
    mistake = diagnose(task, wrong)
    hint = mistake.hint if mistake else task.equation
    return FunctionResult(task.function, FAIL, message, hint=hint, mistake=mistake.key if mistake else None,
                          cases=len(cases))  # fmt: skip


def diagnose(task: Task, wrong: Sequence[tuple[Case, float]]) -> Mistake | None:
    """The known mistake that explains every wrong answer, else the first wrong answer, else None."""

    def explains(m: Mistake, pairs) -> bool:
        return all(same(got, as_number(case.mistakes.get(m.key))) for case, got in pairs)

    for pairs in (wrong, wrong[:1]):
        for m in task.mistakes:
            if explains(m, pairs):
                return m
    return None


def _fresh(arg):
    """A copy of a mutable argument, so a student's function cannot change the next case's input."""
    if isinstance(arg, np.ndarray):
        return arg.copy()
    if isinstance(arg, FlopCounter):
        counter = FlopCounter()
        counter.counts.update(arg.counts)
        return counter
    return arg


def run_exercise(ex: Exercise, module, rng: np.random.Generator, source: Path | None) -> ExerciseResult:
    results = [run_task(task, module, task.cases(rng), source) for task in ex.tasks]
    statuses = {r.status for r in results}
    status = FAIL if FAIL in statuses else TODO if TODO in statuses else PASS
    note = ""
    if status == PASS and ex.on_pass is not None:
        try:
            note = ex.on_pass(module)
        except (Exception, SystemExit) as e:  # noqa: BLE001 -- the note is a bonus; never let it hide the result
            note = f"(could not compute the summary: {_one_line(e)})"
    return ExerciseResult(ex.number, ex.title, ex.reading, status, results, note)
