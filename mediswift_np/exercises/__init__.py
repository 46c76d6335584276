"""Build-it-yourself assignments, one track per unit of the course, and the checker that grades them.

A student copies a template from ``tutorials/exercises/`` (each function raises
``NotImplementedError`` and states its shapes and equation in its docstring), fills it
in, and runs

    python -m mediswift_np.exercises check optim --file my_optim.py
    python -m mediswift_np.exercises check my_optim.py          # the track is read from the file

or, from Python, ``check(path_or_module, track=...)``, which returns a :class:`Report`.
Each function runs on several inputs (random small arrays, the paper's presets,
stability probes, real masked layers and models) and is compared with the library's
own implementation or a closed form. The report says, per exercise, PASS, TODO (still
``NotImplementedError``), SKIP (a prerequisite fails) or FAIL with the first wrong
case, what is wrong -- never the expected value -- and a hint naming the slip.

Tracks (:mod:`.tracks`, in the course's order; ``tutorials/README.md`` is the course page):

    autograd       numerical gradient; backward of matmul, softmax, LayerNorm, GELU, cross-entropy  (01)
    bpe            the BPE merge loop, ties as subword-nmt breaks them                               (02)
    attention      causal multi-head self-attention                                                  (03)
    masked_linear  CSR forward, input gradient, sampled weight gradient, densify                     (04)
    flops          the FLOP savings of sparse pre-training: App. F, Table 6, counted FLOPs           (05)
    optim          AdamW, the warmup + cosine schedule, global-norm clipping                         (06)
    prompting      the [source; prompt; target] layout and the Eq. 3 target-only loss                (07)
    accelerator    the dataflow machine's speedup for a mask, and Amdahl's law for a step            (08)
    interop        safetensors, Conv1D vs Linear, Hugging Face names, the BioGPT vocabulary          (09)

The checker, module by module: :mod:`.spec` (what a track is), :mod:`.compare` (how
answers are compared, in words that keep the key secret), :mod:`.student` (calling the
student's functions, in the student's process), :mod:`.wire` (their return values as
JSON), :mod:`.judge` (the verdict, in the checker's process), :mod:`.report` (text and
JSON), :mod:`.runner` (the cascade, timeouts), :mod:`.sandbox`, :mod:`._guard`,
:mod:`._worker` and :mod:`.confine` (the student's process and everything it starts),
:mod:`.grade` (a folder of submissions, Gradescope) and :mod:`.handout` (the students'
copy of the course, without the answer key). The worked solutions are not in the
package: they live in ``instructors/solutions/``.

Does not handle: a student's file that calls the library's own implementation (the
checker cannot tell it from the student's work; read the code), sandboxing reads (a
student's code can read what the grading user can).
"""

from __future__ import annotations

import numbers
import os
import re
from pathlib import Path

from ..errors import UserError
from .report import FAIL, PASS, SKIP, STATUSES, TODO, Report, failed_everywhere
from .runner import DEFAULT_TIMEOUT, InProcess, Subprocess, run_track
from .spec import Track
from .student import check_path, load_module
from .tracks import TRACKS

__all__ = ["DEFAULT_TIMEOUT", "FAIL", "PASS", "SKIP", "STATUSES", "TODO", "TRACKS", "Report", "Track", "check",
           "check_source", "declared_track", "get_track", "load_module"]  # fmt: skip

TRACK_LINE = re.compile(r"""^TRACK\s*=\s*["'](\w+)["']""", flags=re.MULTILINE)


def get_track(name: str) -> Track:
    if name not in TRACKS:
        raise UserError(f"no track {name!r}; choose from {', '.join(TRACKS)}")
    return TRACKS[name]


def declared_track(source: bytes | str) -> str | None:
    """The track a file's ``TRACK = "..."`` line names, or None when it has none."""
    text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
    found = TRACK_LINE.search(text)
    return found.group(1) if found else None


