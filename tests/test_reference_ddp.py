"""The same recipe on PyTorch DDP: reference/train_ddp.py under ``torchrun --nproc_per_node 2``
(gloo, CPU) against our NumPy engine in one process, step for step, on a 75%-sparse tiny
model; a NumPy checkpoint continued in PyTorch and brought back; bad input refused.

Tolerances. Both engines compute in float32 and differ only in the order of their sums
(BLAS kernels, the all-reduce of two half-batch gradients, AdamW's √v / √(1-β2^t) against
our √(v / (1-β2^t))). Each such step rounds to within a few float32 ulps, and over 20
steps the weights stay within ~2e-6 of each other (measured), which moves a loss of ~6 by
~1e-6 at most. So every loss must agree to 16 ulps of float32 at its value (7.6e-6 at 6.0;
measured: at most 2 ulps, 9.5e-7) and every weight to 1e-5 absolute -- two hundred times
below one step's update (lr 2e-3; measured: 1.8e-6).
A recipe changed in one detail (no weight decay, the peak lr 1% higher, a plan one step
longer, no clipping) moves the weights by more than ten times that after 20 steps
(test_the_tolerances_catch_a_changed_recipe).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from conftest import REPO_ROOT  # noqa: E402
from mediswift_np import checkpoint  # noqa: E402
from mediswift_np.errors import run_cli  # noqa: E402
from mediswift_np.interop.token_stream import save_token_stream  # noqa: E402
from mediswift_np.pretrain import PretrainConfig, load_texts, train  # noqa: E402
from mediswift_np.tokenizer import Tokenizer  # noqa: E402

N_STEPS = 30  # the plan; the torch run covers steps 0..19 (test 1) and 10..19 (test 2)
CFG = PretrainConfig(sparsity=0.75, steps=N_STEPS, batch_size=8, seq_len=32, n_docs=200, merges=300, n_layer=2, n_embd=64, n_head=4, eval_every=0)
TRAINER = REPO_ROOT / "reference" / "train_ddp.py"
LOSS_ULPS = 16
WEIGHT_ATOL = 1e-5


def env():
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def run(args, cwd, check=True, timeout=300):
    """A subprocess in its own process group, killed whole (torchrun's workers too) on timeout."""
    with subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=cwd, env=env(), start_new_session=True) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    if check and proc.returncode != 0:
        raise AssertionError(err[-3000:])
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def torchrun(cwd, *args):
    """reference/train_ddp.py in 2 processes (gloo, CPU); its --json summary."""
    proc = run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", TRAINER, "--device", "cpu", "--json", *args], cwd)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_losses_agree(ours, theirs):
    ours, theirs = np.asarray(ours, np.float32), np.asarray(theirs, np.float32)
    assert len(ours) == len(theirs) >= 10
    diff = np.abs(ours.astype(np.float64) - theirs)
    assert (diff <= LOSS_ULPS * np.spacing(ours)).all(), f"max |loss diff| {diff.max():.3g} at step {diff.argmax()}"
    return diff


@pytest.fixture(scope="module")
def numpy_runs(tmp_path_factory):
    """Our engine: the whole plan, the state at step 20, and the starting points at steps 0 and 10."""
    root = tmp_path_factory.mktemp("ddp")
    train(CFG, root / "full", progress=False)
    train(CFG, root / "at20", progress=False, stop_after=20)
    train(CFG, root / "at10", progress=False, stop_after=10)
    train(PretrainConfig(**{**CFG.__dict__, "steps": 0}), root / "at0", progress=False)  # the initialised model, no step
    for start in ("at0", "at10"):
        run(["-m", "mediswift_np.interop", "export", "--ckpt", root / start, "--out", root / f"hf-{start}", "--train-tokens", root / "train.npy", "--quiet"], root)
    return root


