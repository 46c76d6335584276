"""The safetensors writer/reader: the published layout byte by byte, round trips, the
reference ``safetensors`` package both ways, and every malformed-file rule."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from mediswift_np.interop import safetensors_io as st
from mediswift_np.interop.safetensors_io import SafetensorsError, load_safetensors, save_safetensors, serialize


def parse_by_hand(data: bytes) -> tuple[dict, bytes]:
    """The format as the safetensors README states it, read without our reader."""
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def test_layout_matches_the_published_format():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1, -2], dtype=np.int64)
    m = np.array([True, False, True])
    data = serialize({"a": a, "b": b, "m": m}, {"format": "pt"})
    header, buffer = parse_by_hand(data)
    assert (len(data) - len(buffer)) % 8 == 0  # header padded: the buffer starts 8-byte aligned
    assert header["__metadata__"] == {"format": "pt"}
    assert header["a"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": header["a"]["data_offsets"]}
    for name, arr, dtype in (("a", a, "<f4"), ("b", b, "<i8"), ("m", m, "u1")):
        begin, end = header[name]["data_offsets"]
        assert buffer[begin:end] == arr.astype(dtype).tobytes(order="C")  # little-endian, row-major
        assert begin % arr.dtype.itemsize == 0  # aligned to its item size
    assert header["b"]["data_offsets"][0] == 0  # 8-byte items first
    assert sum(e - s for s, e in (h["data_offsets"] for k, h in header.items() if k != "__metadata__")) == len(buffer)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool"])
def test_round_trip_every_dtype(tmp_path, dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4)) * 50).astype(dtype)
    save_safetensors(tmp_path / "x.safetensors", {"w": a, "scalar": a[0, 0], "empty": a[:0]})
    back, meta = load_safetensors(tmp_path / "x.safetensors")
    assert meta == {}
    for name, want in (("w", a), ("scalar", np.asarray(a[0, 0])), ("empty", a[:0])):
        assert back[name].dtype == want.dtype and back[name].shape == want.shape
        assert back[name].tobytes() == want.tobytes()  # bitwise, NaN patterns included
        assert back[name].flags.writeable


def test_non_contiguous_and_big_endian_inputs(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4).T  # a transposed view
    big = np.arange(5, dtype=">i4")
    save_safetensors(tmp_path / "x.safetensors", {"t": a, "big": big})
    back, _ = load_safetensors(tmp_path / "x.safetensors")
    assert np.array_equal(back["t"], a) and back["t"].dtype == np.float32
    assert np.array_equal(back["big"], big) and back["big"].dtype == np.dtype("<i4")


def test_reads_bfloat16_as_exact_float32(tmp_path):
    values = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)  # all exactly representable in bf16
    upper = (values.view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"x": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + upper.tobytes())
    back, _ = load_safetensors(tmp_path / "b.safetensors")
    assert back["x"].dtype == np.float32 and np.array_equal(back["x"], values)


def test_reference_package_reads_ours_and_we_read_theirs(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    rng = np.random.default_rng(1)
    tensors = {
        "transformer.wte.weight": rng.standard_normal((7, 5)).astype(np.float32),
        "mask": rng.random((5, 5)) < 0.5,
        "ids": np.arange(9, dtype=np.int64),
        "half": rng.standard_normal(3).astype(np.float16),
    }
    save_safetensors(tmp_path / "ours.safetensors", tensors, {"format": "pt", "note": "ü"})
    theirs = st_numpy.load_file(str(tmp_path / "ours.safetensors"))
    with safetensors.safe_open(str(tmp_path / "ours.safetensors"), framework="numpy") as f:
        assert f.metadata() == {"format": "pt", "note": "ü"}
    assert theirs.keys() == tensors.keys()
    for k in tensors:
        assert theirs[k].dtype == tensors[k].dtype and np.array_equal(theirs[k], tensors[k])
    st_numpy.save_file(tensors, str(tmp_path / "theirs.safetensors"), metadata={"format": "pt"})
    ours, meta = load_safetensors(tmp_path / "theirs.safetensors")
    assert meta == {"format": "pt"}
    for k in tensors:
        assert ours[k].dtype == tensors[k].dtype and np.array_equal(ours[k], tensors[k])


@pytest.mark.slow
def test_round_trip_property():
    hypothesis = pytest.importorskip("hypothesis")
    hnp = pytest.importorskip("hypothesis.extra.numpy")
    strategies = pytest.importorskip("hypothesis.strategies")
    dtypes = strategies.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.bool_, np.float16])
    arrays = dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
    names = strategies.text(min_size=1, max_size=8).filter(lambda s: s != "__metadata__")

    @hypothesis.settings(max_examples=60, deadline=None)
    @hypothesis.given(strategies.dictionaries(names, arrays, max_size=4))
    def check(tensors):
        back, _ = st.deserialize(serialize(tensors))
        assert back.keys() == tensors.keys()
        for k, a in tensors.items():
            assert back[k].dtype == a.dtype and back[k].shape == a.shape and back[k].tobytes() == a.tobytes()

    check()


def _file(header: dict | bytes, buffer: bytes = b"", size: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if size is None else size) + raw + buffer


GOOD = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x02", "shorter than the 8-byte header size"),
        (_file(GOOD, bytes(8), size=10**9), "exceeds the"),
        (_file(GOOD, bytes(8), size=500), "runs past the end of the file"),
        (_file(b"[1, 2]"), "does not start with '{'"),
        (_file(b"{not json"), "bad header JSON"),
        (_file(b'{"x": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "x": {}}'), "duplicate key 'x'"),
        (_file(b"{\xff}"), "not UTF-8"),
        (_file({"x": {"dtype": "F32", "shape": [2]}}), "needs exactly"),
        (_file({"x": {"dtype": "C64", "shape": [2], "data_offsets": [0, 16]}}, bytes(16)), "unsupported dtype 'C64'"),
        (_file({"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)), "bad shape"),
        (_file({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, bytes(8)), "bad data_offsets"),
        (_file({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)), "shape \\[3\\] F32 needs 12"),
        (_file(GOOD, bytes(4)), "expected 0|truncated"),
        (_file(GOOD, bytes(12)), "trailing bytes"),
        (_file({**GOOD, "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), "gap or overlap"),
        (_file({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), "gap or overlap"),
        (_file({"__metadata__": {"a": 1}, **GOOD}, bytes(8)), "__metadata__ must map strings to strings"),
    ],
)
def test_malformed_files_are_rejected_with_the_file_named(tmp_path, data, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(SafetensorsError, match=message) as err:
        load_safetensors(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncating_a_real_file_anywhere_is_caught(tmp_path):
    data = serialize({"a": np.ones((4, 4), np.float32), "b": np.zeros(3, np.int8)}, {"format": "pt"})
    for cut in (0, 7, 8, 20, len(data) // 2, len(data) - 1):
        with pytest.raises(SafetensorsError):
            st.deserialize(data[:cut], "cut")


def test_writer_rejects_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(SafetensorsError, match="complex128 cannot be stored"):
        serialize({"z": np.zeros(2, np.complex128)})
    with pytest.raises(SafetensorsError, match="object cannot be stored"):
        serialize({"z": np.array([None])})
    with pytest.raises(SafetensorsError, match="metadata must map strings"):
        serialize({}, {"n": 3})
    with pytest.raises(SafetensorsError, match="other than '__metadata__'"):
        serialize({"__metadata__": np.zeros(1)})
    with pytest.raises(SafetensorsError, match="no such file"):
        load_safetensors(tmp_path / "missing.safetensors")


def test_docstring_examples():
    import doctest

    assert doctest.testmod(st).failed == 0
