"""The training state of an export (optimizer.safetensors + training_state.json): what it
holds, checked against the checkpoint and App. A.1's schedule; export -> import gives the
checkpoint back bit for bit and ``pretrain --resume`` continues it exactly as the original;
missing, truncated or mismatched files are refused with one line and exit status 2."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mediswift_np import checkpoint
from mediswift_np.interop import export_hf, import_hf_checkpoint, load_hf, load_safetensors, save_safetensors
from mediswift_np.interop.token_stream import load_token_stream, tokenizer_sha256
from mediswift_np.interop.training_state import MANIFEST_KEYS
from mediswift_np.pretrain import PretrainConfig, train

CFG = PretrainConfig(sparsity=0.75, steps=30, batch_size=8, seq_len=32, n_docs=200, merges=300, n_layer=2, n_embd=64, n_head=4, eval_every=0)
STOP = 10  # the checkpoint is saved after 10 of the 30 planned steps


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 75%-sparse checkpoint at step 10 of 30 and its export."""
    root = tmp_path_factory.mktemp("training-state")
    train(CFG, root / "ckpt", progress=False, stop_after=STOP)
    summary = export_hf(root / "ckpt", root / "hf")
    return root, summary


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mediswift_np.interop", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_export_holds_the_moments_the_state_and_the_schedule_position(run):
    root, summary = run
    assert summary["training_state_step"] == STOP and {"optimizer.safetensors", "training_state.json"} <= set(summary["files"])
    arrays, state = checkpoint.load(root / "ckpt")
    moments, meta = load_safetensors(root / "hf" / "optimizer.safetensors")
    assert set(moments) == {k.removeprefix("adam/") for k in arrays if k.startswith("adam/")}  # m/<name>, v/<name>, t
    for key, a in moments.items():
        assert a.dtype == arrays["adam/" + key].dtype and a.tobytes() == arrays["adam/" + key].tobytes(), key
    assert moments["t"].shape == () and int(moments["t"]) == STOP
    side = json.loads((root / "hf" / "training_state.json").read_text(encoding="utf-8"))
    assert side["state"] == {k: v for k, v in state.items() if k not in MANIFEST_KEYS}  # RNG states, losses, config: all of it
    for name, sha256 in side["sha256"].items():
        assert hashlib.sha256((root / "hf" / name).read_bytes()).hexdigest() == sha256
    assert set(side["sha256"]) == {"model.safetensors", "sparsity_masks.safetensors", "optimizer.safetensors"}
    # App. A.1: warmup W = 10% of 30 = 3 steps, then cosine from the peak (s = W) to 10% of it (s = N - 1)
    peak, W, N = CFG.lr, 3, CFG.steps
    expected = 0.1 * peak + 0.5 * (peak - 0.1 * peak) * (1 + math.cos(math.pi * (STOP - W) / (N - 1 - W)))
    assert side["schedule"]["next_lr"] == pytest.approx(expected, rel=1e-12)
    assert (side["schedule"]["step"], side["schedule"]["total_steps"], side["schedule"]["peak_lr"]) == (STOP, N, peak)
    adamw = side["adamw"]
    assert (adamw["beta1"], adamw["beta2"], adamw["eps"], adamw["weight_decay"], adamw["grad_clip"]) == (0.9, 0.95, 1e-8, 0.1, 1.0)
    matrices = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    assert adamw["decay"] == [f"transformer.h.{i}.{m}" for i in range(2) for m in matrices]  # no embeddings, biases, LayerNorms


def test_round_trip_is_bit_identical_and_resumes_like_the_original(run, tmp_path):
    root, _ = run
    back = import_hf_checkpoint(root / "hf", tmp_path / "back")
    assert (back["kind"], back["step"]) == ("pretrain", STOP)
    (a, sa), (b, sb) = checkpoint.load(root / "ckpt"), checkpoint.load(tmp_path / "back")
    assert a.keys() == b.keys()  # weights, mask/<name>, adam/m/<name>, adam/v/<name>, adam/t
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), name
    drop = set(MANIFEST_KEYS) | {"source"}
    assert {k: v for k, v in sa.items() if k not in drop} == {k: v for k, v in sb.items() if k not in drop}
    assert checkpoint.load_tokenizer(tmp_path / "back").id_to_token == checkpoint.load_tokenizer(root / "ckpt").id_to_token

    shutil.copytree(root / "ckpt", tmp_path / "orig")  # resume both to the end of the plan
    train(CFG, tmp_path / "orig", resume=tmp_path / "orig", progress=False)
    train(CFG, tmp_path / "back", resume=tmp_path / "back", progress=False)
    (a, sa), (b, sb) = checkpoint.load(tmp_path / "orig"), checkpoint.load(tmp_path / "back")
    assert sa["step"] == sb["step"] == CFG.steps and sa["train_losses"] == sb["train_losses"]
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name


def test_an_export_without_a_training_state_stays_as_before(run, tmp_path):
    root, _ = run
    cli("import", "--hf", root / "hf", "--out", tmp_path / "c")
    arrays, state = checkpoint.load(tmp_path / "c")
    dense = {k: v for k, v in arrays.items() if not k.startswith("adam/")}  # weights and masks, no optimizer
    checkpoint.save(tmp_path / "w", dense, {"step": 0, "kind": "imported", "model": state["model"]}, checkpoint.load_tokenizer(tmp_path / "c"))
    shutil.copytree(root / "hf", tmp_path / "hf")
    summary = export_hf(tmp_path / "w", tmp_path / "hf")  # over a previous export holding a training state
    assert summary["training_state_step"] is None
    assert not (tmp_path / "hf" / "optimizer.safetensors").exists() and not (tmp_path / "hf" / "training_state.json").exists()
    assert import_hf_checkpoint(tmp_path / "hf", tmp_path / "again")["kind"] == "imported"


