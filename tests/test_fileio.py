"""mediswift_np.fileio: a file appears complete or not at all."""

import json
import os

import numpy as np
import pytest

from mediswift_np import fileio
from mediswift_np.errors import UserError


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


def test_an_output_directory_must_be_empty_unless_overwrite_or_the_run_resumed(tmp_path):
    assert fileio.check_output_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"  # not there yet: fine, nothing created
    assert not (tmp_path / "new").exists()
    run = tmp_path / "run"
    run.mkdir()
    (run / ".state.json.tmp-x1y2").write_text("")  # an interrupted atomic write's leftover does not count
    fileio.check_output_dir(run)
    (run / "state.json").write_text(json.dumps({"kind": "pretrain", "step": 40}))
    with pytest.raises(UserError) as err:
        fileio.check_output_dir(run)
    assert str(err.value) == f"{run} already holds a pretrain checkpoint at step 40 (state.json); pass --overwrite to replace it, or choose another --out"
    fileio.check_output_dir(run, overwrite=True)
    fileio.check_output_dir(run, resuming=run)  # the run being continued
    os.symlink(run, tmp_path / "link")
    fileio.check_output_dir(tmp_path / "link", resuming=run)  # the same directory by another name


def test_describe_contents_names_what_is_there(tmp_path):
    for name in ("config.json", "model.safetensors", "vocab.json", "merges.txt"):
        (tmp_path / "hf" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "hf" / name).write_text("{}")
    assert fileio.describe_contents(tmp_path / "hf") == "a Hugging Face export (config.json, merges.txt, model.safetensors and 1 more)"
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "bpecodes").write_text("")
    (tmp_path / "tok" / "dict.txt").write_text("")
    assert fileio.describe_contents(tmp_path / "tok") == "a tokenizer (bpecodes, dict.txt)"


def test_writing_into_removes_what_a_failed_block_added(tmp_path):
    with pytest.raises(UserError) as err, fileio.writing_into(tmp_path / "a" / "b") as out:
        fileio.atomic_write_text(out / "one.txt", "1")
        raise OSError(28, "No space left on device", str(out / "two.txt"))
    assert str(err.value) == f"cannot write {tmp_path / 'a' / 'b' / 'two.txt'}: No space left on device; nothing was left behind"
    assert list(tmp_path.iterdir()) == []  # the folders the block created are gone
    (tmp_path / "kept.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt), fileio.writing_into(tmp_path) as out:
        fileio.atomic_write_text(out / "new.txt", "1")
        raise KeyboardInterrupt  # not an OS error: re-raised as it is, after the cleanup
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]


def test_docstring_examples():
    import doctest

    assert doctest.testmod(fileio).failed == 0
