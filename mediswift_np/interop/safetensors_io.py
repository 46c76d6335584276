"""A small writer and reader of the safetensors format, in NumPy.

safetensors (Hugging Face, https://github.com/huggingface/safetensors, "Format" in its
README) is the file format of ``model.safetensors``. A file is three parts::

    8 bytes    N, the header size, an unsigned 64-bit little-endian integer
    N bytes    the header: a UTF-8 JSON object
               {"__metadata__": {"format": "pt", ...},          (optional, str -> str)
                "transformer.wte.weight": {"dtype": "F32", "shape": [V, C],
                                           "data_offsets": [BEGIN, END]}, ...}
    the rest   the byte buffer; tensor bytes are buffer[BEGIN:END], little-endian,
               C order (row-major), no strides

Rules this module enforces on reading (they are the reference implementation's): the
header is at most 100 MB, starts with ``{`` and is valid JSON without duplicate keys;
every dtype is known; END - BEGIN equals the tensor's byte size; the tensors tile the
buffer exactly (sorted by offset, each starts where the previous ended, the last ends at
the end of the file). A file breaking any rule raises :class:`SafetensorsError` naming
the file and the problem -- a truncated or hand-edited file is never half-read.

Writing: the header is padded with spaces to a multiple of 8 bytes and tensors are laid
out largest item size first (then by name), so every tensor starts at a multiple of its
item size -- what the reference writer does too, so readers may map the file directly.

Why our own code and not the ``safetensors`` package: the runtime dependencies are
numpy/scipy/sacremoses/regex/tqdm only, and the format is small enough to read in full
here. The tests check this module against the ``safetensors`` package both ways when it is
installed (it comes with ``transformers``).

Does not handle: writing bfloat16 or float8 (NumPy has no such dtypes; BF16 is *read*,
widened exactly to float32), lazy/partial loading or memory mapping (files are read whole).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_bytes

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's limit (DOS protection)
METADATA_KEY = "__metadata__"

# safetensors dtype name <-> NumPy dtype (little-endian)
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}  # fmt: skip
BF16 = "BF16"  # read only: the upper 16 bits of a float32
_NAMES = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items()}


class SafetensorsError(UserError):
    """A file that is not valid safetensors."""


def dtype_name(dtype) -> str:
    """The safetensors name of a NumPy dtype. Example: ``dtype_name(np.float32) == 'F32'``."""
    dt = np.dtype(dtype)
    name = _NAMES.get((dt.kind, dt.itemsize))
    if name is None:
        raise SafetensorsError(f"dtype {dt} cannot be stored in safetensors (supported: {', '.join(DTYPES)})")
    return name


def serialize(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytearray:
    """The bytes of a safetensors file holding ``tensors`` (and optional str -> str ``metadata``).

    Example:
        >>> data = serialize({"x": np.array([1.0, 2.0], np.float32)})
        >>> n = int.from_bytes(data[:8], "little")  # header size: 54 bytes of JSON + 2 spaces
        >>> n, bytes(data[8 : 8 + n])
        (56, b'{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  ')
        >>> np.frombuffer(data[8 + n :], "<f4")
        array([1., 2.], dtype=float32)
    """
    arrays = {}
    for name, a in tensors.items():
        if not isinstance(name, str) or name == METADATA_KEY:
            raise SafetensorsError(f"tensor name must be a string other than {METADATA_KEY!r}, got {name!r}")
        a = np.asarray(a)
        arrays[name] = (dtype_name(a.dtype), a)
    header: dict = {}
    if metadata:
        bad = [k for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise SafetensorsError(f"metadata must map strings to strings; bad entry {bad[0]!r}")
        header[METADATA_KEY] = dict(metadata)
    # Largest item size first, then by name: every tensor starts at a multiple of its item size.
    order = sorted(arrays, key=lambda n: (-arrays[n][1].dtype.itemsize, n))
    offset = 0
    for name in order:
        dtype, a = arrays[name]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad: the buffer starts 8-byte aligned
    start = 8 + len(text)
    data = bytearray(start + offset)  # one allocation; each tensor is copied into it once
    data[:start] = struct.pack("<Q", len(text)) + text
    buffer = np.frombuffer(data, dtype=np.uint8)  # a writable view of the same memory
    for name in order:
        dtype, a = arrays[name]
        begin, end = header[name]["data_offsets"]
        raw = np.ascontiguousarray(a, dtype=DTYPES[dtype])  # little-endian, C order
        buffer[start + begin : start + end] = raw.reshape(-1).view(np.uint8)
    return data


def save_safetensors(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` to ``path`` as safetensors, atomically."""
    return atomic_write_bytes(path, serialize(tensors, metadata))


