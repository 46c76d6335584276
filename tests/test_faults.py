"""Fault injection: a careless or mischievous user against every entry point that writes or resumes.

One test (or parametrized family) per fault, named after what it guards: each reproduces
the fault, asserts exit status 2 and the one-line message, and that nothing was lost --
the SHA-256 of every file of the checkpoint or folder already there is unchanged, and a
folder the failed command created is gone.

How the machine's faults are made, honestly, as an unprivileged user on any Linux:
- a full disk: the temporary file of an atomic write gets its descriptor pointed at
  /dev/full, so every write to it fails with the kernel's own ENOSPC;
- a read-only file system: ``os.access`` answers False and ``statvfs`` reports
  ``ST_RDONLY`` for the folder, as the kernel does for a read-only mount (even for root);
  a write that fails at save time raises EROFS from ``mkstemp``.

Entry points run in-process (``run_cli(main, argv)``) on a tiny pre-trained checkpoint
shared by the module and copied for every test.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mediswift_np import checkpoint, fileio
from mediswift_np.errors import run_cli
from mediswift_np.pretrain import PretrainConfig, train
from mediswift_np.tokenizer import Tokenizer

TINY = dict(steps=6, batch_size=4, seq_len=128, n_docs=200, merges=200, n_layer=1, n_embd=32, n_head=2, eval_every=0,
            eval_batches=1, sparsity=0.5)  # fmt: skip
TINY_ARGS = [a for k, v in TINY.items() for a in (f"--{k.replace('_', '-')}", str(v))]
FINETUNE_ARGS = ["--task", "pubmedqa", "--synthetic", "--n-train", "8", "--n-val", "4", "--n-test", "4", "--epochs", "1",
                 "--seeds", "1", "--batch-size", "4", "--quiet"]  # fmt: skip
MAINS = {name: f"mediswift_np.{name}.__main__" for name in ("pretrain", "finetune", "tokenizer", "tasks", "interop")}


def digest(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory``: "nothing was lost" means this is unchanged."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def cli(capsys):
    """Run an entry point in-process: (exit status, stdout, stderr)."""

    def call(name: str, *argv) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            run_cli(importlib.import_module(MAINS[name]).main, [str(a) for a in argv])
        out, err = capsys.readouterr()
        return exit_.value.code, out, err

    return call


def refused(result, message: str) -> None:
    code, out, err = result
    assert (code, out) == (2, ""), err
    assert err == f"error: {message}\n"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A 50%-sparse tiny run stopped after 3 of its 6 steps: a checkpoint to resume."""
    out = tmp_path_factory.mktemp("faults") / "ckpt"
    train(PretrainConfig(**TINY), out, progress=False, stop_after=3)
    return out


@pytest.fixture
def ckpt(pretrained, tmp_path) -> Path:
    shutil.copytree(pretrained, tmp_path / "ckpt")
    return tmp_path / "ckpt"


def edit_state(directory: Path, reseal: bool, **changes) -> None:
    """Change entries of state.json (``pretrain__sparsity`` is state["pretrain"]["sparsity"]); ``reseal``
    recomputes its own SHA-256 (canonical JSON of the other entries), as a careful tool would."""
    state = json.loads((directory / "state.json").read_text())
    for key, value in changes.items():
        *path, last = key.split("__")
        target = state
        for k in path:
            target = target[k]
        target[last] = value
    if reseal and "state_sha256" in state:
        rest = {k: v for k, v in state.items() if k != "state_sha256"}
        state["state_sha256"] = hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    (directory / "state.json").write_text(json.dumps(state))


