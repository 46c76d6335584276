"""``python -m mediswift_np.interop export|import``: the command line, the JSON contract,
one-line errors with exit status 2 for bad or mismatched files, and outputs never overwritten."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mediswift_np import checkpoint
from mediswift_np.interop import load_safetensors
from mediswift_np.pretrain import PretrainConfig, train
from mediswift_np.tokenizer import Tokenizer


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "mediswift_np.interop", *map(str, args)], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def last_json(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_one_line_error(proc, message):
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    cfg = PretrainConfig(sparsity=0.75, steps=3, batch_size=4, seq_len=16, n_docs=120, merges=150, n_layer=1, n_embd=32, n_head=2)
    train(cfg, root / "ckpt", progress=False)
    return root / "ckpt"


@pytest.mark.slow
def test_help():
    assert "export" in run("--help").stdout and "import" in run("--help").stdout
    proc = run("export", "--help")
    assert "--ckpt" in proc.stdout and "--train-tokens" in proc.stdout and "--overwrite" in proc.stdout
    assert "--hf" in run("import", "--help").stdout


@pytest.mark.slow
def test_export_then_import_round_trip(ckpt, tmp_path):
    summary = last_json(run("export", "--ckpt", ckpt, "--out", tmp_path / "hf", "--json", "--quiet"))
    assert summary["direction"] == "export" and summary["format"] == "hf" and summary["kind"] == "pretrain"
    assert {"config.json", "model.safetensors", "sparsity_masks.safetensors", "vocab.json", "merges.txt"} <= set(summary["files"])
    arrays, _ = checkpoint.load(ckpt)
    masks = {k: v for k, v in arrays.items() if k.startswith("mask/")}
    assert summary["masked_tensors"] == len(masks) == 4
    assert summary["pruned_weights"] == sum(int((~m).sum()) for m in masks.values())
    assert summary["vocab_size"] == summary["hf_vocab_size"] == arrays["transformer.wte.weight"].shape[0]

    back = last_json(run("import", "--hf", tmp_path / "hf", "--out", tmp_path / "ckpt2", "--json"))
    assert back["direction"] == "import" and back["masked_tensors"] == 4 and back["pruned_weights"] == summary["pruned_weights"]
    arrays2, state2 = checkpoint.load(tmp_path / "ckpt2")
    assert (state2["kind"], back["kind"], back["step"]) == ("pretrain", "pretrain", 3)  # with its training state
    assert arrays2.keys() == arrays.keys()
    for name, a in arrays.items():  # weights, masks and AdamW moments come back bit for bit
        assert arrays2[name].tobytes() == a.tobytes(), name
    model, tok, _ = checkpoint.load_model(tmp_path / "ckpt2")
    assert tok.id_to_token == checkpoint.load_tokenizer(ckpt).id_to_token

    run("export", "--ckpt", tmp_path / "ckpt2", "--out", tmp_path / "hf2", "--quiet")  # export(import(export(x))) == export(x)
    for name in ("model.safetensors", "sparsity_masks.safetensors", "optimizer.safetensors", "vocab.json", "merges.txt", "config.json"):
        assert (tmp_path / "hf2" / name).read_bytes() == (tmp_path / "hf" / name).read_bytes(), name


@pytest.mark.slow
def test_soft_prompt_through_the_cli(ckpt, tmp_path):
    arrays, state = checkpoint.load(ckpt)
    dense = {k: v for k, v in arrays.items() if "/" not in k}
    dense["prompt/embeddings"] = np.random.default_rng(0).standard_normal((9, 32)).astype(np.float32)  # n = 9 (PubMedQA)
    checkpoint.save(tmp_path / "ft", dense, {"step": 1, "kind": "finetune", "model": state["model"]}, checkpoint.load_tokenizer(ckpt))
    summary = last_json(run("export", "--ckpt", tmp_path / "ft", "--out", tmp_path / "hf", "--json", "--quiet"))
    assert summary["prompt_tokens"] == 9 and summary["hf_vocab_size"] == summary["vocab_size"] + 9
    run("import", "--hf", tmp_path / "hf", "--out", tmp_path / "back")
    back, _ = checkpoint.load(tmp_path / "back")
    assert back["prompt/embeddings"].tobytes() == dense["prompt/embeddings"].tobytes()


@pytest.mark.slow
def test_bad_and_mismatched_files_exit_2(ckpt, tmp_path):
    assert_one_line_error(run("export", "--ckpt", tmp_path / "missing", "--out", tmp_path / "o", check=False), "no checkpoint in")
    run("export", "--ckpt", ckpt, "--out", tmp_path / "hf", "--quiet")

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x", encoding="utf-8")
    assert_one_line_error(run("export", "--ckpt", ckpt, "--out", tmp_path / "busy", check=False),
                          f"{tmp_path / 'busy'} already holds keep.txt; pass --overwrite to replace it, or choose another --out")
    assert_one_line_error(run("export", "--ckpt", ckpt, "--out", tmp_path / "busy", "--overwrite", check=False), "not a previous export")
    assert_one_line_error(run("export", "--ckpt", ckpt, "--out", tmp_path / "hf", check=False),
                          f"{tmp_path / 'hf'} already holds a Hugging Face export (config.json, dict.txt, merges.txt and 6 more)")
    run("export", "--ckpt", ckpt, "--out", tmp_path / "hf", "--overwrite", "--quiet")  # a previous export, replaced on request

    run("import", "--hf", tmp_path / "hf", "--out", tmp_path / "c1")
    assert_one_line_error(run("import", "--hf", tmp_path / "hf", "--out", tmp_path / "c1", check=False), "already holds a pretrain checkpoint at step 3")

    bad = tmp_path / "truncated"
    shutil.copytree(tmp_path / "hf", bad)
    (bad / "model.safetensors").write_bytes((bad / "model.safetensors").read_bytes()[:1000])
    assert_one_line_error(run("import", "--hf", bad, "--out", tmp_path / "c2", check=False), "not a valid safetensors file")
    assert not (tmp_path / "c2" / "state.json").exists()  # nothing half-written

    other = tmp_path / "other-vocab"
    shutil.copytree(tmp_path / "hf", other)
    Tokenizer.train(["A different corpus entirely."] * 3, 5, progress=False).save(tmp_path / "tok")
    from mediswift_np.interop import write_hf_tokenizer

    write_hf_tokenizer(Tokenizer.load(tmp_path / "tok"), other)
    assert_one_line_error(run("import", "--hf", other, "--out", tmp_path / "c3", check=False), "vocab.json")

    shutil.copytree(tmp_path / "hf", tmp_path / "no-tok")
    (tmp_path / "no-tok" / "vocab.json").unlink()
    assert_one_line_error(run("import", "--hf", tmp_path / "no-tok", "--out", tmp_path / "c4", check=False), "needs its tokenizer")

    assert load_safetensors(tmp_path / "hf" / "model.safetensors")  # the good export was never touched
    proc = run("export", "--ckpt", ckpt, "--hf", tmp_path / "hf", "--out", tmp_path / "c5", check=False)
    assert proc.returncode == 2 and "unrecognized arguments: --hf" in proc.stderr


@pytest.mark.slow
def test_fine_tuning_can_start_from_an_imported_checkpoint(ckpt, tmp_path):
    from mediswift_np.finetune import FinetuneConfig, finetune

    run("export", "--ckpt", ckpt, "--out", tmp_path / "hf", "--quiet")
    for name in ("optimizer.safetensors", "training_state.json"):  # weights only, as from save_pretrained: kind "imported"
        (tmp_path / "hf" / name).unlink()
    run("import", "--hf", tmp_path / "hf", "--out", tmp_path / "imported", "--quiet")
    assert checkpoint.load(tmp_path / "imported")[1]["kind"] == "imported"
    cfg = FinetuneConfig(init=str(tmp_path / "imported"), seeds=1, epochs=1, n_train=8, n_val=4, n_test=4, batch_size=4)
    summary = finetune(cfg, None, progress=False)
    assert summary["n_test"] == 4 and summary["reactivated_weights"] == summary_pruned(ckpt)


def summary_pruned(ckpt) -> int:
    arrays, _ = checkpoint.load(ckpt)
    return sum(int((~v).sum()) for k, v in arrays.items() if k.startswith("mask/"))
