"""Where does sparse pre-training lose knowledge? The pilot behind the recovery experiment's regime.

MediSwift's recovery claim (Sec. 2.2, Table 3) needs a regime where the sparse start
knows *less* than the dense one before fine-tuning. This pilot pre-trains dense and 75%
sparse models on the closed-book corpus (recovery.PRETRAIN) at six (width, steps) points, three seeds each (a seed fixes corpus, initialisation, masks and data order, so
dense and 75% are paired), and reports at each point the graded knowledge probe
(recovery.graded_probe) and the paired 75% − dense difference with its 95% t-interval.
A small learning-rate sweep, the same for every sparsity, picks each sparsity's
pre-training lr on validation loss at the candidate regime point.

    python benchmarks/recovery_pilot.py                       # everything, one process
    python benchmarks/recovery_pilot.py --shard 0/2 &         # or two processes sharing the work ...
    python benchmarks/recovery_pilot.py --shard 1/2
    python benchmarks/recovery_pilot.py                       # ... then once more to collect (all reused)

Writes ``--out``/recovery_pilot.json; checkpoints stay in ``--work`` and are reused.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mediswift_np import recovery
from mediswift_np.stats import format_ci as ci
from mediswift_np.tasks.evaluation import mean_std

POINTS, SEEDS = ((16, 500), (16, 1000), (32, 500), (32, 1000), (48, 1000), (64, 1000)), 3  # (width, steps)
SWEEP_POINT, SWEEP_LRS, SWEEP_SPARSITIES, SWEEP_SEEDS = (32, 1000), (2.5e-3, 5e-3, 1e-2, 2e-2), (0.0, 0.5, 0.75), 1
PILOT_LR = 5e-3  # the grid's lr (the closed-book recipe's); the sweep checks it per sparsity
METRICS = ("test_corpus", "all_corpus", "test_paraphrase")  # probe parts reported (see recovery.graded_probe)


def config(width: int, steps: int, lr: float, sparsity: float, seed: int) -> dict:
    return {**recovery.PRETRAIN, "n_embd": width, "steps": steps, "lr": lr, "sparsity": sparsity, "seed": seed}


def items() -> list[dict]:
    """Every pre-training run of the pilot, grouped by seed (one tokenization per seed and process)."""
    grid = [config(w, n, PILOT_LR, s, seed) for seed in range(SEEDS) for w, n in POINTS for s in (0.0, 0.75)]
    sweep = [config(*SWEEP_POINT, lr, s, seed) for seed in range(SWEEP_SEEDS) for lr in SWEEP_LRS for s in SWEEP_SPARSITIES]
    unique = {json.dumps(c, sort_keys=True): c for c in grid + sweep}
    return sorted(unique.values(), key=lambda c: (c["seed"], c["n_embd"], c["steps"], c["lr"], c["sparsity"]))


def point_summary(rows: dict[float, list[dict]]) -> dict:
    """Dense and 75% at one point: per-seed probes and losses, and the paired 75% − dense differences."""
    out: dict = {}
    for key in ("final_loss",):
        out[key] = {str(s): [r[key] for r in rs] for s, rs in rows.items()}
        out[f"{key}_75_minus_dense"] = recovery.paired_difference(out[key]["0.75"], out[key]["0.0"])
    for part in METRICS:
        for stat in ("p_correct", "right", "margin"):
            per_seed = {str(s): [r["probe"][part][stat] for r in rs] for s, rs in rows.items()}
            mean = {s: mean_std(v) for s, v in per_seed.items()}
            out[f"{part}.{stat}"] = {"per_seed": per_seed, "mean_std": mean,
                                     "gap_75_minus_dense": recovery.paired_difference(per_seed["0.75"], per_seed["0.0"])}  # fmt: skip
    out["wall_seconds"] = sum(r["wall_seconds"] for rs in rows.values() for r in rs)
    return out


def collect(work: Path) -> dict:
    results: dict = {"pretrain": recovery.PRETRAIN, "points_width_steps": POINTS, "seeds": SEEDS, "lr": PILOT_LR,
                     "points": [], "sweep": {}}  # fmt: skip
    for w, n in POINTS:
        rows = {s: [recovery.pretrained(recovery.run_dir(work, c := config(w, n, PILOT_LR, s, seed)), c) for seed in range(SEEDS)] for s in (0.0, 0.75)}
        results["points"].append({"n_embd": w, "steps": n, **point_summary(rows)})
    for s in SWEEP_SPARSITIES:
        losses = {f"{lr:g}": [recovery.pretrained(recovery.run_dir(work, c := config(*SWEEP_POINT, lr, s, seed)), c)["final_loss"]
                              for seed in range(SWEEP_SEEDS)] for lr in SWEEP_LRS}  # fmt: skip
        best = min(losses, key=lambda lr: np.mean(losses[lr]))
        results["sweep"][f"{s:g}"] = {"val_loss_per_seed": losses, "mean": {k: float(np.mean(v)) for k, v in losses.items()}, "best_lr": float(best)}
    results["sweep_point"] = {"n_embd": SWEEP_POINT[0], "steps": SWEEP_POINT[1], "seeds": SWEEP_SEEDS}
    return results


def table(results: dict) -> str:
    lines = ["| width | steps | dense probe p(correct) | 75% probe p(correct) | gap 75% − dense [95% CI] | argmax gap [95% CI] "
             "| all 360 drugs gap [95% CI] | paraphrase gap [95% CI] | val. loss 75% − dense [95% CI] |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip

    for p in results["points"]:
        m = p["test_corpus.p_correct"]["mean_std"]
        lines.append(f"| {p['n_embd']} | {p['steps']} | {m['0.0'][0]:.3f} ± {m['0.0'][1]:.3f} | {m['0.75'][0]:.3f} ± {m['0.75'][1]:.3f} "
                     f"| {ci(p['test_corpus.p_correct']['gap_75_minus_dense'])} | {ci(p['test_corpus.right']['gap_75_minus_dense'])} "
                     f"| {ci(p['all_corpus.p_correct']['gap_75_minus_dense'])} | {ci(p['test_paraphrase.p_correct']['gap_75_minus_dense'])} "
                     f"| {ci(p['final_loss_75_minus_dense'])} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/recovery-pilot"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--shard", default="", help="i/n: run only every n-th pre-training run starting at i (no JSON written)")
    args = ap.parse_args()
    todo = items()
    if args.shard:
        i, n = map(int, args.shard.split("/"))
        for c in todo[i::n]:
            t0 = time.perf_counter()
            row = recovery.pretrained(recovery.run_dir(args.work, c), c)
            print(f"{recovery.run_dir(args.work, c).name}: val loss {row['final_loss']:.3f}, probe {row['probe']['test_corpus']['p_correct']:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        return
    results = collect(args.work)
    results["compute_seconds"] = round(sum(float(json.loads((recovery.run_dir(args.work, c) / "summary.json").read_text())["wall_seconds"]) for c in todo), 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recovery_pilot.json").write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    print("lr sweep (mean validation loss):", {s: v["mean"] for s, v in results["sweep"].items()})


if __name__ == "__main__":
    main()