def resolve_track(declared: str | None, requested: str | None, where: str, strict: bool = True) -> Track:
    """The track to grade on: the requested one, which must be what the file declares.

    A file whose ``TRACK`` line names another track, or (``strict``) that has none, is a
    UserError naming both -- it was probably graded on the wrong track.
    """
    if requested is not None:
        track = get_track(requested)
        if declared is None and strict:
            raise UserError(f"{where} has no TRACK line, and track {requested!r} was asked for; add "
                            f'TRACK = "{requested}" near its top (as in the template)')  # fmt: skip
        if declared is not None and declared != requested:
            raise UserError(f"{where} says TRACK = {declared!r}, but track {requested!r} was asked for; check it as "
                            f"{declared!r}, or fix its TRACK line")  # fmt: skip
        return track
    if declared is None:
        raise UserError(f"{where} has no TRACK line; name the track: check TRACK --file {where}")
    return get_track(declared)


def syntax_error(source: bytes, where: str) -> str | None:
    """One line naming the file and line when ``source`` is not valid Python (nothing runs), else None."""
    try:
        compile(source, where, "exec")
    except SyntaxError as e:
        return f"{where}:{e.lineno}: syntax error: {e.msg}"
    except ValueError as e:  # e.g. a NUL byte
        return f"{where}: cannot be read as Python: {e}"
    return None


def _check_options(seed, timeout) -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise UserError(f"timeout must be a positive number of seconds, got {timeout!r}")


def check_source(source: bytes, where: str, track: str | None = None, exercises=None, seed: int = 0,
                 hidden: bool = False, timeout: float = DEFAULT_TIMEOUT) -> Report:  # fmt: skip
    """Grade the bytes of a student's file (``where`` names it in messages) in a sandboxed worker."""
    _check_options(seed, timeout)
    chosen = resolve_track(declared_track(source), track, where)
    chosen.select(exercises)  # a bad exercise number is a usage mistake before any process starts
    bad = syntax_error(source, where)
    if bad:
        return failed_everywhere(chosen, bad, where, seed, hidden, exercises)
    return run_track(chosen, Subprocess(chosen, source, where, timeout), exercises, seed, hidden, where)


def check(module_or_path, exercises=None, seed: int = 0, track: str | None = None, hidden: bool = False,
          timeout: float = DEFAULT_TIMEOUT) -> Report:  # fmt: skip
    """Grade a student's module on the chosen exercises of a track.

    A path to a ``.py`` file runs in a sandboxed worker process (:mod:`.runner`): its
    bytes are read once, ``timeout`` seconds bound the import and each exercise. A file
    that cannot be checked at all (a syntax error; its import raises, hangs or crashes)
    gives a report whose ``error`` says why, every exercise FAIL. An imported module, or
    any object with the functions as attributes, runs in this process without timeouts
    (for tests and notebooks).

    The track is the file's ``TRACK = "..."`` line (or the module's ``TRACK`` attribute);
    ``track`` must agree with it (a module without the attribute may be given any track).

    Each exercise draws its random inputs from ``np.random.default_rng([seed, number])``
    (``[seed, number, 1]`` with ``hidden=True``), so a report is reproducible and does
    not depend on which exercises are selected. ``hidden=True`` also leaves the inputs
    (and the student's printed output) out of the report, for grading on inputs the
    students have not seen.
    """
    _check_options(seed, timeout)
    if isinstance(module_or_path, (str, os.PathLike)):
        path = check_path(module_or_path)
        return check_source(path.read_bytes(), str(path), track, exercises, seed, hidden, timeout)
    if isinstance(module_or_path, (int, float, str, bytes)) or not hasattr(module_or_path, "__dict__"):
        raise UserError(f"cannot check {module_or_path!r}: give a path to a .py file or a module")
    module = module_or_path
    file = getattr(module, "__file__", None)
    source = Path(file) if file else None
    name = str(source) if source else getattr(module, "__name__", type(module).__name__)
    chosen = resolve_track(getattr(module, "TRACK", None), track, name, strict=False)
    return run_track(chosen, InProcess(module, source), exercises, seed, hidden, name)