def reseal_arrays(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    """Replace the checkpoint's arrays and make every hash vouch for them."""
    state = json.loads((directory / "state.json").read_text())
    fileio.atomic_savez(directory / state["array_file"], arrays)
    edit_state(directory, reseal=True, array_sha256=hashlib.sha256((directory / state["array_file"]).read_bytes()).hexdigest())


def no_work(monkeypatch) -> None:
    """Fail the test if a command starts its work (training a tokenizer, fine-tuning, drawing splits)."""

    def started(*args, **kwargs):
        raise AssertionError("the work started before the output directory was checked")

    monkeypatch.setattr(Tokenizer, "train", started)
    monkeypatch.setattr(importlib.import_module("mediswift_np.finetune.__main__"), "finetune", started)
    monkeypatch.setattr(importlib.import_module("mediswift_np.tasks.__main__"), "synthetic_pubmedqa_splits", started)


def writes_fail_under(monkeypatch, directory: Path, error: int = errno.ENOSPC, after: int = 0) -> None:
    """Atomic writes under ``directory`` fail after the first ``after``: ENOSPC through /dev/full, or ``error`` from mkstemp."""
    real, calls = tempfile.mkstemp, []

    def mkstemp(*args, dir=None, **kwargs):
        fd, path = real(*args, dir=dir, **kwargs)
        if Path(path).is_relative_to(directory):
            calls.append(path)
            if len(calls) > after and error == errno.ENOSPC:
                full = os.open("/dev/full", os.O_WRONLY)
                os.dup2(full, fd)  # the kernel now answers every write with ENOSPC
                os.close(full)
            elif len(calls) > after:
                os.close(fd)
                os.unlink(path)
                raise OSError(error, os.strerror(error), str(directory))
        return fd, path

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


# ----------------------------------------------------------------------------- 1, 2: no run overwrites another


def test_item01_finetune_refuses_out_equal_to_init(cli, ckpt):
    before = digest(ckpt)
    refused(cli("finetune", *FINETUNE_ARGS, "--init", ckpt, "--out", ckpt),
            f"--out {ckpt} is the --init checkpoint: fine-tuning would replace the pre-trained weights; choose another --out")
    assert digest(ckpt) == before


def test_item01_finetune_refuses_an_out_holding_another_checkpoint(cli, ckpt, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(ckpt, other)
    before = digest(other)
    refused(cli("finetune", *FINETUNE_ARGS, "--init", ckpt, "--out", other),
            f"{other} already holds a pretrain checkpoint at step 3 (arrays-000003.npz, state.json, tokenizer); "
            "pass --overwrite to replace it, or choose another --out")
    assert digest(other) == before


def test_item02_pretrain_refuses_an_out_holding_another_run(cli, ckpt):
    before = digest(ckpt)
    refused(cli("pretrain", *TINY_ARGS, "--quiet", "--out", ckpt),
            f"{ckpt} already holds a pretrain checkpoint at step 3 (arrays-000003.npz, state.json, tokenizer); "
            "pass --overwrite to replace it, or choose another --out")
    assert digest(ckpt) == before


def test_item02_resume_refuses_an_out_holding_another_run(cli, ckpt, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(ckpt, other)
    before = digest(other)
    refused(cli("pretrain", "--resume", ckpt, "--quiet", "--out", other),
            f"{other} already holds a pretrain checkpoint at step 3 (arrays-000003.npz, state.json, tokenizer); "
            "pass --overwrite to replace it, or choose another --out")
    assert digest(other) == before


@pytest.mark.parametrize("command", ["tokenizer train", "tasks make", "interop export"])
def test_item02_every_writer_refuses_an_out_that_holds_something(cli, ckpt, tmp_path, command):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Aspirin lowers fever.\n\nFever rises.\n", encoding="utf-8")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    argv = {"tokenizer train": ["tokenizer", "train", "--input", corpus, "--merges", "5"],
            "tasks make": ["tasks", "make", "--task", "pubmedqa"],
            "interop export": ["interop", "export", "--ckpt", ckpt, "--quiet"]}[command]  # fmt: skip
    refused(cli(*argv, "--out", busy), f"{busy} already holds notes.txt; pass --overwrite to replace it, or choose another --out")
    assert digest(busy) == {"notes.txt": hashlib.sha256(b"mine").hexdigest()}


# ----------------------------------------------------------------------------- 4: leaks refused at the door


def test_item04_finetune_refuses_test_records_copied_into_train(cli, ckpt, tmp_path):
    data = tmp_path / "data"
    assert cli("tasks", "make", "--task", "pubmedqa", "--n-train", "20", "--n-val", "5", "--n-test", "10", "--out", data)[0] == 0
    train_records, test_records = (json.loads((data / f"{split}.json").read_text()) for split in ("train", "test"))
    first = next(iter(test_records))
    train_records.update(dict(list(test_records.items())[:8]))  # 8 test records, with their labels
    (data / "train.json").write_text(json.dumps(train_records))
    refused(cli("finetune", *FINETUNE_ARGS[:2], "--data", data, *FINETUNE_ARGS[3:], "--init", ckpt, "--out", tmp_path / "ft"),
            f"test PMID {first} is also in the training data: a test leak; remove it, or pass --allow-overlap true to fine-tune anyway")
    assert not (tmp_path / "ft").exists()


# ----------------------------------------------------------------------------- 6, 14, 16: resume verifies what it depends on


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory) -> tuple[Path, Path]:
    """A run on a real corpus file (blank-line separated documents), stopped after 2 of 4 steps."""
    from mediswift_np.data import synthetic_corpus

    root = tmp_path_factory.mktemp("corpus-run")
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join(synthetic_corpus(200, seed=1)) + "\n", encoding="utf-8")
    train(PretrainConfig(**{**TINY, "steps": 4, "corpus": (str(corpus),)}), root / "run", progress=False, stop_after=2)
    return root / "run", corpus