def test_train_tokens_file(run, tmp_path):
    root, _ = run
    proc = cli("export", "--ckpt", root / "ckpt", "--out", tmp_path / "hf", "--train-tokens", tmp_path / "train.npy", "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    tokens = np.load(tmp_path / "train.npy", allow_pickle=False)
    assert tokens.dtype == np.int32 and tokens.ndim == 1 and json.loads(proc.stdout.splitlines()[-1])["train_tokens"] == len(tokens)
    assert tokens[-1] == 2  # the split ends just after a </s> (data/pipeline.py)
    vocab = checkpoint.load_model(root / "ckpt")[0].config.vocab_size
    assert 0 <= tokens.min() and tokens.max() < vocab
    side = json.loads((tmp_path / "train.npy.json").read_text())  # the stream's tokenizer: the same hash from both sides
    assert side["tokens"] == len(tokens) and side["sha256"] == hashlib.sha256((tmp_path / "train.npy").read_bytes()).hexdigest()
    assert side["tokenizer_sha256"] == tokenizer_sha256(checkpoint.load_tokenizer(root / "ckpt")) == tokenizer_sha256(load_hf(tmp_path / "hf").tokenizer)
    assert np.array_equal(load_token_stream(tmp_path / "train.npy", load_hf(tmp_path / "hf").tokenizer), tokens)


def assert_refused(proc, message, out):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def broken_copy(run, tmp_path, name):
    root, _ = run
    d = tmp_path / name
    shutil.copytree(root / "hf", d)
    return d


def rehash(d):
    """Make training_state.json vouch for the files as they are now (a consistent but wrong export)."""
    side = json.loads((d / "training_state.json").read_text(encoding="utf-8"))
    side["sha256"] = {n: hashlib.sha256((d / n).read_bytes()).hexdigest() for n in side["sha256"]}
    (d / "training_state.json").write_text(json.dumps(side), encoding="utf-8")


@pytest.mark.slow
def test_missing_corrupt_or_mismatched_training_state_exits_2(run, tmp_path):
    root, _ = run
    d = broken_copy(run, tmp_path, "no-opt")
    (d / "optimizer.safetensors").unlink()
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o1"), "training_state.json without optimizer.safetensors", tmp_path / "o1")

    d = broken_copy(run, tmp_path, "no-side")
    (d / "training_state.json").unlink()
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o2"), "optimizer.safetensors without training_state.json", tmp_path / "o2")

    d = broken_copy(run, tmp_path, "truncated")
    (d / "optimizer.safetensors").write_bytes((d / "optimizer.safetensors").read_bytes()[:5000])
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o3"), "optimizer.safetensors: truncated or modified", tmp_path / "o3")
    rehash(d)  # the hash fixed, the file still cut short
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o4"), "not a valid safetensors file", tmp_path / "o4")

    d = broken_copy(run, tmp_path, "bad-json")
    (d / "training_state.json").write_text('{"format": ', encoding="utf-8")
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o5"), "not valid JSON", tmp_path / "o5")

    d = broken_copy(run, tmp_path, "new-weights")  # weights changed after the export, old moments beside them
    weights, meta = load_safetensors(d / "model.safetensors")
    weights["transformer.ln_f.bias"] = weights["transformer.ln_f.bias"] + 1.0
    save_safetensors(d / "model.safetensors", weights, meta)
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o6"), "model.safetensors: truncated or modified", tmp_path / "o6")

    d = broken_copy(run, tmp_path, "revived-moment")  # a nonzero moment at a pruned weight
    moments, meta = load_safetensors(d / "optimizer.safetensors")
    masks, _ = load_safetensors(d / "sparsity_masks.safetensors")
    name = "transformer.h.0.mlp.c_fc.weight"
    moments[f"v/{name}"] = np.where(masks[name], moments[f"v/{name}"], np.float32(1e-6))
    save_safetensors(d / "optimizer.safetensors", moments, meta)
    rehash(d)
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o7"), f"v/{name} is not 0 at pruned weights", tmp_path / "o7")

    d = broken_copy(run, tmp_path, "missing-moment")
    moments, meta = load_safetensors(d / "optimizer.safetensors")
    del moments["m/transformer.wpe.weight"]
    save_safetensors(d / "optimizer.safetensors", moments, meta)
    rehash(d)
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o8"), "missing m/transformer.wpe.weight", tmp_path / "o8")

    d = broken_copy(run, tmp_path, "edited-schedule")
    side = json.loads((d / "training_state.json").read_text(encoding="utf-8"))
    side["schedule"]["total_steps"] = 60
    (d / "training_state.json").write_text(json.dumps(side), encoding="utf-8")
    assert_refused(cli("import", "--hf", d, "--out", tmp_path / "o9"), "does not follow from 'state'", tmp_path / "o9")

    proc = cli("export", "--ckpt", root / "ckpt", "--out", tmp_path / "o10", "--train-tokens", tmp_path / "t.txt")
    assert_refused(proc, "ending in .npy", tmp_path / "o10")
