"""The accelerator command line: JSON contract, the Fig. 3 sweep table, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from mediswift_np.accelerator.__main__ import main

REQUIRED = {"dense_cycles", "sparse_cycles", "speedup", "theoretical_speedup", "max_abs_error"}


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "mediswift_np.accelerator", *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_single_layer_json_has_the_spec_keys_and_an_exact_result():
    p = run("--rows", "192", "--cols", "160", "--sparsity", "0.75", "--batch", "4", "--json")
    assert p.returncode == 0, p.stderr
    out = last_json(p.stdout)
    assert REQUIRED <= set(out)
    assert out["max_abs_error"] == 0.0 and out["verified_tokens"] == 4
    assert out["theoretical_speedup"] == 4.0
    assert out["speedup"] == out["dense_cycles"] / out["sparse_cycles"]
    terms = out["sparse"]["terms"]
    assert sum(terms.values()) == pytest.approx(out["sparse_cycles"])
    assert {"simd", "dense", "machine", "simd_machine"} <= set(out)


def test_machine_flags_and_disabled_terms_reach_the_report(capsys):
    main(["--rows", "96", "--cols", "96", "--sparsity", "0.5", "--batch", "2", "--json",
          "--metadata-cycles-per-nonzero", "0", "--disable", "pipeline_fill", "--hop-latency-cycles", "3"])
    out = last_json(capsys.readouterr().out)
    assert out["machine"]["hop_latency_cycles"] == 3
    assert out["sparse"]["terms"]["metadata"] == 0.0
    assert out["sparse"]["terms"]["pipeline_fill"] == 0.0
    assert out["sparse"]["disabled"] == ["pipeline_fill"]


def test_sweep_prints_a_table_and_one_json_object(capsys):
    main(["--rows", "128", "--cols", "128", "--batch", "2", "--sweep", "--sparsities", "0,0.5,0.9", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    table = [line for line in lines if line.lstrip().startswith(("0.00", "0.50", "0.90"))]
    assert len(table) == 3
    out = json.loads(lines[-1])
    assert [r["sparsity"] for r in out["sweep"]] == [0.0, 0.5, 0.9]
    assert all(REQUIRED <= set(r) for r in out["sweep"])
    assert all(r["verified_tokens"] == 1 for r in out["sweep"])


def test_model_view_json(capsys):
    main(["--model", "tiny", "--json"])
    out = last_json(capsys.readouterr().out)
    assert [r["sparsity"] for r in out["rows"]] == [0.0, 0.5, 0.75]
    assert all(r["step_speedup"] < r["theoretical_matrix_speedup"] for r in out["rows"][1:])


def test_help_exits_zero():
    p = run("--help")
    assert p.returncode == 0 and "--sweep" in p.stdout and "--sram-bytes-per-pe" in p.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--rows", "-5", "--cols", "8", "--sparsity", "0.5"], "rows must be a positive integer"),
        (["--rows", "8", "--cols", "8", "--sparsity", "1.0"], "sparsity must be in [0, 1)"),
        (["--rows", "8", "--cols", "8", "--sparsity", "1.5"], "sparsity must be in [0, 1)"),
        (["--rows", "1024", "--cols", "1024", "--sparsity", "0.5", "--mesh-rows", "1", "--mesh-cols", "1"],
         "needs 2105344 bytes but sram_bytes_per_pe is 49152"),
        (["--rows", "64", "--cols", "64", "--sram-bytes-per-pe", "-1"], "sram_bytes_per_pe must be a positive integer"),
        (["--model", "nope"], "unknown model preset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    p = run(*args)
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert "Traceback" not in p.stderr


def test_an_all_zero_layer_still_gives_valid_json(capsys):
    main(["--rows", "4", "--cols", "4", "--sparsity", "0.99", "--seed", "3", "--batch", "2", "--json"])
    out = last_json(capsys.readouterr().out)
    if out["simd"]["occupied_tiles"] == 0:
        assert out["simd"]["speedup"] is None  # no tile left to multiply: no finite ratio
    assert out["sparse"]["terms"]["compute"] == 2 * (16 * (1 - out["mask_sparsity"])) / 4  # B * nnz / (PEs * 4)