def test_item06_resume_refuses_a_changed_corpus(cli, corpus_run):
    run, corpus = corpus_run
    before = digest(run)
    with open(corpus, "a", encoding="utf-8") as f:
        f.write("\nA new document that the run was not trained on.\n")
    refused(cli("pretrain", "--resume", run, "--quiet"),
            f"corpus file {corpus} has changed since the run in {run} started (its SHA-256 differs from state.json); "
            "resume with the corpus the run was trained on")
    assert digest(run) == before


@pytest.mark.parametrize("edit", [dict(step=2), dict(model__n_head=4), dict(pretrain__sparsity=0.75)], ids=["step", "n_head", "sparsity"])
def test_item06_resume_refuses_an_edited_state_json(cli, ckpt, edit):
    edit_state(ckpt, reseal=False, **edit)
    before = digest(ckpt)
    refused(cli("pretrain", "--resume", ckpt, "--quiet"),
            f"{ckpt / 'state.json'}: modified since the checkpoint was saved (its state_sha256 does not match its content)")
    assert digest(ckpt) == before


def test_item06_resume_checks_masks_against_the_configured_sparsity(cli, ckpt):
    edit_state(ckpt, reseal=True, pretrain__sparsity=0.75)  # a consistent state.json that lies about the masks
    before = digest(ckpt)
    refused(cli("pretrain", "--resume", ckpt, "--quiet"),
            f"checkpoint {ckpt}: transformer.h.0.query keeps 512 of 1024 weights (sparsity 0.5000); sparsity 0.75 keeps 256")
    assert digest(ckpt) == before


@pytest.mark.parametrize("how", ["masks removed", "another run's masks"])
def test_item06_resume_refuses_resealed_arrays_with_other_masks(cli, ckpt, how):
    arrays, _ = checkpoint.load(ckpt)
    if how == "masks removed":
        arrays = {k: v for k, v in arrays.items() if not k.startswith("mask/")}
        message = "no mask for transformer.h.0.attn.c_attn.weight, but the run is configured for sparsity 0.5"
    else:  # a mask of another run, at sparsity 0.69, with its weights and moments 0 where pruned
        rng = np.random.default_rng(7)
        for name in [k for k in arrays if k.startswith("mask/")]:
            mask = rng.random(arrays[name].shape) < 0.31
            weight = name.removeprefix("mask/")
            arrays[name] = mask
            for key in (weight, f"adam/m/{weight}", f"adam/v/{weight}"):
                arrays[key] = np.where(mask, arrays[key], 0).astype(arrays[key].dtype)
        kept = int(arrays["mask/transformer.h.0.attn.c_attn.weight"][:, :32].sum())
        message = f"transformer.h.0.query keeps {kept} of 1024 weights (sparsity {1 - kept / 1024:.4f}); sparsity 0.5 keeps 512"
    reseal_arrays(ckpt, arrays)
    before = digest(ckpt)
    refused(cli("pretrain", "--resume", ckpt, "--quiet"), f"checkpoint {ckpt}: {message}")
    assert digest(ckpt) == before


@pytest.mark.parametrize("step", ["3", 3.0, -3, 7, True], ids=["string", "float", "negative", "beyond-steps", "bool"])
def test_item14_resume_refuses_a_step_of_the_wrong_type_or_range(cli, ckpt, step):
    edit_state(ckpt, reseal=True, step=step)
    before = digest(ckpt)
    refused(cli("pretrain", "--resume", ckpt, "--quiet"),
            f"{ckpt / 'state.json'}: 'step' must be an integer in [0, 6] (the run's steps), got {step!r}")
    assert digest(ckpt) == before


