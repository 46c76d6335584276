"""Atomic file writes: a file either appears complete or not at all.

Each writer writes to a temporary file in the destination's directory, flushes and
fsyncs it, then renames it over the destination (``os.replace`` is atomic on POSIX and
Windows). A crash or SIGKILL mid-write leaves the previous file (or nothing) in place,
plus at worst a stray ``.tmp-*`` file that is never read.

Output directories (``--out`` of every command that writes one) are checked before any
work starts, by :func:`check_output_dir`: a path that is a file, lies under a file, runs
into a symlink loop, or cannot be written (no permission, a read-only file system) is a
one-line error, and so is a directory that already holds something -- another run, a
tokenizer, anything -- unless the user passes ``--overwrite`` or it is the run being
resumed. :func:`writing_into` wraps the writing of a command's outputs: if it fails, a
folder the command created is removed, so nothing empty or half-written is left behind,
and an OS error (disk full, read-only) becomes one line naming the file.

Does not handle: atomicity across several files. Callers that write a directory of
files (checkpoints) write the payload files first and a small manifest last; a
directory without a valid manifest is treated as incomplete.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Mapping

import numpy as np

from .errors import UserError

TEMPORARY = ".tmp-"  # in the name of every temporary file of _atomic_open (never read)


@contextmanager
def _atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write; on leaving the block it is fsynced and renamed to ``path``
    (or deleted, if the block raised)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMPORARY}", dir=path.parent)
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


# ----------------------------------------------------------------------------- output directories


def _is_read_only(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def _usable_or_error(out: Path) -> None:
    """One-line error unless ``out`` is, or can be created as, a writable directory."""
    for probe in (out, *out.parents):  # the nearest path that exists decides
        try:
            is_dir = stat.S_ISDIR(os.stat(probe).st_mode)  # follows symlinks, as writing would
        except (FileNotFoundError, NotADirectoryError):
            continue  # does not exist (yet), or lies under a file: look further up
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UserError(f"{out}: cannot be used as an output directory: {probe} is a symlink loop") from None
            raise UserError(f"{out}: cannot be used as an output directory: {e.strerror}") from None
        if not is_dir:
            where = "exists and is not a directory" if probe == out else f"lies under {probe}, which is a file"
            raise UserError(f"{out}: {where}; choose another output directory")
        if not os.access(probe, os.W_OK | os.X_OK):
            why = "is on a read-only file system" if _is_read_only(probe) else "is not writable (permission denied)"
            raise UserError(f"{out}: cannot be written: {probe} {why}")
        return


def entries(directory: Path) -> list[str]:
    """The names in ``directory``, sorted, without the temporaries of interrupted atomic writes."""
    return sorted(p.name for p in directory.iterdir() if TEMPORARY not in p.name)


def describe_contents(directory: Path) -> str:
    """What a non-empty output directory holds, in words: a checkpoint (its kind and step,
    from ``state.json``), a Hugging Face export, a tokenizer, or its first few names."""
    names = entries(directory)
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    try:
        state = json.loads((directory / "state.json").read_text(encoding="utf-8"))
        kind, step = state.get("kind", "unknown"), state.get("step")
        return f"a {kind} checkpoint at step {step} ({listed})"
    except (OSError, ValueError, AttributeError):
        pass  # not a (readable) checkpoint
    if {"config.json", "model.safetensors"} <= set(names):
        return f"a Hugging Face export ({listed})"
    if {"bpecodes", "dict.txt"} <= set(names):
        return f"a tokenizer ({listed})"
    return listed


def check_output_dir(out, *, overwrite: bool = False, resuming=None) -> Path:
    """Check an output directory before any work: usable (see :func:`_usable_or_error`),
    and empty unless ``overwrite`` is set or it is ``resuming``, the run being continued.

    Example (an existing file is no directory):
        >>> check_output_dir("/dev/null")
        Traceback (most recent call last):
        mediswift_np.errors.UserError: /dev/null: exists and is not a directory; choose another output directory
    """
    out = Path(out)
    _usable_or_error(out)
    same_run = resuming is not None and out.is_dir() and Path(resuming).is_dir() and os.path.samefile(out, resuming)
    if out.is_dir() and not overwrite and not same_run and entries(out):
        raise UserError(f"{out} already holds {describe_contents(out)}; pass --overwrite to replace it, or choose another --out")
    return out


def first_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist (what creating ``path`` creates)."""
    missing = None
    for p in (path, *path.parents):
        if os.path.lexists(p):
            return missing
        missing = p
    return missing


@contextmanager
def writing_into(out) -> Iterator[Path]:
    """The block writes a command's outputs into ``out``. If it fails, what it added is
    removed: the folder itself when the block created it, else the entries that were not
    there before; an OS error (disk full, read-only, I/O) becomes a one-line UserError."""
    out = Path(out)
    created = first_missing(out)
    before = set() if created is not None or not out.is_dir() else set(entries(out))
    try:
        yield out
    except BaseException as e:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        elif out.is_dir():
            for name in set(entries(out)) - before:
                shutil.rmtree(out / name, ignore_errors=True) if (out / name).is_dir() else (out / name).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, (FileNotFoundError, IsADirectoryError)):
            left = "nothing was left behind" if not before else f"the files {out} held before may have been partly replaced"
            raise UserError(f"cannot write {e.filename or out}: {e.strerror or e}; {left}") from None
        raise
