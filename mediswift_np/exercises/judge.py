"""The checker's side: PASS or FAIL from the values a student's functions returned.

The judge builds the cases itself (the same generator as the student's process, so the
same inputs) and compares every returned value with the library's answer. A function

- PASSES when it returned the right answer on every case,
- is TODO while it raises ``NotImplementedError`` (the blank template),
- FAILS otherwise, with the first wrong case and a hint: the hint of the mistake that
  explains every wrong case, else of the one that explains the first, else the case's
  own hint, else the equation itself. A function that raises (``sys.exit()`` included)
  fails with the error and the line of the file where it happened.

Nothing but the returned values can make a PASS: a report of the student's process that
has fewer values than cases, or values for a function that does not exist, is a FAIL.

The answer key never leaks: a report names the input, what is wrong (:mod:`.compare`
says it in words: a shape, the entries that differ, NaN, the student's own number) and
the hint -- never the expected value, nor how far from it the answer is. With
``hidden=True`` the inputs are left out too.

Does not handle: calling the student's code (:mod:`.student`), processes (:mod:`.runner`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import wire
from .compare import differs
from .report import FAIL, PASS, TODO, ExerciseResult, FunctionResult
from .spec import Case, Exercise, Mistake, Symptom, Task


def judge_task(task: Task, cases: Sequence[Case], outcome: dict, hidden: bool = False) -> FunctionResult:
    """The verdict on one function from its outcome (see :mod:`.student`)."""
    name = task.function
    stop, encoded = outcome.get("stop"), outcome.get("values")
    if not isinstance(encoded, list) or len(encoded) > len(cases) or (stop is None and len(encoded) != len(cases)):
        return FunctionResult(name, FAIL, "the process running your code answered for the wrong number of cases")
    if stop is not None and (not isinstance(stop, dict) or stop.get("kind") not in ("missing", "todo", "raised")
                             or (stop["kind"] == "raised" and len(encoded) == len(cases))):  # fmt: skip
        return FunctionResult(name, FAIL, "the process running your code sent a malformed answer")
    if stop is not None and stop.get("kind") == "missing":
        return FunctionResult(name, FAIL, f"no function named {name} in the file", hint="keep the function names of the template")
    if stop is not None and stop.get("kind") == "todo":
        return FunctionResult(name, TODO, "not done yet (raises NotImplementedError); read its docstring")
    compare = task.compare or (lambda g, e: differs(g, e, task.rtol, task.atol))
    wrong: list[tuple[Case, Any, str]] = []
    for case, data in zip(cases, encoded):
        try:
            got = wire.decode(data)
        except (ValueError, TypeError, KeyError, RecursionError):
            return FunctionResult(name, FAIL, "the process running your code sent an answer that cannot be read")
        try:
            why = compare(got, case.expected)
        except Exception as e:  # noqa: BLE001 -- an answer so odd that comparing it fails
            why = f"returned something that cannot be compared ({type(e).__name__})"
        if why:
            wrong.append((case, got, why))
    if stop is not None:  # the function raised on case len(encoded)
        case = cases[len(encoded)]
        where = name if hidden else f"{name}({case.label})"
        at = f" at line {stop['line']}" if isinstance(stop.get("line"), int) else ""
        message = f"{where} raised {str(stop.get('error', 'an error'))[:300]}{at}"
        if not wrong:
            return FunctionResult(name, FAIL, message, cases=len(cases))
        mistake = diagnose(task, [(c, g) for c, g, _ in wrong], compare)  # wrong before it raised: say why
        first = wrong[0][0]
        return FunctionResult(name, FAIL, f"{message}, after {len(wrong)} wrong answers",
                              hint=mistake.hint if mistake else (first.hint or task.equation),
                              mistake=mistake.key if mistake else None, cases=len(cases))  # fmt: skip
    if not wrong:
        return FunctionResult(name, PASS, f"right on all {len(cases)} cases", cases=len(cases))
    case, _, why = wrong[0]
    if hidden:
        message = f"wrong on {len(wrong)} of {len(cases)} hidden cases; the first: {named(why, task)}"
    else:
        message = f"{name}({case.label}): {named(why, task)}; wrong on {len(wrong)} of {len(cases)} cases"
    mistake = diagnose(task, [(c, g) for c, g, _ in wrong], compare)
    hint = mistake.hint if mistake else (case.hint or task.equation)
    return FunctionResult(name, FAIL, message, hint=hint, mistake=mistake.key if mistake else None, cases=len(cases))


def named(why: str, task: Task) -> str:
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


def judge_exercise(ex: Exercise, rng: np.random.Generator, outcomes, hidden: bool = False) -> ExerciseResult:
    """The verdict on one exercise from the outcomes of its tasks (one per task, in order).

    ``rng`` is a fresh generator of the exercise's stream: the cases are rebuilt here, in
    the checker's process, not taken from the student's.
    """
    if not isinstance(outcomes, list) or len(outcomes) != len(ex.tasks) or not all(isinstance(o, dict) for o in outcomes):
        return ExerciseResult(ex.number, ex.title, ex.reading, FAIL,
                              [FunctionResult("", FAIL, "the process running your code sent a malformed answer")],
                              "", ex.points)  # fmt: skip
    results = []
    for task, outcome in zip(ex.tasks, outcomes):
        cases = task.cases(rng)
        if outcome.get("function") != task.function:
            results.append(FunctionResult(task.function, FAIL, "the process running your code answered for another function"))
        else:
            results.append(judge_task(task, cases, outcome, hidden))
    statuses = {r.status for r in results}
    status = FAIL if FAIL in statuses else TODO if TODO in statuses else PASS
    return ExerciseResult(ex.number, ex.title, ex.reading, status, results, "", ex.points)
