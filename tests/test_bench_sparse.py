"""The measurement helpers of benchmarks/bench_sparse.py: what they time and how they read the times.

No timings are asserted -- only that the timed computation is the masked layer of Eq. 1
(values against the formula), that the break-even interpolation solves its linear model
exactly, and that the tables report what was measured.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("bench_sparse", REPO_ROOT / "benchmarks" / "bench_sparse.py")
bench = importlib.util.module_from_spec(spec)
sys.modules.setdefault("bench_sparse", bench)  # dataclasses look their module up by name
spec.loader.exec_module(bench)


@pytest.mark.parametrize("s", [0.5, 0.9, 0.99])
def test_make_layer_is_a_masked_float32_layer(s):
    layer = bench.make_layer(16, 40, 30, s, np.random.default_rng(0))
    w = layer.weight
    assert w.mask.sum() == round((1 - s) * 40 * 30)  # exactly round((1-s)·numel) kept
    assert np.all(w.data[~w.mask] == 0.0)
    assert {layer.x.dtype, w.dtype, layer.bias.dtype, layer.upstream.dtype} == {np.dtype(np.float32)}
    assert layer.x.requires_grad and layer.upstream.shape == (16, 30)
    assert bench.make_layer(16, 40, 30, None, np.random.default_rng(0)).weight.mask is None


@pytest.mark.parametrize("variant", bench.variants(), ids=lambda v: v.label)
def test_timed_step_computes_the_masked_layer_gradients(variant):
    """forward_backward leaves dx = g (W⊙m)ᵀ, dW = (xᵀ g) ⊙ m, db = Σ g (float64 formula, float32 tolerance)."""
    layer = bench.make_layer(50, 24, 36, 0.75, np.random.default_rng(1))
    fwd, bwd = bench.forward_backward(layer, variant)
    assert fwd > 0 and bwd > 0
    x, g = layer.x.data.astype(np.float64), layer.upstream.astype(np.float64)
    wm = layer.weight.data.astype(np.float64) * layer.weight.mask
    np.testing.assert_allclose(layer.x.grad, g @ wm.T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.weight.grad, (x.T @ g) * layer.weight.mask, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=0), rtol=1e-4, atol=1e-4)
    assert np.all(layer.weight.grad[~layer.weight.mask] == 0.0)
    bench.forward_backward(layer, variant)  # a second timed step starts from cleared gradients
    np.testing.assert_allclose(layer.x.grad, g @ wm.T, rtol=1e-4, atol=1e-5)


def test_phase_times_times_three_phases():
    layer = bench.make_layer(20, 8, 12, 0.5, np.random.default_rng(2))
    phases = bench.phase_times(layer, bench.SCIPY)
    assert set(phases) == set(bench.PHASES) and all(t > 0 for t in phases.values())


def test_break_even_solves_the_linear_model_exactly():
    """scipy time a + c·(1-s), dense time D: the ratio is 1 at s* = 1 - (D - a)/c."""
    a, c, D = 2.0, 100.0, 6.0
    s_star = 1.0 - (D - a) / c  # 0.96
    grid = [0.5, 0.75, 0.9, 0.95, 0.98, 0.99]
    ratios = [(a + c * (1 - s)) / D for s in grid]
    first, crossing = bench.break_even(grid, ratios)
    assert first == 0.98  # smallest measured s with ratio < 1
    assert crossing == pytest.approx(s_star, abs=1e-12)
    assert bench.break_even(grid[::-1], ratios[::-1]) == (first, crossing)  # order of input does not matter


def test_break_even_edge_cases():
    assert bench.break_even([0.5, 0.9], [3.0, 1.2]) == (None, None)  # never faster
    assert bench.break_even([0.5, 0.9], [0.8, 0.5]) == (0.5, 0.5)  # faster already at the first s
    assert bench.break_even([0.5, 0.9, 0.99], [3.0, 1.5, 0.6]) == (0.99, pytest.approx(0.95, abs=1e-12))


def test_size_result_ratios_and_tables():
    res = bench.SizeResult((8, 4, 4), (0.5, 0.9), (bench.DENSE, bench.SCIPY))
    res.reference["dense"] = [0.010, 0.012, 0.011]
    res.total = {(0.5, "dense"): [0.010, 0.010, 0.030], (0.5, "scipy"): [0.020, 0.040, 0.030],
                 (0.9, "dense"): [0.010, 0.010, 0.010], (0.9, "scipy"): [0.005, 0.006, 0.004]}  # fmt: skip
    for (s, label), ts in list(res.total.items()):
        for phase in bench.PHASES:
            res.phases[(s, label, phase)] = [t / 3 for t in ts]
    assert res.ratios() == pytest.approx([3.0, 0.5])  # medians 30/10 and 5/10
    assert res.spread("dense") == pytest.approx(0.5)  # (q3 - q1)/median: 0.01/0.01 at s=0.5, 0 at s=0.9
    table = bench.total_table([res]).splitlines()
    assert table[2] == "| (8, 4, 4) | 0 (unmasked) | 11.0 | — | — | 1.00 |"
    assert table[3] == "| (8, 4, 4) | 0.5 | 10.0 | 30.0 | 3.00 | 0.50 |"
    assert table[4] == "| (8, 4, 4) | 0.9 | 10.0 | 5.0 | 0.50 | 0.10 |"
    assert "| (8, 4, 4) | 0.9 | scipy | 1.7 | 1.7 | 1.7 | 33% |" in bench.phase_table([res]).splitlines()
    lines, worst = bench.break_even_lines([res], "dense")
    assert worst == pytest.approx(1 - (0.1 + 0.5 * 0.4 / 2.5))  # ratio linear in 1-s between (0.5, 3) and (0.1, 0.5)
    assert "from s = 0.9 on" in lines[0]


def test_main_prints_one_row_per_size_and_sparsity(capsys):
    bench.main(["--sizes", "32,8,16", "64,16,8", "--repeats", "1", "--sparsities", "0.99", "0.5"])
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| (")]
    n_variants = len(bench.variants())
    # per size: the unmasked row + one per s (total table), one per s and variant (phase table)
    assert len(rows) == 2 * (1 + 2 + 2 * n_variants)
    flop_ratio = {ln.split(" | ")[1]: ln.rsplit(" | ", 1)[1].rstrip(" |") for ln in rows[:3]}
    assert flop_ratio == {"0 (unmasked)": "1.00", "0.5": "0.50", "0.99": "0.01"}


def test_last_json_line_reads_the_cli_summary():
    summary = {"wall_seconds": 12.5, "final_loss": 3.25}
    assert bench.last_json_line("step 1\nstep 2\n" + json.dumps(summary) + "\n\n") == summary
    with pytest.raises(ValueError):
        bench.last_json_line("\n")


@pytest.mark.slow
def test_tiny_run_backends_train_the_same_model(tmp_path):
    """The --tiny-runs helper: both backends give the same losses (float32 rounding), summary keys present."""
    if not bench.pretrain_available():
        pytest.skip("mediswift_np.pretrain not present")
    extra = ["--steps", "3", "--n-docs", "60", "--merges", "60", "--eval-batches", "1", "--batch-size", "4"]
    runs = {v.backend: bench.run_tiny(0.75, v, str(tmp_path / v.backend), extra) for v in (bench.DENSE, bench.SCIPY)}
    for b, summary in runs.items():
        assert summary["sparsity"] == 0.75 and summary["steps"] == 3
        assert summary["wall_seconds"] > 0 and summary["process_seconds"] >= summary["wall_seconds"]
        assert summary["checkpoint"] == str(tmp_path / b)
    assert runs["scipy"]["final_loss"] == pytest.approx(runs["dense"]["final_loss"], rel=1e-5)
    assert runs["scipy"]["flops_sparse_equivalent"] == runs["dense"]["flops_sparse_equivalent"]  # the sparse algorithm's count on both