@pytest.mark.slow
def test_torchrun_two_processes_match_numpy_step_for_step(numpy_runs):
    root = numpy_runs
    summary = torchrun(root, "--export", root / "hf-at0", "--tokens", root / "train.npy", "--out", root / "torch20", "--steps", N_STEPS, "--stop-after", 20)
    assert (summary["world_size"], summary["start_step"], summary["step"]) == (2, 0, 20)
    full = checkpoint.load(root / "full")[1]
    diff = assert_losses_agree(full["train_losses"][:20], summary["losses"])  # K = 20 steps, every one
    print(f"20 steps, max |loss diff| {diff.max():.3g}")

    weights = safetensors_numpy.load_file(str(root / "torch20" / "model.safetensors"))  # read by the reference reader
    masks = safetensors_numpy.load_file(str(root / "torch20" / "sparsity_masks.safetensors"))
    ours, state = checkpoint.load(root / "at20")
    assert len(masks) == 2 * 4
    for name, kept in masks.items():
        assert kept.dtype == np.bool_ and np.array_equal(kept, ours[f"mask/{name}"]), name  # masks agree, bit for bit
        assert not weights[name][~kept].any() and not ours[name][~kept].any(), name  # pruned weights exactly 0, both sides
        assert 0.24 < kept.mean() < 0.26
    for name, w in weights.items():
        np.testing.assert_allclose(w, ours[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)
    moments = safetensors_numpy.load_file(str(root / "torch20" / "optimizer.safetensors"))  # torch's exp_avg, exp_avg_sq
    assert int(moments["t"]) == int(ours["adam/t"]) == 20
    for name in weights:  # measured: m within 3e-8, v within 2e-9 (|v| <= 2e-3)
        np.testing.assert_allclose(moments[f"m/{name}"], ours[f"adam/m/{name}"], rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(moments[f"v/{name}"], ours[f"adam/v/{name}"], rtol=0, atol=2e-8, err_msg=name)
    side = json.loads((root / "torch20" / "training_state.json").read_text(encoding="utf-8"))["state"]
    assert side["step"] == 20 and side["data_rng"] == state["data_rng"]  # the same 20 batches were drawn
    assert side["reference"]["world_size"] == 2


@pytest.mark.slow
def test_numpy_checkpoint_continues_in_pytorch_and_comes_back(numpy_runs, tmp_path):
    root = numpy_runs
    torchrun(tmp_path, "--export", root / "hf-at10", "--tokens", root / "train.npy", "--out", tmp_path / "torch", "--stop-after", 20)
    run(["-m", "mediswift_np.interop", "import", "--hf", tmp_path / "torch", "--out", tmp_path / "back", "--quiet"], tmp_path)
    arrays, state = checkpoint.load(tmp_path / "back")
    start = checkpoint.load(root / "at10")[0]
    assert (state["kind"], state["step"], int(arrays["adam/t"])) == ("pretrain", 20, 20)  # the step advanced
    for name in (k for k in start if k.startswith("mask/")):
        assert arrays[name].tobytes() == start[name].tobytes(), name  # masks intact
        weight = name.removeprefix("mask/")
        assert not arrays[weight][~arrays[name]].any() and not arrays[f"adam/v/{weight}"][~arrays[name]].any()

    proc = run(["-m", "mediswift_np.pretrain", "--resume", tmp_path / "back", "--json", "--quiet"], tmp_path)  # NumPy again
    assert json.loads(proc.stdout.strip().splitlines()[-1])["steps"] == N_STEPS
    final, state = checkpoint.load(tmp_path / "back")
    full, full_state = checkpoint.load(root / "full")
    assert state["step"] == N_STEPS and state["train_losses"][:10] == full_state["train_losses"][:10]  # NumPy's own, kept
    diff = assert_losses_agree(full_state["train_losses"][10:], state["train_losses"][10:])  # 10 in torch, 10 in NumPy
    print(f"steps 10..29 (torch, then NumPy), max |loss diff| {diff.max():.3g}")
    for name, w in final.items():
        if name.startswith("mask/"):
            assert np.array_equal(w, full[name])
        elif "/" not in name:
            np.testing.assert_allclose(w, full[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)


@pytest.mark.parametrize("change", [dict(weight_decay=0.0), dict(lr=CFG.lr * 1.01), dict(steps=N_STEPS + 1), dict(grad_clip=float("inf"))],
                         ids=["no-weight-decay", "lr+1%", "plan+1-step", "no-clipping"])  # fmt: skip
def test_the_tolerances_catch_a_changed_recipe(numpy_runs, tmp_path, change):
    """Our own engine with one detail of the recipe changed lands far outside the tolerances at step 20."""
    train(dataclasses.replace(CFG, **change), tmp_path / "other", progress=False, stop_after=20)
    (ours, state), (other, other_state) = checkpoint.load(numpy_runs / "at20"), checkpoint.load(tmp_path / "other")
    weight_diff = max(float(np.abs(other[n] - ours[n]).max()) for n in ours if "/" not in n)
    loss = np.asarray(state["train_losses"], np.float32)
    loss_diff = np.abs(np.asarray(other_state["train_losses"], np.float64) - loss) / (LOSS_ULPS * np.spacing(loss))
    print(f"{change}: max weight diff {weight_diff:.2g}, max loss diff {loss_diff.max():.1f} x the tolerance")
    assert weight_diff > 10 * WEIGHT_ATOL


def trainer_module():
    spec = importlib.util.spec_from_file_location("train_ddp", TRAINER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_trainer_refuses_bad_input(numpy_runs, tmp_path, capsys):
    root, trainer = numpy_runs, trainer_module()

    def refused(message, *args):
        with pytest.raises(SystemExit) as exit_status:
            run_cli(trainer.main, ["--device", "cpu", *map(str, args)])  # what `python reference/train_ddp.py ...` runs
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_status.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert not (tmp_path / "out").exists()  # nothing written

    run(["-m", "mediswift_np.interop", "import", "--hf", root / "hf-at10", "--out", tmp_path / "c", "--quiet"], tmp_path)
    arrays, state = checkpoint.load(tmp_path / "c")
    weights_only = {k: v for k, v in arrays.items() if not k.startswith("adam/")}
    checkpoint.save(tmp_path / "w", weights_only, {"step": 0, "kind": "imported", "model": state["model"]}, checkpoint.load_tokenizer(tmp_path / "c"))
    run(["-m", "mediswift_np.interop", "export", "--ckpt", tmp_path / "w", "--out", tmp_path / "hf-w", "--quiet"], tmp_path)
    tokens = ("--tokens", root / "train.npy", "--out", tmp_path / "out")
    refused("no training state", "--export", tmp_path / "hf-w", *tokens)
    refused("the schedule depends on it", "--export", root / "hf-at10", *tokens, "--steps", 40)
    refused("planned with 8", "--export", root / "hf-at10", *tokens, "--batch-size", 16)
    refused("nothing to do", "--export", root / "hf-at10", *tokens, "--stop-after", 10)
    tokenizer = checkpoint.load_tokenizer(tmp_path / "c")
    np.save(tmp_path / "bare.npy", np.load(root / "train.npy"))  # the right ids, but no record of their tokenizer
    refused("no bare.npy.json beside it", "--export", root / "hf-at10", "--tokens", tmp_path / "bare.npy", "--out", tmp_path / "out")
    save_token_stream(tmp_path / "big.npy", np.full(100, 10**6, dtype=np.int32), tokenizer)
    refused("token ids in 0..", "--export", root / "hf-at10", "--tokens", tmp_path / "big.npy", "--out", tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x", encoding="utf-8")
    refused("busy already holds notes.txt; pass --overwrite", "--export", root / "hf-at10", "--tokens", root / "train.npy", "--out", tmp_path / "busy")
    other = Tokenizer.train(load_texts(dataclasses.replace(CFG, merges=100)), 100, progress=False)  # pretrain --merges 100
    save_token_stream(tmp_path / "other.npy", np.load(root / "train.npy") % other.vocab_size, other)
    refused("made with another tokenizer than the export's", "--export", root / "hf-at10", "--tokens", tmp_path / "other.npy", "--out", tmp_path / "out")

    proc = run([TRAINER, "--export", root / "hf-at10", "--out", tmp_path / "out"], tmp_path, check=False)  # the real command line
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == ["error: the following arguments are required: --tokens (see reference/train_ddp.py --help)"]
