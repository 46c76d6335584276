"""What a track is made of: exercises, tasks, cases and the mistakes they recognise.

A :class:`Track` is a list of :class:`Exercise` s; an exercise is a few :class:`Task` s;
a task is one function the student writes. ``Task.cases(rng)`` builds the inputs and,
for every :class:`Case`, the library's answer and the answers that common mistakes would
give on the same input (forgetting the (1 − s) factor, the softmax backward without its
subtraction term, L2 decay added to the gradient, ...). A mistake is either such an
answer or a :class:`Symptom` -- a test on the student's output, e.g. "has NaN or inf on
the stability probe".

The track modules (:mod:`.tracks`) import only this module and :mod:`.compare`; the
checker's machinery (:mod:`.runner`, :mod:`.judge`, :mod:`.student`) reads these
definitions and never the other way round.

Does not handle: running anything; see :mod:`.runner`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import UserError
from .compare import ATOL, RTOL


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
    reading: str  # where the equations are taught (never the library code that answers them)
    tasks: tuple[Task, ...]
    on_pass: Callable[[Any], str] | None = None  # one line of insight, computed with the student's functions
    depends_on: tuple[int, ...] = ()  # exercises whose functions this one builds on
    points: int = 1


@dataclass(frozen=True)
class Track:
    """One build-it-yourself assignment. Its name is also the name of its template
    (``tutorials/exercises/<name>.py``), of its preface when it has one
    (``tutorials/exercises/<name>.md``), of its worked solution
    (``instructors/solutions/<name>.py``) and of its module here (``tracks/<name>``)."""

    name: str
    title: str
    tutorial: str  # the notebook whose unit the track belongs to
    exercises: tuple[Exercise, ...]

    @property
    def template(self) -> str:
        return f"{self.name}.py"

    @property
    def max_points(self) -> int:
        return sum(e.points for e in self.exercises)

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


def exercise_rng(seed: int, number: int, hidden: bool = False) -> np.random.Generator:
    """The generator of one exercise's random inputs; ``hidden`` draws from another stream.

    The student's process and the checker each build the cases from their own copy of
    this generator: the student's process to call the functions, the checker to know the
    right answers.
    """
    return np.random.default_rng([int(seed), number, 1] if hidden else [int(seed), number])
