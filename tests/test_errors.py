"""The command-line contract shared by every entry point (mediswift_np.errors, .cli):
bad input -> exactly one stderr line ``error: ...`` naming the problem, exit status 2."""

import importlib
import math
import subprocess
import sys

import pytest

from mediswift_np.errors import UserError, run_cli

# entry point -> (arguments with one usage mistake, the words the message must name)
USAGE_MISTAKES = {
    "pretrain": (["--sparsity", "abc"], "--sparsity"),
    "finetune": (["--synthetic"], "--task"),
    "flops": (["--model", "nope"], "--model"),
    "tokenizer": (["train", "--merges", "10"], "--input"),
    "exercises": (["check", "answers.py", "--exercise", "one"], "--exercise"),
    "tasks": (["score", "--task", "mednli"], "--task"),
    "interop": (["export", "--ckpt", "a", "--hf", "b", "--out", "c"], "--hf"),
    "accelerator": (["--batch", "1.5"], "--batch"),
}


def entry_point_main(name):
    module = importlib.import_module(f"mediswift_np.{name}")
    if not hasattr(module, "main"):  # a package: the CLI lives in __main__.py
        module = importlib.import_module(f"mediswift_np.{name}.__main__")
    return module.main


@pytest.mark.parametrize("name", sorted(USAGE_MISTAKES))
def test_every_entry_point_reports_a_usage_mistake_in_one_line(name, capsys):
    argv, named = USAGE_MISTAKES[name]
    with pytest.raises(SystemExit) as exit_:
        run_cli(entry_point_main(name), argv)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and named in err, err
    assert f"python -m mediswift_np.{name}" in err  # points at the right --help


def test_usage_mistake_from_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "mediswift_np.flops", "--model", "tiny", "--sparsity", "half"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: argument --sparsity: invalid float value: 'half' (see python -m mediswift_np.flops --help)"
    ]


@pytest.mark.parametrize("exc, first_words", [
    (UserError("sparsity must be in [0, 1), got 1.5"), "error: sparsity must be in [0, 1), got 1.5"),
    (FileNotFoundError(2, "No such file", "corpus.txt"), "error: no such file: corpus.txt"),
    (IsADirectoryError(21, "Is a directory", "runs"), "error: expected a file, got a directory: runs"),
    (OSError(28, "No space left on device", "runs/x.npz"), "error: runs/x.npz: No space left on device"),
    (OSError(30, "Read-only file system"), "error: Read-only file system"),
    (MemoryError("Unable to allocate 3.2 TiB"), "error: out of memory (Unable to allocate 3.2 TiB); choose a smaller model or batch"),
])
def test_run_cli_turns_user_errors_into_status_2(exc, first_words, capsys):
    def main(argv):
        raise exc

    with pytest.raises(SystemExit) as exit_:
        run_cli(main, [])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == first_words + "\n"


def test_run_cli_passes_the_status_and_lets_bugs_show():
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda argv: 0, [])
    assert exit_.value.code == 0
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_cli(lambda argv: 1 / 0, [])


# entry point -> the arguments that make a run valid apart from the optimizer option under test
OPTIMIZER_RUNS = {"pretrain": [], "finetune": ["--task", "pubmedqa", "--init", "ckpt"]}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_RUNS))
@pytest.mark.parametrize("option, value, message", [
    ("--grad-clip", "-1", "--grad-clip must be > 0 (the global gradient-norm threshold; inf = no clipping), got -1.0"),
    ("--grad-clip", "0", "--grad-clip must be > 0 (the global gradient-norm threshold; inf = no clipping), got 0.0"),
    ("--grad-clip", "nan", "--grad-clip must be > 0 (the global gradient-norm threshold; inf = no clipping), got nan"),
    ("--weight-decay", "-0.1", "--weight-decay must be >= 0 and finite, got -0.1"),
    ("--weight-decay", "inf", "--weight-decay must be >= 0 and finite, got inf"),
    ("--lr", "inf", "must be positive and finite, got inf"),
    ("--lr", "nan", "must be positive and finite, got nan"),
    ("--lr", "0", "must be positive and finite, got 0.0"),
])
def test_optimizer_options_out_of_range_are_one_line_errors(name, option, value, message, tmp_path, capsys):
    """A negative clip threshold would flip every gradient and 0 would train nothing: both entry points refuse them."""
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        run_cli(entry_point_main(name), [*OPTIMIZER_RUNS[name], option, value, "--out", str(out), "--quiet"])
    stdout, err = capsys.readouterr()
    assert exit_.value.code == 2 and stdout == "" and not out.exists()
    assert err.count("\n") == 1 and err.startswith("error: ") and err.rstrip("\n").endswith(message), err


def test_an_infinite_clip_threshold_means_no_clipping_and_is_accepted():
    from mediswift_np.finetune import FinetuneConfig
    from mediswift_np.pretrain import PretrainConfig

    assert PretrainConfig(grad_clip=math.inf).validate().grad_clip == math.inf
    assert FinetuneConfig(init="ckpt", grad_clip=math.inf).validate().grad_clip == math.inf
