"""Comparing a student's answer with the expected one, in words that keep the key secret.

:func:`differs` returns None when the answer is right, else a one-line reason: a shape,
how many entries differ and where the first one is, NaN or inf, the student's own
number -- never the expected value nor its distance from the answer.

Numbers: relative 1e-9 for floats (two correct formulas summed in a different order
differ by ~1e-16; every slip the checker recognises by far more), exact for integers.
Arrays: ``numpy.isclose`` with the task's rtol/atol (1e-9 and 1e-12 by default), exact
for integer and boolean arrays. Tuples of arrays or numbers are compared item by item;
strings, integers and containers of them (token ids, BPE merges) exactly, as a whole.

Does not handle: complex numbers, sparse matrices (tracks compare their arrays).
"""

from __future__ import annotations

import math

import numpy as np

RTOL = 1e-9  # see the module docstring
ATOL = 1e-12



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


def differs(got, expected, rtol: float = RTOL, atol: float = ATOL) -> str | None:
    """None when ``got`` is the expected answer, else what is wrong -- in words that do not
    reveal the expected value (a shape, which entries differ, NaN, the student's number)."""
    if isinstance(expected, np.ndarray):
        return _array_differs(got, expected, rtol, atol)
    if isinstance(expected, (bool, np.bool_)):
        return None if isinstance(got, (bool, np.bool_)) and bool(got) == bool(expected) else f"returned {got!r}"
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if _dtype(got) in (np.float16, np.float32):
            return f"returned a numpy.{_dtype(got)}; compute in float64 or Python numbers: float32 keeps only ~7 digits"
        number = as_number(got)
        if number is None:
            return f"returned {got!r} ({type(got).__name__}); expected a single number"
        if isinstance(expected, float) and not math.isfinite(number):
            return f"returned {number} (not a finite number)"
        ok = same(number, expected) if rtol == RTOL else math.isclose(number, expected, rel_tol=rtol, abs_tol=atol)
        return None if ok else f"got {show(number)}"
    if isinstance(expected, (tuple, list)) and not isinstance(got, (tuple, list)):
        return f"returned a {type(got).__name__}; expected a {type(expected).__name__} of {len(expected)} items"
    if isinstance(expected, (tuple, list)):
        if len(got) != len(expected):
            return f"returned {len(got)} items; expected {len(expected)}"
        if not _is_plain(expected):  # several arrays or numbers: name the wrong one
            for i, (g, e) in enumerate(zip(got, expected)):
                why = differs(g, e, rtol, atol)
                if why:
                    return f"item {i}: {why}"
            return None
        return None if _plain(got) == _plain(expected) else "not the expected sequence"
    return None if _plain(got) == _plain(expected) else f"returned {got!r}"


def _is_plain(x) -> bool:
    """Strings, integers and containers of them: data compared exactly, as a whole."""
    if isinstance(x, (tuple, list)):
        return all(_is_plain(i) for i in x)
    if isinstance(x, dict):
        return True
    return x is None or isinstance(x, (str, bytes, bool, int, np.integer, np.bool_))


def _plain(x):
    """Tuples and lists alike, NumPy scalars as Python ones: for exact comparisons."""
    if isinstance(x, (tuple, list)):
        return tuple(_plain(i) for i in x)
    if isinstance(x, dict):
        return {_plain(k): _plain(v) for k, v in x.items()}
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    return x


def _array_differs(got, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    if got is None or isinstance(got, (str, bytes, dict)):
        return f"returned {type(got).__name__}; expected an array of shape {expected.shape}"
    try:
        g = np.asarray(got)
    except Exception:  # noqa: BLE001
        return f"returned {type(got).__name__}; expected an array of shape {expected.shape}"
    if g.dtype == object or g.dtype.kind not in "biuf":
        return f"returned an array of {g.dtype}; expected numbers of shape {expected.shape}"
    if g.dtype in (np.float16, np.float32):
        return f"returned numpy.{g.dtype} values; compute in float64: float32 keeps only ~7 digits"
    if g.shape != expected.shape:
        return f"shape {g.shape}; expected shape {expected.shape}"
    if expected.dtype.kind in "biu":
        wrong = g != expected
    else:
        bad = ~np.isfinite(g) & np.isfinite(expected)
        if bad.any():
            return f"{int(bad.sum())} of {g.size} entries are NaN or inf"
        with np.errstate(invalid="ignore"):
            wrong = ~np.isclose(g, expected, rtol=rtol, atol=atol)
            wrong |= np.isfinite(g) != np.isfinite(expected)
    if not wrong.any():
        return None
    first = tuple(int(i) for i in np.argwhere(wrong)[0])
    return f"wrong at {int(wrong.sum())} of {g.size} entries, first at index {first}"