def _reject_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {dup!r}")
    return dict(pairs)


def deserialize(data: bytes | bytearray, source: str = "<bytes>") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of the bytes of a safetensors file; every rule checked.

    Arrays are views into ``data`` when it is a (writable) ``bytearray``, copies otherwise.
    """

    def fail(why: str):
        raise SafetensorsError(f"{source}: not a valid safetensors file: {why}")

    if len(data) < 8:
        fail(f"{len(data)} bytes, shorter than the 8-byte header size")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        fail(f"header size {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if 8 + n > len(data):
        fail(f"header size {n} runs past the end of the file ({len(data)} bytes; truncated?)")
    raw_header = data[8 : 8 + n]
    if not raw_header.startswith(b"{"):
        fail("the header does not start with '{'")
    try:
        header = json.loads(raw_header.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError:
        fail("the header is not UTF-8")
    except ValueError as e:  # JSONDecodeError is a ValueError, and so are duplicate keys
        fail(f"bad header JSON ({e})")
    if not isinstance(header, dict):
        fail("the header is not a JSON object")
    metadata = header.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        fail(f"{METADATA_KEY} must map strings to strings")
    buffer = memoryview(data)[8 + n :]
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            fail(f"tensor {name!r} needs exactly 'dtype', 'shape' and 'data_offsets'")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES and dtype != BF16:
            fail(f"tensor {name!r} has unsupported dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            fail(f"tensor {name!r} has a bad shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            fail(f"tensor {name!r} has bad data_offsets {offsets!r}")
        begin, end = offsets
        itemsize = 2 if dtype == BF16 else DTYPES[dtype].itemsize
        if end - begin != int(np.prod(shape, dtype=np.int64)) * itemsize:
            fail(f"tensor {name!r}: data_offsets {offsets} hold {end - begin} bytes, shape {shape} {dtype} needs {int(np.prod(shape)) * itemsize}")
        entries.append((begin, end, name, dtype, tuple(shape)))
    position = 0
    for begin, end, name, _, _ in sorted(entries):  # the tensors must tile the buffer: no gaps, no overlaps
        if begin != position:
            fail(f"tensor {name!r} starts at byte {begin}, expected {position} (gap or overlap)")
        position = end
    if position != len(buffer):
        fail(f"the tensors cover {position} bytes of a {len(buffer)}-byte buffer (truncated or trailing bytes)")
    tensors = {}
    for begin, end, name, dtype, shape in entries:
        if dtype == BF16:  # bfloat16 = the upper half of a float32: widen exactly
            halves = np.frombuffer(buffer[begin:end], dtype="<u2").astype(np.uint32) << 16
            tensors[name] = halves.view(np.float32).reshape(shape)
        else:
            a = np.frombuffer(buffer[begin:end], dtype=DTYPES[dtype]).reshape(shape)  # a view, no copy
            if not a.dtype.isnative or not a.flags.writeable:  # big-endian host, or immutable ``bytes`` given
                a = a.astype(a.dtype.newbyteorder("="))
            tensors[name] = a
    return tensors, dict(metadata)


def load_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a safetensors file.

    The file is read once into memory the arrays then share (views, no second copy); they are
    writable and native-endian.
    """
    path = Path(path)
    if not path.is_file():
        raise SafetensorsError(f"{path}: no such file")
    data = bytearray(path.stat().st_size)
    with open(path, "rb") as f:
        if f.readinto(data) != len(data):
            raise SafetensorsError(f"{path}: changed size while being read")
    return deserialize(data, str(path))
