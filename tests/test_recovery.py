"""The downstream-recovery experiment (recovery.py): its statistics against scipy and closed
forms, the probes' wordings and scores, the closed-book label mix, its bookkeeping on a
miniature run, and the committed results' quoted numbers recomputed from their raw values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import REPO_ROOT
from mediswift_np import knowledge_probe, recovery
from mediswift_np.data import synthetic_corpus
from mediswift_np.data.synthetic_tasks import exact_counts, synthetic_pubmedqa_splits
from mediswift_np.data.world import default_world

RESULTS = REPO_ROOT / "benchmarks" / "results" / "downstream_recovery.json"
PILOT = REPO_ROOT / "benchmarks" / "results" / "recovery_pilot.json"
A = [0.91, 0.85, 0.97, 0.88, 0.93]
B = [0.62, 0.70, 0.55, 0.66, 0.58]


def test_paired_difference_matches_scipy_paired_t_interval():
    stats = pytest.importorskip("scipy.stats")
    d = recovery.paired_difference(A, B)
    ref = stats.ttest_rel(A, B).confidence_interval(0.95)
    assert d["mean"] == pytest.approx(np.mean(np.subtract(A, B)))
    assert d["ci95"] == pytest.approx([ref.low, ref.high])
    # by hand: mean ± t_{0.975, 4} · s / sqrt(5), with t_{0.975, 4} = 2.7764451
    diff = np.subtract(A, B)
    half = 2.7764451 * diff.std(ddof=1) / math.sqrt(5)
    assert d["ci95"] == pytest.approx([diff.mean() - half, diff.mean() + half], abs=1e-6)


def test_stats_docstring_examples():
    import doctest

    from mediswift_np import stats

    result = doctest.testmod(stats)
    assert result.attempted >= 2 and result.failed == 0


def test_tost_by_hand_and_against_the_90_percent_interval():
    stats = pytest.importorskip("scipy.stats")
    b = [0.90, 0.86, 0.95, 0.89, 0.92]
    diff = np.subtract(A, b)
    se = diff.std(ddof=1) / math.sqrt(5)
    for margin in (0.01, 0.03, 0.1):
        got = recovery.tost(A, b, margin)
        p_by_hand = max(1 - stats.t.cdf((diff.mean() + margin) / se, 4), stats.t.cdf((diff.mean() - margin) / se, 4))
        assert got["p"] == pytest.approx(p_by_hand)
        ci90 = stats.ttest_rel(A, b).confidence_interval(0.90)
        assert got["equivalent"] == (-margin < ci90.low and ci90.high < margin)  # TOST at 5% = the 90% interval inside
    assert not recovery.tost(A, B, 0.03)["equivalent"]  # a large difference is never "equivalent"


def test_fieller_bounds_solve_the_t_equation():
    num = [0.02, 0.05, -0.01, 0.04, 0.03]
    den = [0.10, 0.12, 0.08, 0.11, 0.09]
    f = recovery.fieller_ratio(num, den)
    assert f["ratio"] == pytest.approx(np.mean(num) / np.mean(den))
    lo, hi = f["ci95"]
    assert lo < f["ratio"] < hi
    q = recovery.t_quantile_975(4)
    for rho in (lo, hi):  # at each bound the paired t-statistic of num − rho·den is ±t_{0.975}
        d = np.subtract(num, rho * np.asarray(den))
        assert abs(d.mean() / (d.std(ddof=1) / math.sqrt(5))) == pytest.approx(q, rel=1e-6)
    assert recovery.fieller_ratio(num, [0.1, -0.1, 0.05, -0.05, 0.0])["ci95"] is None  # denominator not away from 0: unbounded


def test_recovery_share_extremes():
    probe_dense, probe_sparse = [0.95, 0.93, 0.96], [0.85, 0.86, 0.84]
    full = recovery.recovery_share(probe_dense, probe_sparse, [0.9, 0.8, 0.85], [0.9, 0.8, 0.85])  # no accuracy gap left
    assert full["share"] == pytest.approx(1.0)
    none = recovery.recovery_share(probe_dense, probe_sparse, [0.9, 0.8, 0.85], [0.8, 0.73, 0.73])  # the whole gap kept
    assert none["share"] == pytest.approx(0.0)


def test_graded_scores_by_hand():
    scores = np.log(np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]]))
    g = knowledge_probe.graded_scores(scores, np.array([0, 2]))
    assert g["right"].tolist() == [1.0, 0.0]
    assert g["p_correct"] == pytest.approx([0.7, 0.3])
    assert g["margin"] == pytest.approx([math.log(0.7 / 0.2), math.log(0.3 / 0.5)])


def test_paraphrase_probe_wordings_never_occur_in_the_corpus():
    text = " ".join(synthetic_corpus(recovery.PRETRAIN["n_docs"], seed=0, profiles_per_drug=recovery.PRETRAIN["profiles"])).lower()
    world = default_world()
    prefix, _ = recovery.PROBES["paraphrase"]
    for disease in world.diseases:  # the frame itself
        assert prefix.format(d=disease, x="").strip(", ").lower() not in text
    for drug in world.catalogue[::7]:
        for p, c in recovery.probe_sentences("paraphrase", drug):
            assert f"{p} {c}".lower() not in text
    seen = [f"{p} {c}".lower() in text for drug in world.catalogue[::7] for p, c in recovery.probe_sentences("corpus", drug)[:1]]
    assert any(seen)  # the corpus probe does use the corpus' own sentences (so the check above can find one)
    for verb in ("brought", "where it was", "helped only some"):  # the paraphrase's verbs are new words here
        assert verb not in text


def test_closed_book_splits_have_the_test_label_mix():
    sizes = (recovery.FINETUNE["n_train"], recovery.FINETUNE["n_val"], recovery.FINETUNE["n_test"])
    for seed in (0, 3):
        for part, n in zip(synthetic_pubmedqa_splits(sizes, seed, evidence="knowledge"), sizes):
            answers = [r["final_decision"] for r in part.values()]
            assert [answers.count(a) for a in ("yes", "no", "maybe")] == exact_counts(n, (5, 3, 1))


@pytest.mark.slow
def test_a_miniature_run_is_paired_cached_and_keeps_histories(tmp_path):
    pre = dict(profiles=1, n_docs=60, merges=150, batch_size=2, n_layer=1, n_head=2, eval_batches=1, eval_every=0)
    regime = dict(n_embd=32, steps=3, lr={"0": 5e-3, "0.75": 5e-3})
    ft = dict(n_train=9, n_val=9, n_test=9, epochs=1, patience=1, grid_lrs=(1e-3, 3e-3), seeds=2)
    arms = tuple(a for a in recovery.ARMS if a.name in ("none", "dense", "s75", "s75-sparse-ft"))
    first = recovery.run(2, tmp_path, arms, regime, ft, log=lambda s: None, pretrain=pre, few_seeds=1)
    again = recovery.run(2, tmp_path, arms, regime, ft, log=lambda s: None, pretrain=pre, few_seeds=1)  # all reused
    assert again["arms"] == first["arms"] and again["starts"] == first["starts"]
    s75, sparse_ft = first["arms"]["s75"], first["arms"]["s75-sparse-ft"]
    assert len(s75) == 2 and len(sparse_ft) == 1 and sparse_ft[0]["lr"] == s75[0]["lr"]  # the ablation takes the 75% start's lr
    assert [g["lr"] for g in s75[0]["grid"]] == [1e-3, 3e-3] and all(len(g["history"]) >= 1 for g in s75[0]["grid"])
    assert len(s75[0]["history_per_seed"]) == 2 and s75[0]["accuracy"] == pytest.approx(np.mean(s75[0]["accuracy_per_seed"]))
    assert sparse_ft[0]["reactivated_weights"] == 0 < s75[0]["reactivated_weights"]
    assert first["starts"]["none"][0]["final_loss"] > 4 and first["summary"]["arms"]["none"]["flops"]["pretrain_analytic"] == 0.0
    probe = first["starts"]["0"][0]["probe"]
    assert len(probe["per_drug"]["name"]) == 108 and probe["test_corpus"]["p_correct"] == pytest.approx(np.mean(probe["per_drug"]["corpus"]["p_correct"]), abs=1e-4)


def _recompute(res: dict) -> dict:
    """The quoted numbers, from the raw per-seed values only (never from the JSON's summary)."""
    arms, starts = res["arms"], res["starts"]
    acc = {name: [float(np.mean(r["accuracy_per_seed"])) for r in rows] for name, rows in arms.items()}
    probe = {s: [float(np.mean(r["probe"]["per_drug"]["corpus"]["right"])) for r in rows] for s, rows in starts.items()}
    p_correct = {s: [float(np.mean(r["probe"]["per_drug"]["corpus"]["p_correct"])) for r in rows] for s, rows in starts.items()}
    out = {"acc": acc, "probe": probe, "p_correct": p_correct}
    out["acc_gap"] = {k: recovery.paired_difference(acc[k], acc["dense"][: len(acc[k])]) for k in ("s50", "s75", "none")}
    out["probe_gap"] = {k: recovery.paired_difference(p_correct[s], p_correct["0"]) for k, s in (("s50", "0.5"), ("s75", "0.75"))}
    out["argmax_gap"] = {k: recovery.paired_difference(probe[s], probe["0"]) for k, s in (("s50", "0.5"), ("s75", "0.75"))}
    out["share"] = {k: recovery.recovery_share(probe["0"], probe[s], acc["dense"], acc[k]) for k, s in (("s50", "0.5"), ("s75", "0.75"))}
    out["tost"] = {k: recovery.tost(acc[k], acc["dense"], recovery.TOST_MARGIN) for k in ("s50", "s75")}
    out["ablation"] = {k: recovery.paired_difference(acc[k], acc["s75"][: len(acc[k])]) for k in recovery.ABLATIONS if k in acc}
    return out


def test_committed_results_recompute_from_raw_values():
    if not RESULTS.is_file():
        pytest.skip("benchmarks/results/downstream_recovery.json not written yet")
    res = json.loads(RESULTS.read_text())
    s, again = res["summary"], _recompute(res)
    assert res["seeds"] >= 5
    for name, values in again["acc"].items():
        assert s["arms"][name]["accuracy"]["per_seed"] == pytest.approx(values)
        assert all(len(r["accuracy_per_seed"]) >= 3 for r in res["arms"][name])  # >= 3 fine-tuning seeds each
    for k in ("s50", "s75"):
        rec = s["recovery"][k]
        assert rec["probe_gap"]["probe_p_correct"]["ci95"] == pytest.approx(again["probe_gap"][k]["ci95"], abs=1e-4)
        assert rec["accuracy_gap"]["ci95"] == pytest.approx(again["acc_gap"][k]["ci95"])
        assert rec["share"]["share"] == pytest.approx(again["share"][k]["share"])
        assert s["arms"][k]["tost_vs_dense"]["p"] == pytest.approx(again["tost"][k]["p"])
    for k, d in again["ablation"].items():
        assert s["arms"][k]["accuracy_minus_s75"]["ci95"] == pytest.approx(d["ci95"])
    stuck = sum(share >= recovery.STUCK_SHARE and start["knowledge_probe"] >= recovery.STUCK_PROBE
                for name, rows in res["arms"].items() for row, start in zip(rows, res["starts"][s["arms"][name]["start"]])
                for share in row["majority_share_per_seed"])  # fmt: skip
    assert s["stuck"]["count"] == stuck
    none = again["acc"]["none"]
    assert np.allclose(none, [r["majority_accuracy"] for r in res["arms"]["none"]], atol=0.02)  # no pre-training: the majority class


def test_quoted_numbers_match_the_recomputation():
    """Every number the write-up (downstream_recovery.md, tutorial 07) quotes is recomputed here."""
    if not RESULTS.is_file():
        pytest.skip("benchmarks/results/downstream_recovery.json not written yet")
    again = _recompute(json.loads(RESULTS.read_text()))
    md = (REPO_ROOT / "benchmarks" / "results" / "downstream_recovery.md").read_text()
    nb = (REPO_ROOT / "tutorials" / "07_finetune_soft_prompts.ipynb").read_text()

    def ci(d):
        return f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"

    quoted = [ci(again["probe_gap"]["s75"]), ci(again["acc_gap"]["s75"]), ci(again["acc_gap"]["s50"])]
    quoted += [f"{np.mean(again['acc'][k]):.3f} ± {np.std(again['acc'][k], ddof=1):.3f}" for k in ("dense", "s50", "s75")]
    for text in quoted:
        assert text in md, f"{text} not in downstream_recovery.md"
        assert text in nb, f"{text} not in tutorial 07"


def test_committed_pilot_points_recompute():
    if not PILOT.is_file():
        pytest.skip("benchmarks/results/recovery_pilot.json not written yet")
    pilot = json.loads(PILOT.read_text())
    assert len(pilot["points"]) >= 6 and pilot["seeds"] >= 3
    for p in pilot["points"]:
        v = p["test_corpus.p_correct"]["per_seed"]
        assert p["test_corpus.p_correct"]["gap_75_minus_dense"]["ci95"] == pytest.approx(recovery.paired_difference(v["0.75"], v["0.0"])["ci95"])