@pytest.mark.parametrize("field, value, kind", [("n_embd", 32.0, "int"), ("sparsity", "0.5", "float"), ("corpus", "a.txt", "tuple")])
def test_item14_resume_refuses_config_fields_of_the_wrong_type(cli, ckpt, field, value, kind):
    edit_state(ckpt, reseal=True, **{f"pretrain__{field}": value})
    refused(cli("pretrain", "--resume", ckpt, "--quiet"),
            f"{ckpt / 'state.json'}: pretrain.{field} must be of type {kind} (as PretrainConfig), got {value!r}")


def test_item16_a_nan_checkpoint_is_refused_not_named_as_last_good(cli, ckpt):
    arrays, _ = checkpoint.load(ckpt)
    arrays["transformer.ln_f.weight"] = np.full_like(arrays["transformer.ln_f.weight"], np.nan)
    reseal_arrays(ckpt, arrays)
    before = digest(ckpt)
    refused(cli("pretrain", "--resume", ckpt, "--quiet"),
            f"{ckpt / 'arrays-000003.npz'}: transformer.ln_f.weight holds NaN or infinite values, which no checkpoint saved here holds")
    assert digest(ckpt) == before


def test_item16_divergence_after_a_resume_names_the_finite_checkpoint(cli, ckpt):
    """The resumed run diverges (lr 1e30 would be a config mismatch, so a weight is scaled up instead)."""
    arrays, _ = checkpoint.load(ckpt)
    arrays["transformer.ln_f.weight"] = np.full_like(arrays["transformer.ln_f.weight"], 3e38)  # finite; the logits overflow
    reseal_arrays(ckpt, arrays)
    code, out, err = cli("pretrain", "--resume", ckpt, "--quiet")
    assert (code, out) == (2, "") and err.startswith("error: ") and f"last good checkpoint (step 3) kept in {ckpt}" in err
    assert checkpoint.first_nonfinite(checkpoint.load(ckpt)[0]) is None  # the checkpoint it names is finite


# ----------------------------------------------------------------------------- 7: the DDP trainer's token stream


