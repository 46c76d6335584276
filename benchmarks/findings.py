"""The paper's pre-training findings at classroom scale, with seeds and paired intervals.

    (a) 50% sparse pre-training tracks the dense loss closely; 75% leaves a larger gap
        (paper Fig. 2, Table 2);
    (b) a larger sparse model beats a smaller dense one with the same number of active
        non-embedding parameters (Sec. 3.4: XL at 75% vs dense Med), and how it fares
        against a dense model of equal training FLOPs;
    (d) FLOP savings from the same sparsity grow with model size (Table 6).

Finding (c), dense fine-tuning recovering the sparse models' downstream accuracy, needs
its own corpus and a closed-book task: ``benchmarks/downstream_recovery.py``.

Every run is the ``--tiny`` recipe (``python -m mediswift_np.pretrain --tiny``: 400 steps
of 8 windows of 128 tokens, peak lr 2e-3) on the embedded synthetic corpus; a seed changes
the corpus, the initialisation, the masks and the data order. Differences are paired by
seed, with a 95% t-interval.

    python benchmarks/findings.py                 # a, b and d, 3 seeds (~15 min on 2 idle cores)
    python benchmarks/findings.py --only a d --seeds 2

Prints markdown tables and writes ``--results``/findings.json (committed: tutorial 06 and
the results page quote it). ``--work`` keeps the checkpoints, so a rerun reuses them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from mediswift_np import flops
from mediswift_np.config import PRESETS
from mediswift_np.pretrain import PretrainConfig, train
from mediswift_np.recovery import paired_difference
from mediswift_np.runtime import machine_line
from mediswift_np.stats import format_ci as fmt_ci
from mediswift_np.tasks.evaluation import mean_std

RESULTS = Path(__file__).parent / "results"
SPARSITIES = (0.0, 0.5, 0.75)


def fmt(values: list[float]) -> str:
    m, s = mean_std(values)
    return f"{m:.3f} ± {s:.3f}"


def pretrain(work: Path, name: str, seed: int, **kw) -> dict:
    out = work / f"{name}-seed{seed}"
    if (out / "summary.json").is_file():
        return json.loads((out / "summary.json").read_text())
    summary = train(PretrainConfig(seed=seed, **kw), out, progress=False)
    (out / "summary.json").write_text(json.dumps(summary))
    print(f"  pre-trained {name} seed {seed}: val loss {summary['final_loss']:.3f} ({summary['wall_seconds']:.0f} s)", flush=True)
    return summary


def finding_a(work: Path, seeds: int) -> dict:
    runs = {str(s): [pretrain(work, f"tiny-s{s}", seed, sparsity=s) for seed in range(seeds)] for s in SPARSITIES}
    losses = {s: [r["final_loss"] for r in v] for s, v in runs.items()}
    gaps = {s: paired_difference(v, losses["0.0"]) for s, v in losses.items() if s != "0.0"}
    print("\n(a) sparse pre-training vs dense (--tiny recipe, final validation loss)\n")
    print("| sparsity | validation loss | gap to dense, paired [95% CI] |\n|---|---|---|")
    for s, v in losses.items():
        print(f"| {float(s):.0%} | {fmt(v)} | {fmt_ci(gaps[s]) if s in gaps else '—'} |")
    first = runs["0.0"][0]
    return {"final_loss": losses, "gap_to_dense": gaps, "vocab_size": [r["vocab_size"] for r in runs["0.0"]],
            "tokens": first["tokens"], "steps": first["steps"], "initial_loss": {s: [r["initial_loss"] for r in v] for s, v in runs.items()}}


def iso_flop_width(cfg, seq_len: int, target: float, tokens: int) -> int:
    """The even width d (2 heads) whose dense training FLOPs come closest to ``target``."""
    return min(range(64, 129, 2), key=lambda d: abs(flops.training_flops(cfg.with_(n_embd=d, n_head=2), seq_len, 0.0, tokens=tokens) - target))


def finding_b(work: Path, seeds: int) -> dict:
    """75% sparse d = 128 against dense d = 64 (equal active non-embedding parameters:
    12·L·64² = 12·L·128²·(1 − 0.75)) and against the dense width of equal training FLOPs."""
    rows: dict[str, list[dict]] = {"sparse75-d128": [], "dense-d64": [], "dense-iso-flops": []}
    widths = {"sparse75-d128": 128, "dense-d64": 64}
    for seed in range(seeds):
        sparse = pretrain(work, "tiny-s0.75", seed, sparsity=0.75)
        base = PretrainConfig(sparsity=0.75).validate()
        d_iso = iso_flop_width(base.model_config(sparse["vocab_size"]), base.seq_len, sparse["flops_analytic"], sparse["tokens"])
        widths["dense-iso-flops"] = d_iso  # the same for every seed unless the vocabulary size moves it
        rows["sparse75-d128"].append(sparse)
        rows["dense-d64"].append(pretrain(work, "dense-d64", seed, n_embd=64, n_head=2))
        rows["dense-iso-flops"].append(pretrain(work, f"dense-d{d_iso}", seed, n_embd=d_iso, n_head=2))
    out = {}
    print("\n(b) a larger sparse model vs smaller dense ones (L = 4, --tiny recipe)\n")
    print("| model | d | active non-embedding params | training FLOPs | validation loss | sparse − this [95% CI] |\n|---|---:|---:|---:|---|---|")
    sparse_losses = [r["final_loss"] for r in rows["sparse75-d128"]]
    for name, runs in rows.items():
        r = runs[0]
        cfg = PretrainConfig(n_embd=widths[name], n_head=2 if name != "sparse75-d128" else 0).model_config(r["vocab_size"])
        active = flops.n_active_non_embedding_params(cfg, r["sparsity"])
        losses = [x["final_loss"] for x in runs]
        diff = paired_difference(sparse_losses, losses) if name != "sparse75-d128" else None
        out[name] = {"n_embd": widths[name], "active_non_embedding_params": active, "flops_analytic": [x["flops_analytic"] for x in runs],
                     "final_loss": losses, "sparse_minus_this": diff}
        print(f"| {name} | {widths[name]} | {active:,} | {r['flops_analytic']:.3e} | {fmt(losses)} | {fmt_ci(diff) if diff else '—'} |")
    return out


def finding_d() -> dict:
    print("\n(d) training-FLOP savings (dense / sparse, App. F with the paper's embedding convention)\n")
    print("| model | non-embedding params | savings at 50% | savings at 75% |\n|---|---:|---:|---:|")
    res = {}
    for name in ("tiny", "small", "med", "large", "xl"):
        cfg = PRESETS[name]
        sv = [flops.flop_savings(cfg, cfg.n_ctx, s) for s in (0.5, 0.75)]
        res[name] = {"vocab_size": cfg.vocab_size, "seq_len": cfg.n_ctx, "non_embedding_params": cfg.n_params(embeddings=False),
                     "savings_50": sv[0], "savings_75": sv[1]}
        print(f"| {name} | {cfg.n_params(embeddings=False):,} | {sv[0]:.2f}× | {sv[1]:.2f}× |")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=list("abd"), default=list("abd"))
    ap.add_argument("--work", type=Path, default=None, help="checkpoints (default: a temporary folder); a rerun reuses them")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where findings.json goes")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="findings-"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    start = time.perf_counter()
    results = {"recipe": "python -m mediswift_np.pretrain --tiny", "seeds": args.seeds, "machine": machine_line()}
    for key, fn in (("a", finding_a), ("b", finding_b)):
        if key in args.only:
            results[key] = fn(work, args.seeds)
    if "d" in args.only:
        results["d"] = finding_d()
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "findings.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{time.perf_counter() - start:.0f} s; results in {args.results / 'findings.json'}")


if __name__ == "__main__":
    main()
