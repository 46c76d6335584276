"""The numbers that the README and the results page (benchmarks/README.md) quote, recomputed
from the per-seed values in benchmarks/results/*.json: a mean, a sample std and a paired
t-interval computed here with scipy must appear in the text exactly as printed."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = (ROOT / "benchmarks" / "README.md").read_text()
README = (ROOT / "README.md").read_text()


def load(name):
    return json.loads((RESULTS / name).read_text())


def mean_std(values) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def paired(a, b) -> str:
    """mean of a − b and its 95% t-interval, printed with signs and minus signs as the page does."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lo, hi = stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=stats.sem(d))
    return f"{d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]".replace("-", "−")


def test_finding_a_is_quoted_from_the_seeds():
    a = load("findings.json")["a"]["final_loss"]
    for s in ("0.0", "0.5", "0.75"):
        assert mean_std(a[s]) in PAGE
    for s in ("0.5", "0.75"):
        gap = paired(a[s], a["0.0"])
        assert gap in PAGE
        assert gap in README.replace("\n  ", " ")


def test_finding_b_is_quoted_from_the_seeds():
    b = load("findings.json")["b"]
    sparse = b["sparse75-d128"]["final_loss"]
    for name in ("dense-d64", "dense-iso-flops"):
        assert mean_std(b[name]["final_loss"]) in PAGE
        assert paired(sparse, b[name]["final_loss"]) in PAGE
        assert paired(sparse, b[name]["final_loss"]) in README.replace("\n  ", " ")
    ratio = b["sparse75-d128"]["flops_analytic"][0] / b["dense-iso-flops"]["flops_analytic"][0]
    assert f"ratio {ratio:.3f}" in PAGE
    ratio = b["sparse75-d128"]["flops_analytic"][0] / b["dense-d64"]["flops_analytic"][0]
    assert f"({ratio:.2f}× the dense d = 64 model's)" in PAGE


def test_finding_d_savings_are_quoted():
    d = load("findings.json")["d"]
    names = {"tiny": "tiny preset", "small": "small preset", "med": "Med", "large": "Large", "xl": "XL"}
    for key, label in names.items():
        row = next(line for line in PAGE.splitlines() if line.startswith(f"| {label} "))
        assert f"| {d[key]['savings_50']:.2f}× | {d[key]['savings_75']:.2f}× |" in row


def test_finetune_rows_are_quoted():
    ft = load("finetune_tiny.json")["finetune"]
    rows = {"synthetic PubMedQA (open book)": ("accuracy",), "real PQA-L": ("accuracy", "macro_f1"),
            "real HoC, sentence level": ("micro_f1",)}
    for task, metrics in rows.items():
        for metric in metrics:
            dense, sparse = ft[task]["dense"], ft[task]["s75"]
            quoted = f"| {dense[metric]:.3f} ± {dense[metric + '_std']:.3f} | {sparse[metric]:.3f} ± {sparse[metric + '_std']:.3f} |"
            assert quoted in PAGE, (task, metric)


@pytest.mark.parametrize("sparsity", [0.75, 0.9])
def test_dst_rows_are_quoted(sparsity):
    runs = {r["method"]: r for r in load("dst_comparison.json") if r["sparsity"] == sparsity}
    for method, label in (("static", "static"), ("set", "SET"), ("rigl", "RigL")):
        r = runs[method]
        row = next(line for line in PAGE.splitlines() if line.startswith(f"| {sparsity:.0%} | {label} |"))
        assert f"| {r['steps']} | {r['flops']:.4e} |".replace("e+", "e") in row
        assert mean_std(r["val_loss"]) in row and mean_std(r["accuracy"]) in row
        if method != "static":
            assert paired(r["val_loss"], runs["static"]["val_loss"]) in row


START = {"none": "none", "dense": "0", "s50": "0.5", "s75": "0.75", "s75-sparse-ft": "0.75", "s75-no-prompt": "0.75", "s75-random-revived": "0.75"}


def test_recovery_numbers_are_quoted_from_the_seeds():
    """Probes from each start's per-drug probe summary, accuracies from each arm's fine-tuning
    seeds, gaps paired over pre-training seeds, the stuck count from the per-run majority shares."""
    r = load("downstream_recovery.json")
    readme = README.replace("\n  ", " ")
    probe = {s: [start["probe"]["test_corpus"]["p_correct"] for start in r["starts"][s]] for s in ("0", "0.5", "0.75")}
    acc = {a: [row["accuracy"] for row in r["arms"][a]] for a in ("dense", "s50", "s75")}
    assert f"probes {np.mean(probe['0']):.3f} / {np.mean(probe['0.5']):.3f} / {np.mean(probe['0.75']):.3f}" in PAGE
    gap = paired(probe["0.75"], probe["0"])
    assert f"75% − dense {gap}" in PAGE.replace("\n", " ") and f"probe gap {gap}" in readme
    means = " / ".join(mean_std(acc[a]) for a in ("dense", "s50", "s75"))
    assert f"accuracy after dense fine-tuning {means}" in PAGE.replace("\n", " ")
    diff = paired(acc["s75"], acc["dense"])
    assert f"75% − dense is {diff}" in PAGE.replace("\n", " ") and f"75% − dense is {diff}" in readme
    stuck = sum(share >= 0.95 and start["knowledge_probe"] >= 0.9  # nearly all answers the majority; the start knew the facts
                for arm, rows in r["arms"].items() for row, start in zip(rows, r["starts"][START[arm]])
                for share in row["majority_share_per_seed"])  # fmt: skip
    runs = sum(len(row["majority_share_per_seed"]) for rows in r["arms"].values() for row in rows)
    assert f"{stuck} of {runs} runs" in PAGE.replace("\n", " ") and f"{stuck} of {runs} fine-tuning runs" in readme
