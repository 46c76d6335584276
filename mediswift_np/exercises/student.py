"""The student's side: import the file, call its functions on the cases, record what comes back.

This module runs where the student's code runs (the worker process, or this process for
a module passed to ``check`` directly). It decides nothing: for each task it calls the
student's function on every case and records the returned values (:mod:`.wire`
encodes them) until the function raises. The verdict is computed from those values by
:mod:`.judge`, in the checker's process, from cases it builds itself.

An outcome, one per task, is plain JSON:

    {"function": name, "values": [one encoded value per case answered],
     "stop": null | {"kind": "todo" | "missing" | "raised", "error": "...", "line": N}}

Does not handle: timeouts, crashes, sandboxing (:mod:`.runner` and :mod:`.sandbox`).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

import numpy as np

from ..autograd import FlopCounter
from ..errors import UserError
from . import wire
from .spec import Exercise, Task

MAX_ERROR_CHARS = 300


def load_module(path: str | Path, display: str | None = None) -> ModuleType:
    """Import the student's ``.py`` file (bad input -> one-line UserError naming the file and line).

    ``display`` is the name used in messages (the student's own path when ``path`` is a
    copy in a sandbox).
    """
    path = check_path(path)
    shown = display or str(path)
    name = f"_mediswift_exercise_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here while the file runs
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UserError(f"{shown}:{e.lineno}: syntax error: {e.msg}") from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 -- any error (or sys.exit()) while importing is the file's problem
        raise UserError(f"{shown}:{line_in(e, path) or '?'}: importing the file raised {one_line(e)}") from None
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


def line_in(error: BaseException, path: Path | None) -> int | None:
    """The last line of ``path`` in the error's traceback (where the student's code failed)."""
    if path is None:
        return None
    target = str(Path(path).resolve())
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if str(Path(f.filename).resolve()) == target]
    return lines[-1] if lines else None


def one_line(error: BaseException) -> str:
    """``"ZeroDivisionError: division by zero"``; ``"SystemExit"`` for a bare ``sys.exit()``."""
    try:
        text = str(error).strip().splitlines()
    except Exception:  # noqa: BLE001 -- a student's exception whose __str__ raises
        text = []
    shown = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return shown if len(shown) <= MAX_ERROR_CHARS else shown[:MAX_ERROR_CHARS] + " …"


def fresh(arg):
    """A copy of a mutable argument, so a student's function cannot change the next case's input."""
    if isinstance(arg, np.ndarray):
        return arg.copy()
    if isinstance(arg, (list, dict, FlopCounter)) or hasattr(arg, "named_parameters"):
        return copy.deepcopy(arg)
    return arg


def call_task(task: Task, module, rng: np.random.Generator, source: Path | None) -> dict:
    """Call the student's function of ``task`` on every case drawn from ``rng``; the outcome."""
    cases = task.cases(rng)
    fn = getattr(module, task.function, None)
    if not callable(fn):
        return {"function": task.function, "values": [], "stop": {"kind": "missing"}}
    values = []
    for case in cases:
        try:
            args = tuple(fresh(a) for a in case.args)
            with np.errstate(all="ignore"):  # overflow on a stability probe is reported as NaN/inf, not warned about
                got = task.call(fn, args) if task.call else fn(*args)
        except NotImplementedError:
            return {"function": task.function, "values": values, "stop": {"kind": "todo"}}
        except (Exception, SystemExit) as e:  # noqa: BLE001 -- report the student's error (or exit), do not end the checker
            return {"function": task.function, "values": values,
                    "stop": {"kind": "raised", "error": one_line(e), "line": line_in(e, source)}}  # fmt: skip
        try:
            values.append(wire.encode(got))
        except RecursionError:
            values.append({"object": type(got).__name__, "repr": "(nested too deeply)"})
    return {"function": task.function, "values": values, "stop": None}


def call_exercise(ex: Exercise, module, rng: np.random.Generator, source: Path | None) -> list[dict]:
    """One outcome per task of ``ex``, tasks in order, all cases drawn from one generator."""
    return [call_task(task, module, rng, source) for task in ex.tasks]


def note(ex: Exercise, module) -> str:
    """The exercise's line of insight, computed with the student's functions (after a PASS)."""
    if ex.on_pass is None:
        return ""
    try:
        text = str(ex.on_pass(module))
    except (Exception, SystemExit) as e:  # noqa: BLE001 -- the note is a bonus; never let it hide the result
        text = f"(could not compute the summary: {one_line(e)})"
    return " ".join(text.split())[:400]
