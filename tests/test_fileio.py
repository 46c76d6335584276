"""mediswift_np.fileio: a file appears complete or not at all."""

import json
import os

import numpy as np
import pytest

from mediswift_np import fileio


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def test_bytes_text_and_json_round_trip(tmp_path):
    assert fileio.atomic_write_bytes(tmp_path / "a" / "b.bin", b"\x00\xffabc").read_bytes() == b"\x00\xffabc"
    fileio.atomic_write_text(tmp_path / "t.txt", "µ ± Δ 中文\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "µ ± Δ 中文\n"
    obj = {"loss": 0.5, "name": "β-lactam", "steps": [1, 2]}
    text = fileio.atomic_write_json(tmp_path / "s.json", obj).read_text(encoding="utf-8")
    assert json.loads(text) == obj and text.endswith("\n") and "β-lactam" in text  # not \u-escaped
    assert leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = fileio.atomic_write_text(tmp_path / "state.json", "old\n")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        fileio.atomic_write_text(path, "new\n")
    assert path.read_text() == "old\n"
    assert leftovers(tmp_path) == []


def test_an_interrupted_write_cleans_up_too(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fileio.atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_savez_loads_without_pickle_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"w": rng.standard_normal((3, 4)).astype(np.float32), "mask/w": rng.random((3, 4)) < 0.5,
              "adam/t": np.array(7, dtype=np.int64)}
    path = fileio.atomic_savez(tmp_path / "arrays.npz", arrays)
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(arrays)
        for k, v in arrays.items():
            assert npz[k].dtype == v.dtype and np.array_equal(npz[k], v)


def test_savez_refuses_arrays_that_need_pickle_and_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="'meta' has dtype object"):
        fileio.atomic_savez(tmp_path / "arrays.npz", {"w": np.ones(2), "meta": np.array([{"a": 1}], dtype=object)})
    assert list(tmp_path.iterdir()) == []
