"""Pre-training end to end: learning, the JSON contract, checkpoints that resume
bit-identically (also after SIGKILL), divergence handling and bad input."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mediswift_np import checkpoint
from mediswift_np.flops import audit as flop_audit
from mediswift_np.pretrain import PretrainConfig, train

SMALL = dict(steps=40, batch_size=8, seq_len=32, n_docs=300, merges=200, eval_batches=2, eval_every=20, lr=5e-3)


def run_cli(*args, check=True, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "mediswift_np.pretrain", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def cli_args(cfg: dict) -> list[str]:
    return [a for k, v in cfg.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def arrays_of(directory: Path) -> dict[str, np.ndarray]:
    return checkpoint.load(directory)[0]


def assert_same_run(a: Path, b: Path) -> None:
    (arr_a, st_a), (arr_b, st_b) = checkpoint.load(a), checkpoint.load(b)
    assert arr_a.keys() == arr_b.keys()
    for k in arr_a:
        assert np.array_equal(arr_a[k], arr_b[k]), k  # bitwise: weights, masks, AdamW moments, step
    assert st_a["train_losses"] == st_b["train_losses"]
    assert st_a["val_losses"] == st_b["val_losses"]
    assert st_a["data_rng"] == st_b["data_rng"] and st_a["flops_sparse_equivalent"] == st_b["flops_sparse_equivalent"]
    assert st_a["flops_executed"] == st_b["flops_executed"]


@pytest.mark.slow
def test_sparse_run_learns_and_reports(tmp_path):
    cfg = PretrainConfig(sparsity=0.5, **SMALL)
    s = train(cfg, tmp_path / "run", progress=False)
    assert s["final_loss"] < s["initial_loss"] - 1.0  # it learns
    assert abs(s["initial_loss"] - s["ln_vocab"]) < 0.1  # starts at ≈ ln V (see test_model)
    assert s["tokens"] == 40 * 8 * 32
    model_cfg = cfg.model_config(s["vocab_size"])
    # Hoffmann et al. App. F per token, written out for the tiny preset actually trained
    # (L = 4, d = 128, h = 4, d_ff = 4d; config.PRESETS) at S = 32, s = 0.5, V from the run:
    #   forward/token = 2Vd (embedding) + L [24 d² (1-s) (q,k,v,out,fc,proj) + 4 S d (KQᵀ, ·V) + 3 h S (softmax)] + 2dV
    #   training = 3 × forward, except the embedding lookup's backward is 1 × (paper convention)
    L, d, h, S, sp, V = 4, 128, 4, 32, 0.5, s["vocab_size"]
    assert (model_cfg.n_layer, model_cfg.n_embd, model_cfg.n_head, model_cfg.vocab_size) == (L, d, h, V)
    per_layer = 24 * d * d * (1 - sp) + 4 * S * d + 3 * h * S
    per_token = 2 * (2 * V * d) + 3 * (L * per_layer + 2 * d * V)  # = 10 V d + 3 L (...)
    assert s["flops_analytic"] == pytest.approx(per_token * 40 * 8 * 32, rel=1e-12)  # × tokens = steps × B × S
    model, tok, state = checkpoint.load_model(tmp_path / "run")
    masked = [p for p in model.parameters() if p.mask is not None]
    assert len(masked) == 4 * model_cfg.n_layer and all(np.all(p.data[~p.mask] == 0) for p in masked)
    assert tok.vocab_size == model.config.vocab_size == s["vocab_size"]
    # Table 1: 3% validation; Sec. 2.1: overall sparsity S = Σ s_l N_l / N
    assert s["overall_sparsity"] == pytest.approx(0.5 * 12 * 128**2 * 4 / s["params"])
    # active parameters: all of them but the pruned half of the 12 d² L block weights
    assert s["active_params_with_embeddings"] == s["params"] - 12 * d * d * L // 2
    # FLOPs of the six matrices per step, N = B·S = 256 rows, 12 d² weights per layer:
    # sparse-equivalent 3 products · 2 · nnz · N = 3·2·(6 d²)·N per layer; the dense path executes
    # 3 full GEMMs 3·2·(12 d²)·N plus W ⊙ m (12 d² multiplies) per layer. Everything else is the same.
    N, six = 8 * 32, 12 * d * d
    extra_executed = 40 * L * (3 * 2 * six * N + six - 3 * 2 * (six // 2) * N)
    assert s["flops_executed"] - s["flops_sparse_equivalent"] == extra_executed
    per_step = sum(f + b for f, b in flop_audit.expected_counts(model_cfg, 8, 32, 0.5).values())
    assert s["flops_sparse_equivalent"] == 40 * per_step  # every step's count, in closed form (flop_audit)


@pytest.mark.slow
def test_cli_json_contract(tmp_path):
    out = tmp_path / "cli"
    proc = run_cli("--tiny", "--json", "--quiet", "--out", str(out), *cli_args({**SMALL, "steps": 6}))
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("initial_loss", "final_loss", "steps", "tokens", "sparsity", "flops_analytic", "flops_sparse_equivalent",
                "flops_executed", "active_params_with_embeddings", "wall_seconds", "checkpoint"):
        assert key in summary
    assert summary["steps"] == 6 and summary["sparsity"] == 0.0 and Path(summary["checkpoint"]) == out
    assert math.isfinite(summary["final_loss"]) and summary["wall_seconds"] > 0


@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path):
    cfg = PretrainConfig(sparsity=0.75, **{**SMALL, "steps": 12, "eval_every": 4})
    train(cfg, tmp_path / "straight", progress=False)
    stopped = train(cfg, tmp_path / "split", progress=False, stop_after=6)
    assert stopped["stopped_at"] == 6 and checkpoint.load(tmp_path / "split")[1]["step"] == 6
    train(cfg, tmp_path / "split", resume=tmp_path / "split", progress=False)
    assert_same_run(tmp_path / "straight", tmp_path / "split")


def test_resume_notes_other_arithmetic_and_says_nothing_otherwise(tmp_path, monkeypatch, capsys):
    from mediswift_np.pretrain import __main__ as cli
    from mediswift_np.pretrain import resume

    cfg = PretrainConfig(**{**SMALL, "steps": 4, "eval_every": 0})
    train(cfg, tmp_path / "run", progress=False, stop_after=2)
    state = checkpoint.load(tmp_path / "run")[1]
    assert state["arithmetic"] == resume.arithmetic()  # recorded at the start: SIMD, BLAS, kernel, threads
    assert resume.rounding_note(state, tmp_path / "run") is None
    assert resume.rounding_note({k: v for k, v in state.items() if k != "arithmetic"}, tmp_path) is None  # not recorded: nothing to say

    other = {**state["arithmetic"], "blas_threads": "7"}
    monkeypatch.setattr(resume, "machine_info", lambda: {"cpu": "x", "cores": "7", **other})
    assert cli.main(["--resume", str(tmp_path / "run"), "--quiet", "--stop-after", "3"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"note: {tmp_path / 'run'} was started with other arithmetic (blas_threads {state['arithmetic']['blas_threads']} -> 7): "
                   "the run continues, but not bit-identically to an uninterrupted one"]  # fmt: skip
    assert checkpoint.load(tmp_path / "run")[1]["arithmetic"] == state["arithmetic"]  # the start's record is kept


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path):
    cfg = {**SMALL, "steps": 30, "save_every": 5, "sparsity": 0.5}
    run_cli("--quiet", "--out", str(tmp_path / "straight"), *cli_args(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediswift_np.pretrain", "--quiet", "--out", str(tmp_path / "killed"), *cli_args(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    state_file = tmp_path / "killed" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if state_file.is_file() and json.loads(state_file.read_text())["step"] >= 10:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint.load(tmp_path / "killed")[1]["step"]  # still a valid checkpoint
    assert 10 <= killed_at < 30, "the run must really have been interrupted"
    run_cli("--quiet", "--resume", str(tmp_path / "killed"))
    assert_same_run(tmp_path / "straight", tmp_path / "killed")


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    out = tmp_path / "diverge"
    proc = run_cli("--quiet", "--out", str(out), "--save-every", "1", *cli_args({**SMALL, "lr": 1e30, "steps": 20}), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: loss became nan at step 1; last good checkpoint (step 1) kept in {out} (try a lower --lr)\n"
    arrays, state = checkpoint.load(out)  # loads cleanly: the step-1 checkpoint the message names
    assert state["step"] == 1 and all(math.isfinite(v) for v in state["train_losses"])
    assert checkpoint.first_nonfinite(arrays) is None


@pytest.mark.slow
def test_one_diverging_step_writes_nothing_and_prints_one_error_line(tmp_path):
    """The update of the last step diverges: the final validation loss is NaN, so nothing is
    saved (no NaN checkpoint, no NaN in state.json) and --json prints no summary."""
    out = tmp_path / "diverge"
    proc = run_cli("--json", "--quiet", "--out", str(out), *cli_args({**SMALL, "lr": 1e30, "steps": 1}), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "error: validation loss became nan at step 1; no checkpoint was saved (try a lower --lr)\n"
    assert not out.exists()


def test_non_finite_weights_are_never_saved(tmp_path):
    """An update that overflows the weights to inf is caught before the save of that step."""
    from mediswift_np.pretrain import TrainingDiverged

    out = tmp_path / "diverge"
    with pytest.raises(TrainingDiverged) as err:
        train(PretrainConfig(**{**SMALL, "lr": 3e38, "steps": 20, "save_every": 1}), out, progress=False)
    assert str(err.value) == "transformer.wte.weight became NaN or infinite at step 1; no checkpoint was saved (try a lower --lr)"
    assert not out.exists()


@pytest.mark.slow
def test_the_sparse_backend_holds_only_for_its_run(tmp_path):
    """train(sparse_backend="scipy") puts the previous masked-matmul path back, also after an error."""
    from mediswift_np import sparse
    from mediswift_np.pretrain import TrainingDiverged

    half = sparse.SparseLayout(np.arange(16).reshape(4, 4) % 2 == 0)  # s = 0.5: auto chooses dense
    assert sparse.choose_backend(half) == "dense"
    train(PretrainConfig(sparsity=0.5, sparse_backend="scipy", **{**SMALL, "steps": 2}), tmp_path / "a", progress=False)
    assert sparse.choose_backend(half) == "dense" and sparse.switches.backend == "auto"
    with sparse.use_backend("dense"):
        with pytest.raises(TrainingDiverged):
            train(PretrainConfig(sparsity=0.5, sparse_backend="scipy", **{**SMALL, "lr": 1e30, "steps": 1}), tmp_path / "b", progress=False)
        assert sparse.switches.backend == "dense"
    assert sparse.switches.backend == "auto"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sparsity", "1.0"], "sparsity must be in [0, 1)"),
        (["--sparsity", "-0.5"], "sparsity must be in [0, 1)"),
        (["--n-head", "5"], "does not divide"),
        (["--model", "huge"], "unknown model preset"),
        (["--steps", "-1"], "--steps must be >= 0"),
        (["--corpus", "EMPTY"], "empty corpus"),
        (["--corpus", "MISSING"], "no such file"),
        (["--resume", "MISSING"], "no checkpoint"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("\n\n")
    args = [{"EMPTY": str(tmp_path / "empty.txt"), "MISSING": str(tmp_path / "nope")}.get(a, a) for a in args]
    out = tmp_path / "out"
    proc = run_cli("--quiet", "--out", str(out), *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and message in proc.stderr
    assert proc.stdout == "" and not out.exists()


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("saved") / "run"
    train(PretrainConfig(sparsity=0.5, **{**SMALL, "steps": 4}), out, progress=False)
    return out


def test_truncated_checkpoint_is_rejected(saved_run, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(saved_run, bad)
    array_file = bad / checkpoint.load(bad)[1]["array_file"]
    array_file.write_bytes(array_file.read_bytes()[:1000])
    proc = run_cli("--resume", str(bad), check=False)
    assert proc.returncode == 2 and "truncated or modified" in proc.stderr


def test_config_mismatch_on_resume_is_rejected(saved_run):
    proc = run_cli("--resume", str(saved_run), "--sparsity", "0.75", check=False)
    assert proc.returncode == 2 and "config mismatch on resume: --sparsity 0.75" in proc.stderr


@pytest.mark.parametrize("key", ["pretrain", "data_rng"])
def test_resume_names_a_key_missing_from_state_json(saved_run, tmp_path, key):
    import shutil

    bad = tmp_path / "no-key"
    shutil.copytree(saved_run, bad)
    state = json.loads((bad / "state.json").read_text())
    del state[key]  # the array file's SHA-256 still matches: only the manifest lost an entry (and was resealed)
    (bad / "state.json").write_text(json.dumps({**state, "state_sha256": checkpoint.state_sha256(state)}))
    before = sorted(p.name for p in bad.iterdir())
    proc = run_cli("--resume", str(bad), "--quiet", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: {bad / 'state.json'}: no {key!r} entry, so the run cannot be resumed\n"
    assert sorted(p.name for p in bad.iterdir()) == before  # nothing written


@pytest.mark.parametrize("hashed", [True, False])
def test_vocab_mismatch_is_rejected(saved_run, tmp_path, hashed):
    """A changed dict.txt: its hash in state.json names it; in an older checkpoint without
    tokenizer hashes, the vocabulary size check still catches it."""
    import shutil

    bad = tmp_path / "vocab"
    shutil.copytree(saved_run, bad)
    dict_txt = bad / "tokenizer" / "dict.txt"
    dict_txt.write_text(dict_txt.read_text() + "zzzextra 0\n")
    if not hashed:  # a checkpoint older than the tokenizer and state hashes
        state = json.loads((bad / "state.json").read_text())
        del state["tokenizer_sha256"], state["state_sha256"]
        (bad / "state.json").write_text(json.dumps(state))
    vocab = checkpoint.model_config(checkpoint.load(bad)[1]).vocab_size
    message = (f"{dict_txt}: modified since the checkpoint was saved (SHA-256 does not match state.json)" if hashed
               else f"checkpoint {bad}: tokenizer has {vocab + 1} entries, model vocab_size is {vocab}")  # fmt: skip
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load_model(bad)
    assert str(err.value) == message
    proc = run_cli("--resume", str(bad), "--quiet", check=False)
    assert proc.returncode == 2 and proc.stderr == f"error: {message}\n"


@pytest.mark.slow
def test_paper_preset_builds_and_takes_a_step():
    """`--model med` is slow in NumPy but the same code: build its blocks and take one step."""
    from mediswift_np.config import PRESETS
    from mediswift_np.model import GPT
    from mediswift_np.optim import AdamW

    # Med's width, heads and context; 2 of its 24 identical blocks and a small vocabulary keep
    # memory and time modest (each block is built by the same code, so 2 check the shapes of all)
    cfg = PRESETS["med"].with_(vocab_size=500, n_layer=2)
    model = GPT(cfg)
    assert model.num_parameters() == cfg.n_params()
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 500, (1, 16)), rng.integers(0, 500, (1, 16))
    _, loss = model(x, y)
    loss.backward()
    opt = AdamW(model.named_parameters())
    opt.clip_grad_norm()
    opt.step(2e-4)
    assert abs(loss.item() - (math.log(500) + 0.5 * 1024 * 0.02**2)) < 0.3  # ln V + σ²/2, see test_model
    assert all(np.isfinite(p.data).all() for p in model.parameters())


@pytest.mark.slow
def test_overwrite_replaces_another_run_only_when_asked(saved_run, tmp_path, capsys):
    """Without --overwrite an --out holding a run is refused before any work; with it, the new run replaces it."""
    import shutil

    from mediswift_np.errors import run_cli as run_main
    from mediswift_np.pretrain.__main__ import main

    out = tmp_path / "busy"
    shutil.copytree(saved_run, out)
    argv = ["--quiet", "--json", "--out", str(out), *cli_args({**SMALL, "steps": 2, "n_layer": 1, "n_embd": 32, "n_head": 2})]
    with pytest.raises(SystemExit) as exit_:
        run_main(main, argv)
    assert exit_.value.code == 2 and "already holds a pretrain checkpoint at step 4" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run_main(main, argv + ["--overwrite"])
    assert exit_.value.code == 0 and json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 2
    state = checkpoint.load(out)[1]
    assert state["step"] == 2 and state["array_file"] == "arrays-000002.npz"
    assert sorted(p.name for p in out.iterdir()) == ["arrays-000002.npz", "state.json", "tokenizer"]  # the old array file is gone


def test_the_memory_lower_bound_in_closed_form():
    """Med (Table 5: L 24, d 1024, 16 heads) with the 4 special tokens as vocabulary, 8 windows of 1024 tokens:
    training keeps 4 float32 copies of the parameters, 2 of the logits and, per block and token, the inputs of
    its four linear layers (7d) and the attention probabilities (nh·T); --steps 0 keeps weights and moments only."""
    from mediswift_np.errors import UserError
    from mediswift_np.pretrain import check_memory

    L, d, nh, V, B, T = 24, 1024, 16, 4, 8, 1024
    n = L * (12 * d * d + 13 * d) + 2 * d + V * d + T * d  # blocks and final LayerNorm (Table 5: 302.3M), wte, wpe
    train_cfg = PretrainConfig(model="med", lr=2e-4).validate()
    assert train_cfg.memory_bytes(V) == 4 * (4 * n + 2 * B * T * V + L * B * T * (7 * d + nh * T))
    init_only = PretrainConfig(model="med", lr=2e-4, steps=0).validate()
    assert init_only.memory_bytes(V) == 4 * (3 * n + B * T * V)
    check_memory(init_only, V, available=8 * 10**9)  # 3.6 GB: fits
    with pytest.raises(UserError, match=r"^the model needs at least 23\.4 GB of memory \(303,364,096 parameters"):
        check_memory(train_cfg, V, available=8 * 10**9)