@pytest.mark.slow
def test_item07_ddp_trainer_refuses_tokens_of_another_tokenizer(cli, ckpt, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from conftest import REPO_ROOT

    other = tmp_path / "other"  # the same recipe with --merges 100
    train(PretrainConfig(**{**TINY, "merges": 100}), other, progress=False, stop_after=3)
    assert cli("interop", "export", "--ckpt", ckpt, "--out", tmp_path / "hf", "--quiet")[0] == 0
    assert cli("interop", "export", "--ckpt", other, "--out", tmp_path / "hf-other", "--train-tokens", tmp_path / "t.npy", "--quiet")[0] == 0
    spec = importlib.util.spec_from_file_location("train_ddp", REPO_ROOT / "reference" / "train_ddp.py")
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        run_cli(trainer.main, ["--device", "cpu", "--export", str(tmp_path / "hf"), "--tokens", str(tmp_path / "t.npy"), "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2 and not (tmp_path / "o").exists()
    assert capsys.readouterr().err == (f"error: {tmp_path / 't.npy'}: made with another tokenizer than the export's (tokenizer_sha256 in "
                                       "t.npy.json differs); export the tokens from the same checkpoint\n")


# ----------------------------------------------------------------------------- 8: export refuses non-finite weights


def test_item08_export_refuses_an_infinite_weight(cli, ckpt, tmp_path):
    from mediswift_np.errors import UserError
    from mediswift_np.interop import export_model  # the library path: reference/train_ddp.py saves through it

    arrays, state = checkpoint.load(ckpt)
    arrays["transformer.h.0.mlp.c_fc.bias"] = arrays["transformer.h.0.mlp.c_fc.bias"].copy()
    arrays["transformer.h.0.mlp.c_fc.bias"][3] = np.inf
    reseal_arrays(ckpt, arrays)
    refused(cli("interop", "export", "--ckpt", ckpt, "--out", tmp_path / "hf", "--quiet"),
            f"{ckpt / 'arrays-000003.npz'}: transformer.h.0.mlp.c_fc.bias holds NaN or infinite values, which no checkpoint saved here holds")
    assert not (tmp_path / "hf").exists()
    with pytest.raises(UserError) as err:
        export_model(checkpoint.restore_model(arrays, state), tmp_path / "hf2")
    assert str(err.value) == "refusing to export: transformer.h.0.mlp.c_fc.bias holds NaN or infinite values"
    assert not (tmp_path / "hf2").exists()


# ----------------------------------------------------------------------------- 9: labels outside the label set


def test_item09_score_reports_labels_outside_the_label_set(cli, tmp_path):
    (tmp_path / "gold.json").write_text(json.dumps({"1": "yes", "2": "no", "3": "maybe"}))
    (tmp_path / "pred.json").write_text(json.dumps({"1": "Yes", "2": "no", "3": None}))
    code, out, err = cli("tasks", "score", "--task", "pubmedqa", "--predictions", tmp_path / "pred.json", "--gold", tmp_path / "gold.json", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["unparseable"] == 2 and result["accuracy"] == pytest.approx(1 / 3)
    assert err == ('warning: 2 of 3 predictions hold labels outside the task\'s label set (first: PMID 1: "Yes"); '
                   "they are scored as wrong\n")


# ----------------------------------------------------------------------------- 10: --stop-after


@pytest.mark.parametrize("stop_after", [0, -2, 6, 9])
def test_item10_stop_after_outside_the_plan_is_refused(cli, tmp_path, stop_after):
    refused(cli("pretrain", *TINY_ARGS, "--quiet", "--stop-after", stop_after, "--out", tmp_path / "run"),
            f"--stop-after must be a step in [1, 5]: after the run's step 0 and before the end of its 6-step plan; got {stop_after}")
    assert not (tmp_path / "run").exists()


def test_item10_stop_after_not_beyond_a_resumed_step_is_refused(cli, ckpt):
    before = digest(ckpt)
    refused(cli("pretrain", "--resume", ckpt, "--quiet", "--stop-after", 3),
            "--stop-after must be a step in [4, 5]: after the run's step 3 and before the end of its 6-step plan; got 3")
    assert digest(ckpt) == before


# ----------------------------------------------------------------------------- 12: unusable --out, before any work

COMMANDS = {
    "pretrain": lambda ckpt, corpus: ["pretrain", *TINY_ARGS, "--quiet"],
    "finetune": lambda ckpt, corpus: ["finetune", *FINETUNE_ARGS, "--init", ckpt],
    "tokenizer train": lambda ckpt, corpus: ["tokenizer", "train", "--input", corpus, "--merges", "5"],
    "tasks make": lambda ckpt, corpus: ["tasks", "make", "--task", "pubmedqa"],
}


def unusable_out(tmp_path: Path, case: str, monkeypatch) -> tuple[Path, str]:
    """An --out that cannot be used, and the message that must name why."""
    if case == "a file":
        (tmp_path / "taken").write_text("x")
        return tmp_path / "taken", f"{tmp_path / 'taken'}: exists and is not a directory; choose another output directory"
    if case == "under a file":
        (tmp_path / "taken").write_text("x")
        return tmp_path / "taken" / "run", f"{tmp_path / 'taken' / 'run'}: lies under {tmp_path / 'taken'}, which is a file; choose another output directory"
    if case == "a symlink loop":
        os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
        os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
        return tmp_path / "loop-a" / "run", f"{tmp_path / 'loop-a' / 'run'}: cannot be used as an output directory: {tmp_path / 'loop-a' / 'run'} is a symlink loop"
    read_only = tmp_path / "ro"  # what the kernel answers for a read-only mount
    read_only.mkdir()
    real_access, real_statvfs = os.access, os.statvfs
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == read_only else real_access(p, mode, **kw))

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda p: ReadOnly() if Path(p) == read_only else real_statvfs(p))
    return read_only / "run", f"{read_only / 'run'}: cannot be written: {read_only} is on a read-only file system"


@pytest.mark.parametrize("case", ["a file", "under a file", "a symlink loop", "read-only"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_item12_an_unusable_out_is_refused_before_any_work(cli, ckpt, tmp_path, monkeypatch, command, case):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Aspirin lowers fever.\n", encoding="utf-8")
    out, message = unusable_out(tmp_path, case, monkeypatch)
    no_work(monkeypatch)
    before = digest(ckpt)
    refused(cli(*COMMANDS[command](ckpt, corpus), "--out", out), message)
    assert digest(ckpt) == before


# ----------------------------------------------------------------------------- 13: a full disk or read-only file system at save time


@pytest.mark.parametrize("error, words", [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")])
def test_item13_a_failed_save_keeps_the_previous_checkpoint(cli, ckpt, monkeypatch, error, words):
    before = digest(ckpt)
    writes_fail_under(monkeypatch, ckpt, error)
    refused(cli("pretrain", "--resume", ckpt, "--quiet"),
            f"cannot save the checkpoint to {ckpt}: {words}; the previous checkpoint there (step 3) is intact")
    assert digest(ckpt) == before  # no half-written array file left beside it


def test_item13_a_failed_first_save_leaves_no_folder(cli, tmp_path, monkeypatch):
    writes_fail_under(monkeypatch, tmp_path / "new")
    refused(cli("pretrain", *TINY_ARGS, "--quiet", "--out", tmp_path / "new" / "run"),
            f"cannot save the checkpoint to {tmp_path / 'new' / 'run'}: No space left on device; nothing was saved ({tmp_path / 'new'} was removed)")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["tokenizer train", "tasks make"])
def test_item13_a_full_disk_leaves_nothing_half_written(cli, tmp_path, monkeypatch, command):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Aspirin lowers fever.\n\nFever rises in mice.\n", encoding="utf-8")
    argv = {"tokenizer train": ["tokenizer", "train", "--input", corpus, "--merges", "5"],
            "tasks make": ["tasks", "make", "--task", "pubmedqa", "--n-train", "4", "--n-val", "2", "--n-test", "2"]}[command]  # fmt: skip
    writes_fail_under(monkeypatch, tmp_path / "out", after=1)  # the first file is written, the second fails
    code, out, err = cli(*argv, "--out", tmp_path / "out")
    last = err.splitlines()[-1]  # (tokenizer train draws progress bars on stderr before it)
    assert (code, out) == (2, "") and last.startswith(f"error: cannot write {tmp_path / 'out'}") and "Traceback" not in err
    assert last.endswith(": No space left on device; nothing was left behind") and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- 15, 17, 18: one-line errors up front


def test_item15_a_model_too_big_for_memory_is_refused_with_the_number(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("mediswift_np.pretrain.config.available_memory_bytes", lambda: 16 * 10**9, raising=False)
    L, d, nh, V, n_ctx, B, T = 4, 65536, 4, 4, 128, 4, 32  # tiny preset, --n-embd 65536, the 4 special tokens: a lower bound
    n_params = L * (12 * d * d + 13 * d) + 2 * d + V * d + n_ctx * d  # config.GPTConfig.n_params, Table 5's layout
    kept = L * B * T * (7 * d + nh * T)  # per block: the inputs of its four linear layers (C, C, C, 4C) and the attention probabilities
    needed = 4 * (4 * n_params + 2 * B * T * V + kept)  # float32: weights, gradients, m, v; logits and their gradient; activations
    refused(cli("pretrain", "--n-embd", d, "--n-docs", 200, "--merges", 200, "--batch-size", B, "--seq-len", T, "--quiet", "--out", tmp_path / "run"),
            f"the model needs at least {needed / 1e9:,.1f} GB of memory ({n_params:,} parameters x 16 bytes for weights, gradients "
            "and AdamW moments, plus logits and activations), but 16.0 GB are available; choose a smaller --n-embd, --n-layer or --batch-size")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("corpus, words", [("/dev/zero", "not a regular file (a device, pipe or socket); a corpus must be a file on disk"),
                                           ("DIR", "is a directory, not a corpus file (name each file; the option can be repeated)")])
def test_item17_a_corpus_that_is_not_a_regular_file_is_named(cli, tmp_path, corpus, words):
    if not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    corpus = str(tmp_path) if corpus == "DIR" else corpus
    refused(cli("pretrain", "--corpus", corpus, "--quiet", "--out", tmp_path / "run"), f"{corpus}: {words}")
    assert not (tmp_path / "run").exists()


def test_item18_conflicting_presets_are_named(cli, tmp_path):
    refused(cli("pretrain", "--tiny", "--model", "med", "--n-docs", 200, "--merges", 200, "--quiet", "--out", tmp_path / "run"),
            "--tiny selects the tiny preset and conflicts with --model med; give one of them")
    assert not (tmp_path / "run").exists()
