"""The downstream-recovery experiment (recovery.py): its statistics against scipy, its
bookkeeping on a miniature run, and the committed results the README quotes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import REPO_ROOT
from mediswift_np import recovery

RESULTS = REPO_ROOT / "benchmarks" / "results" / "downstream_recovery.json"


def test_paired_difference_matches_scipy_paired_t_interval():
    stats = pytest.importorskip("scipy.stats")
    a = [0.91, 0.85, 0.97, 0.88, 0.93]
    b = [0.62, 0.70, 0.55, 0.66, 0.58]
    d = recovery.paired_difference(a, b)
    ref = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert d["mean"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert d["ci95"] == pytest.approx([ref.low, ref.high])
    # by hand: mean ± t_{0.975, 4} · s / sqrt(5), with t_{0.975, 4} = 2.7764451
    diff = np.subtract(a, b)
    half = 2.7764451 * diff.std(ddof=1) / math.sqrt(5)
    assert d["ci95"] == pytest.approx([diff.mean() - half, diff.mean() + half], abs=1e-6)


def test_summary_statistics_by_hand():
    rows = lambda accs: [{"accuracy": a, "macro_f1": a / 2, "majority_accuracy": 0.5, "finetune_flops_counted": 10.0} for a in accs]  # noqa: E731
    starts = lambda flops: [{"final_loss": 1.0, "flops_analytic": flops}, {"final_loss": 2.0, "flops_analytic": flops}]  # noqa: E731
    results = {"arms": {"dense": rows([0.9, 0.8]), "s75": rows([0.7, 0.8]), "s75-no-prompt": rows([0.6, 0.6])},
               "starts": {"0": starts(100.0), "0.75": starts(40.0)}}  # fmt: skip
    s = recovery.summarize(results)
    assert s["s75"]["accuracy"]["mean"] == pytest.approx(0.75) and s["s75"]["accuracy"]["std"] == pytest.approx(math.sqrt(0.005))
    assert s["s75"]["accuracy_minus_dense"]["mean"] == pytest.approx(-0.1)
    assert s["s75-no-prompt"]["accuracy_minus_s75"]["mean"] == pytest.approx(-0.15)
    assert s["s75"]["flops"] == {"pretrain_analytic": 40.0, "finetune_counted": 10.0, "total": 50.0}
    assert s["dense"]["pretrain_final_loss"] == pytest.approx({"mean": 1.5, "std": math.sqrt(0.5)})
    table = recovery.markdown(s)
    assert "| dense pre-training | 1.500 ± 0.707 | 0.850 ± 0.071 |" in table and "(b) soft prompt n = 0 vs 9" in table


def test_a_miniature_run_is_paired_cached_and_counts_flops(tmp_path):
    pre = dict(profiles=1, n_docs=60, merges=150, steps=3, batch_size=2, n_layer=1, n_embd=32, n_head=2, eval_batches=1, eval_every=0)
    ft = dict(n_train=20, n_val=6, n_test=12, epochs=1, patience=1)
    arms = tuple(a for a in recovery.ARMS if a.name in ("none", "s75", "s75-sparse-ft"))
    first = recovery.run(1, tmp_path, arms, pre, ft, log=lambda s: None, curve_steps=(2,), curve_seeds=1)
    again = recovery.run(1, tmp_path, arms, pre, ft, log=lambda s: None, curve_steps=(2,), curve_seeds=1)  # all reused
    assert again["arms"] == first["arms"] and again["starts"] == first["starts"] and again["curve"] == first["curve"]
    (point,) = first["curve"]["0.75"][0]  # 75% sparse, 2 steps, seed 0: a checkpoint of its own
    assert point["steps"] == 2 and point["pretrain_flops_analytic"] == pytest.approx(first["starts"]["0.75"][0]["flops_analytic"] * 2 / 3)
    s = first["summary"]
    assert s["none"]["flops"]["pretrain_analytic"] == 0.0 and first["starts"]["none"][0]["final_loss"] > 4  # untrained
    assert s["s75"]["flops"]["pretrain_analytic"] == first["starts"]["0.75"][0]["flops_analytic"] > 0
    assert first["arms"]["s75-sparse-ft"][0]["reactivated_weights"] == 0 < first["arms"]["s75"][0]["reactivated_weights"]
    assert all(r["context_length"] == 128 for rows in first["arms"].values() for r in rows)  # pre-trained on whole windows


def test_committed_results_support_the_readme():
    if not RESULTS.is_file():
        pytest.skip("benchmarks/results/downstream_recovery.json not written yet")
    res = json.loads(RESULTS.read_text())
    s = res["summary"]
    assert res["seeds"] >= 5 and set(s) == {a.name for a in recovery.ARMS}
    for name, e in s.items():  # the summary is what the per-seed rows say
        acc = [r["accuracy"] for r in res["arms"][name]]
        assert e["accuracy"]["mean"] == pytest.approx(np.mean(acc)) and len(acc) == res["seeds"]
    none = [r["accuracy"] for r in res["arms"]["none"]]
    majority = [r["majority_accuracy"] for r in res["arms"]["none"]]
    assert np.allclose(none, majority, atol=0.02)  # no pre-training: the majority class, as it must be
    transfer = recovery.paired_difference([r["accuracy"] for r in res["arms"]["dense"]], none)
    assert transfer["mean"] >= 0.15 and transfer["ci95"][0] > 0  # pre-trained knowledge reaches the task
