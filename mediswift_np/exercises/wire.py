"""The values a student's functions return, as JSON, from the student's process to the checker.

The checker decides PASS or FAIL itself, from the values the functions returned -- so
those values must cross a process boundary without pickle (unpickling runs code chosen
by the sender). :func:`encode` turns a value into JSON-ready data, :func:`decode` turns
it back:

    arrays         {"array": dtype, "shape": [...], "data": base64 of the C-order bytes}
    NumPy scalars  {"scalar": dtype, "data": base64}      (a float32 stays a float32)
    tuple, list    {"tuple": [...]} / {"list": [...]}
    dict           {"dict": [[key, value], ...]}          (keys may be tuples, as pair counts are)
    bytes          {"bytes": base64}
    float          {"float": "nan" | "inf" | "-inf"} for the non-finite ones, else itself
    None, bool, int, str as themselves
    anything else  {"object": type name, "repr": its first 200 characters}

An object the checker cannot rebuild comes back as an :class:`Opaque` whose type name is
the original's, so a report says "returned csr_matrix; expected an array".

Does not handle: object arrays, structured dtypes (both come back Opaque), nesting deeper
than ``MAX_DEPTH``.
"""

from __future__ import annotations

import base64
import math

import numpy as np

MAX_DEPTH = 50


class Opaque:
    """A returned object that cannot cross to the checker: its type name and repr only."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _opaque(value) -> dict:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 -- a student's __repr__ may raise
        text = "<unprintable>"
    return {"object": type(value).__name__[:80], "repr": text[:200]}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def encode(value, depth: int = 0):
    """JSON-ready data for ``value`` (see the module docstring)."""
    if depth > MAX_DEPTH:
        return {"object": type(value).__name__[:80], "repr": "(nested too deeply)"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if isinstance(value, float) and type(value) is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            return _opaque(value)
        return {"array": value.dtype.str, "shape": list(value.shape), "data": _b64(value.tobytes(order="C"))}
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biufc":
            return _opaque(value)
        return {"scalar": value.dtype.str, "data": _b64(value.tobytes())}
    if isinstance(value, bytes):
        return {"bytes": _b64(value)}
    if type(value) in (tuple, list):
        return {type(value).__name__: [encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    return _opaque(value)


def decode(data):
    """The value :func:`encode` described; ValueError on data it cannot have made."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if not isinstance(data, dict) or len(data) not in (1, 2, 3):
        raise ValueError("not an encoded value")
    if "array" in data:
        dtype = np.dtype(data["array"])
        shape = tuple(int(n) for n in data["shape"])
        raw = base64.b64decode(data["data"], validate=True)
        if dtype.kind not in "biufc" or len(raw) != dtype.itemsize * math.prod(shape):
            raise ValueError("array data does not match its dtype and shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if "scalar" in data:
        dtype = np.dtype(data["scalar"])
        raw = base64.b64decode(data["data"], validate=True)
        if dtype.kind not in "biufc" or len(raw) != dtype.itemsize:
            raise ValueError("scalar data does not match its dtype")
        return np.frombuffer(raw, dtype=dtype)[0]
    if "float" in data:
        return float(data["float"])
    if "bytes" in data:
        return base64.b64decode(data["bytes"], validate=True)
    if "tuple" in data:
        return tuple(decode(v) for v in data["tuple"])
    if "list" in data:
        return [decode(v) for v in data["list"]]
    if "dict" in data:
        return {_hashable(decode(k)): decode(v) for k, v in data["dict"]}
    if "object" in data:
        kind = type(str(data["object"]), (Opaque,), {})  # so type(got).__name__ is the original's
        return kind(str(data.get("repr", "")))
    raise ValueError("not an encoded value")


def _hashable(key):
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, (np.ndarray, dict)):
        raise ValueError("a dict key that cannot be hashed")
    return key
