"""Atomic file writes: a file either appears complete or not at all.

Each writer writes to a temporary file in the destination's directory, flushes and
fsyncs it, then renames it over the destination (``os.replace`` is atomic on POSIX and
Windows). A crash or SIGKILL mid-write leaves the previous file (or nothing) in place,
plus at worst a stray ``.tmp-*`` file that is never read.

Does not handle: atomicity across several files. Callers that write a directory of
files (checkpoints) write the payload files first and a small manifest last; a
directory without a valid manifest is treated as incomplete.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Mapping

import numpy as np


@contextmanager
def _atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write; on leaving the block it is fsynced and renamed to ``path``
    (or deleted, if the block raised)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    path = Path(path)
    with _atomic_open(path) as f:
        f.write(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON (UTF-8, trailing newline) atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_savez(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Save ``arrays`` as an uncompressed ``.npz`` atomically.

    Only plain numeric/bool arrays are accepted, so the file loads with
    ``np.load(path, allow_pickle=False)``.
    """
    for name, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"array {name!r} has dtype object and would need pickle")
    path = Path(path)
    with _atomic_open(path) as f:
        np.savez(f, **arrays)  # straight into the temporary file: no second copy in memory
    return path
