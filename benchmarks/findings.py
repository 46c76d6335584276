"""The paper's findings at classroom scale, with seeds and error bars (issue: tutorials).

    (a) 50% sparse pre-training tracks the dense loss closely; 75% leaves a larger gap
        (paper Fig. 2, Table 2);
    (b) a larger sparse model beats a smaller dense one with the same number of active
        non-embedding parameters (Sec. 3.4: XL at 75% vs dense Med);
    (c) dense fine-tuning with a soft prompt recovers most of the gap on the downstream
        task (Sec. 4, Tables 3-4): see benchmarks/downstream_recovery.py, which needs its
        own pre-training corpus (drug profiles) and a closed-book task;
    (d) FLOP savings from the same sparsity grow with model size (Table 6).

Everything runs on the embedded synthetic corpus and the synthetic PubMedQA-style task
with the ``--tiny`` recipe (``python -m mediswift_np.pretrain --tiny``); each number is
mean ± sample std over ``--seeds`` seeds (pre-training seed = fine-tuning seed offset).

    python benchmarks/findings.py                 # a, b and d, 3 seeds (~15 min on 2 cores)
    python benchmarks/findings.py --only a d --seeds 2

Results print as markdown tables and are written to ``--out``/findings.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from mediswift_np import flops
from mediswift_np.config import PRESETS
from mediswift_np.pretrain import PretrainConfig, train


def mean_std(values: list[float]) -> str:
    m = statistics.mean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.3f} ± {s:.3f}"


def pretrain(work: Path, name: str, seed: int, **kw) -> dict:
    out = work / f"{name}-seed{seed}"
    if (out / "summary.json").is_file():
        return json.loads((out / "summary.json").read_text())
    summary = train(PretrainConfig(seed=seed, **kw), out, progress=False)
    (out / "summary.json").write_text(json.dumps(summary))
    print(f"  pre-trained {name} seed {seed}: val loss {summary['final_loss']:.3f} ({summary['wall_seconds']:.0f} s)", flush=True)
    return summary


def finding_a(work: Path, seeds: int, steps: int) -> dict:
    rows = {}
    for s in (0.0, 0.5, 0.75):
        rows[s] = [pretrain(work, f"tiny-s{s}", seed, sparsity=s, steps=steps)["final_loss"] for seed in range(seeds)]
    dense = rows[0.0]
    print("\n(a) sparse pre-training vs dense (tiny recipe, final validation loss)\n")
    print("| sparsity | val loss | gap to dense (paired per seed) |\n|---|---|---|")
    for s, losses in rows.items():
        gaps = [x - d for x, d in zip(losses, dense)]
        print(f"| {s:.0%} | {mean_std(losses)} | {mean_std(gaps) if s else '—'} |")
    return {str(s): v for s, v in rows.items()}


def finding_b(work: Path, seeds: int, steps: int) -> dict:
    # Equal active non-embedding weights in the six matrices: 12·L·d² (dense, d = 64) = 12·L·128²·(1-0.75).
    small = dict(n_embd=64, n_head=4)
    large = dict(n_embd=128, n_head=4, sparsity=0.75)
    res = {}
    for name, kw in (("dense-d64", small), ("sparse75-d128", large)):
        res[name] = [pretrain(work, name, seed, steps=steps, **kw) for seed in range(seeds)]
    print("\n(b) larger sparse vs smaller dense at equal active non-embedding parameters (L = 4)\n")
    print("| model | active non-embedding params | val loss | training FLOPs (analytic) |\n|---|---:|---|---:|")
    for name, runs in res.items():
        r = runs[0]
        cfg = PretrainConfig(**(small if name.startswith("dense") else large)).model_config(r["vocab_size"])
        active = flops.n_active_non_embedding_params(cfg, r["sparsity"])
        print(f"| {name} | {active:,} | {mean_std([x['final_loss'] for x in runs])} | {r['flops_analytic']:.3e} |")
    return {k: [x["final_loss"] for x in v] for k, v in res.items()}


def finding_d() -> dict:
    print("\n(d) training-FLOP savings (dense / sparse, App. F with the paper's embedding convention)\n")
    print("| model | non-embedding params | savings at 50% | savings at 75% |\n|---|---:|---:|---:|")
    res = {}
    for name in ("tiny", "small", "med", "large", "xl"):
        cfg = PRESETS[name]
        sv = [flops.flop_savings(cfg, cfg.n_ctx, s) for s in (0.5, 0.75)]
        res[name] = sv
        print(f"| {name} | {cfg.n_params(embeddings=False):,} | {sv[0]:.2f}× | {sv[1]:.2f}× |")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400, help="pre-training steps (the --tiny recipe's 400)")
    ap.add_argument("--only", nargs="+", choices=list("abd"), default=list("abd"))
    ap.add_argument("--out", type=Path, default=None, help="work directory (default: a temporary one); reruns reuse it")
    args = ap.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="findings-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = {}
    for key, fn in (("a", finding_a), ("b", finding_b)):
        if key in args.only:
            results[key] = fn(work, args.seeds, args.steps)
    if "d" in args.only:
        results["d"] = finding_d()
    (work / "findings.json").write_text(json.dumps(results, indent=2))
    print(f"\n{time.perf_counter() - start:.0f} s; results in {work / 'findings.json'}")


if __name__ == "__main__":
    main()
