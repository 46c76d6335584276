"""Classroom exercises on verifying sparse FLOP savings, and the checker that grades them.

A student fills in the small functions of ``tutorials/exercises/sparse_flops.py`` (each
raises ``NotImplementedError`` and states its task in its docstring) and runs

    python -m mediswift_np.exercises check tutorials/exercises/sparse_flops.py

or, from Python, ``check(path_or_module)``, which returns a :class:`Report`. Each
function is run on several inputs -- the paper's presets, random small configurations,
different sparsities, real training steps of tiny sparse models, random masks on the
emulated accelerator -- and compared with the library's own answer. The report says,
per exercise, PASS, TODO (still ``NotImplementedError``) or FAIL with the first wrong
case, expected vs got, and a hint naming the slip when it is a known one.

    1  FLOPs of one block's attention projections at sparsity s      (flop_terms)
    2  FLOPs of one block's MLP at sparsity s                          (flop_terms)
    3  the whole forward pass (App. F) and training FLOPs              (flop_terms)
    4  active parameters and the overall sparsity S = Σ s_l N_l / N    (counting)
    5  FLOP savings, and why they grow with model size                 (flop_terms)
    6  counted FLOPs of a training step = the analytic formula         (counting)
    7  the dataflow emulator's speedup for a given mask                (emulator)

:mod:`.grading` holds the machinery (cases, mistakes, reports). The checker reads only
the file it is given and the library; the worked solutions live apart, in
``tutorials/exercises/solutions/``.

Does not handle: sandboxing. The student's file is imported and run in this process,
exactly as ``python sparse_flops.py`` would run it -- check only files you trust.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import UserError
from .counting import EXERCISE_4, EXERCISE_6
from .emulator import EXERCISE_7
from .flop_terms import EXERCISE_1, EXERCISE_2, EXERCISE_3, EXERCISE_5
from .grading import FAIL, PASS, TODO, Exercise, Report, load_module, run_exercise

EXERCISES: tuple[Exercise, ...] = (EXERCISE_1, EXERCISE_2, EXERCISE_3, EXERCISE_4, EXERCISE_5, EXERCISE_6, EXERCISE_7)

__all__ = ["EXERCISES", "FAIL", "PASS", "TODO", "Report", "check", "load_module"]


def select(numbers_wanted=None) -> tuple[Exercise, ...]:
    """The exercises with the given numbers (all when None), or a UserError naming a bad one."""
    if numbers_wanted is None:
        return EXERCISES
    by_number = {e.number: e for e in EXERCISES}
    chosen = []
    for n in numbers_wanted:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n not in by_number:
            raise UserError(f"no exercise {n!r}; choose from {', '.join(str(k) for k in by_number)}")
        if by_number[n] not in chosen:
            chosen.append(by_number[n])
    return tuple(sorted(chosen, key=lambda e: e.number))


def check(module_or_path, exercises=None, seed: int = 0) -> Report:
    """Grade a student's module (a path to a ``.py`` file, or an imported module / any
    object with the functions as attributes) on the chosen exercises.

    Each exercise draws its random inputs from ``np.random.default_rng([seed, number])``,
    so a report is reproducible and does not depend on which exercises are selected.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    chosen = select(exercises)
    if isinstance(module_or_path, (str, os.PathLike)):
        source: Path | None = Path(module_or_path)
        module = load_module(source)
        name = str(source)
    elif isinstance(module_or_path, ModuleType) or hasattr(module_or_path, "__dict__"):
        module = module_or_path
        file = getattr(module, "__file__", None)
        source = Path(file) if file else None
        name = str(source) if source else getattr(module, "__name__", type(module).__name__)
    else:
        raise UserError(f"cannot check {module_or_path!r}: give a path to a .py file or a module")
    results = [run_exercise(e, module, np.random.default_rng([int(seed), e.number]), source) for e in chosen]
    return Report(name, int(seed), results)
