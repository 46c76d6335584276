"""Build-it-yourself assignments, one track per stage, and the checker that grades them.

A student copies a template from ``tutorials/exercises/`` (each function raises
``NotImplementedError`` and states its shapes and equation in its docstring), fills it
in, and runs

    python -m mediswift_np.exercises check autograd --file my_autograd.py
    python -m mediswift_np.exercises check my_autograd.py          # the track is read from the file

or, from Python, ``check(path_or_module, track=...)``, which returns a :class:`Report`.
Each function runs on several inputs (random small arrays, the paper's presets,
stability probes, real masked layers and models) and is compared with the library's
own implementation or a closed form. The report says, per exercise, PASS, TODO (still
``NotImplementedError``), SKIP (a prerequisite fails) or FAIL with the first wrong
case, what is wrong -- never the expected value -- and a hint naming the slip.

Tracks (:mod:`.tracks`; the README maps each to its tutorial):

    autograd       numerical gradient; backward of matmul, softmax, LayerNorm, GELU, cross-entropy
    bpe            the BPE merge loop, ties as subword-nmt breaks them
    attention      causal multi-head self-attention
    masked_linear  CSR forward, input gradient, sampled weight gradient, densify
    flops          the FLOP savings of sparse pre-training and the emulator's speedup (exercises 1-7)
    optim          AdamW, the warmup + cosine schedule, global-norm clipping
    prompting      the [source; prompt; target] layout and the Eq. 3 target-only loss

:mod:`.grading` holds the cases, mistakes and reports; :mod:`.runner` the cascade,
the worker process and the timeouts. The checker reads only the file it is given and
the library; the worked solutions live apart, in ``tutorials/exercises/solutions/``.

Does not handle: sandboxing beyond a separate process -- a student's file can still
read and write files as the user who runs the checker; grade untrusted files in a
container.
"""

from __future__ import annotations

import numbers
import os
import re
from pathlib import Path

from ..errors import UserError
from .grading import FAIL, PASS, SKIP, TODO, Report, load_module
from .runner import DEFAULT_TIMEOUT, InProcess, Subprocess, Track, run_track
from .tracks import FLOPS, TRACKS

EXERCISES = FLOPS.exercises  # the FLOP track's exercises 1-7, as before tracks existed
DEFAULT_TRACK = "flops"

__all__ = ["DEFAULT_TRACK", "EXERCISES", "FAIL", "PASS", "SKIP", "TODO", "TRACKS", "Report", "check", "load_module",
           "track_of"]  # fmt: skip


def get_track(name: str) -> Track:
    if name not in TRACKS:
        raise UserError(f"no track {name!r}; choose from {', '.join(TRACKS)}")
    return TRACKS[name]


def track_of(path: str | os.PathLike) -> str:
    """The track a file belongs to: its ``TRACK = "..."`` line, else ``flops`` (the first track's
    template had none)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return DEFAULT_TRACK
    found = re.search(r"""^TRACK\s*=\s*["'](\w+)["']""", text, flags=re.MULTILINE)
    return found.group(1) if found else DEFAULT_TRACK


def syntax_check(path: Path) -> None:
    """A one-line UserError naming the file and line when ``path`` is not valid Python (nothing runs)."""
    try:
        compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as e:
        raise UserError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except ValueError as e:  # e.g. a NUL byte
        raise UserError(f"{path}: cannot be read as Python: {e}") from None


def select(numbers_wanted=None, track: str = DEFAULT_TRACK):
    """The exercises with the given numbers (all when None), or a UserError naming a bad one."""
    return get_track(track).select(numbers_wanted)


def check(module_or_path, exercises=None, seed: int = 0, track: str | None = None, hidden: bool = False,
          timeout: float = DEFAULT_TIMEOUT) -> Report:  # fmt: skip
    """Grade a student's module on the chosen exercises of a track.

    A path to a ``.py`` file runs in a worker process, ``timeout`` seconds per exercise
    (see :mod:`.runner`). An imported module, or any object with the functions as
    attributes, runs in this process without timeouts (for tests and notebooks).
    The track defaults to the file's ``TRACK = "..."`` line (or the module's ``TRACK``
    attribute), else ``flops``.

    Each exercise draws its random inputs from ``np.random.default_rng([seed, number])``
    (``[seed, number, 1]`` with ``hidden=True``), so a report is reproducible and does
    not depend on which exercises are selected. ``hidden=True`` also leaves the inputs
    out of the report, for grading on inputs the students have not seen.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(module_or_path, (str, os.PathLike)):
        from .grading import check_path

        path = check_path(module_or_path)
        syntax_check(path)  # a syntax error is bad input: say so without starting a process
        chosen = get_track(track or track_of(path))
        chosen.select(exercises)  # a bad exercise number is a usage mistake before any process starts
        return run_track(chosen, Subprocess(chosen, path, timeout), exercises, seed, hidden, str(path))
    if isinstance(module_or_path, (int, float, str, bytes)) or not hasattr(module_or_path, "__dict__"):
        raise UserError(f"cannot check {module_or_path!r}: give a path to a .py file or a module")
    module = module_or_path
    chosen = get_track(track or getattr(module, "TRACK", None) or DEFAULT_TRACK)
    file = getattr(module, "__file__", None)
    source = Path(file) if file else None
    name = str(source) if source else getattr(module, "__name__", type(module).__name__)
    return run_track(chosen, InProcess(module, source), exercises, seed, hidden, name)
