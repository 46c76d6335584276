"""The paper's central downstream result at classroom scale: the Table 3 / Fig. 1 analog.

Does dense fine-tuning with a soft prompt recover, downstream, what sparse pre-training
lost? Starts: no pre-training, dense, 50% and 75% static sparsity on the same tokens, in
the "lossy" regime the pilot chose (benchmarks/recovery_pilot.py), each fine-tuned
densely with n = 9 on the closed-book PubMedQA-style task (test drugs unseen in
fine-tuning; lr chosen on dev per start, 3 fine-tuning seeds), plus three ablations at 75%
(sparse fine-tuning, n = 0, revived weights random). See mediswift_np/recovery.py.

    python benchmarks/downstream_recovery.py                      # 5 seeds, lossy regime
    python benchmarks/downstream_recovery.py --seeds 1            # seed 0's rows only
    python benchmarks/downstream_recovery.py --shard 0/2 &        # two processes share the seeds ...
    python benchmarks/downstream_recovery.py --shard 1/2
    python benchmarks/downstream_recovery.py                      # ... then collect (all reused)
    python benchmarks/downstream_recovery.py --saturated-seeds 2  # also the saturated regime, dense and 75%

Prints the markdown tables, writes ``--out``/downstream_recovery.json (the numbers the
README and tutorial 07 quote) and ``--out``/downstream_recovery.png (per-seed accuracy
against training FLOPs, the Fig. 1 analog). ``--work`` keeps checkpoints and fine-tuning
results (shared with the pilot's), so a second run reuses them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from mediswift_np import recovery


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    recovery.plot_accuracy_vs_flops(ax, results)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path("runs/recovery"), help="checkpoints and fine-tuning results (reused when present)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where the JSON and the figure go")
    ap.add_argument("--shard", default="", help="i/n: run only seeds i, i+n, ... (nothing written to --out)")
    ap.add_argument("--saturated-seeds", type=int, default=0, help="also fine-tune dense and 75%% in the saturated regime on this many seeds")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    args = ap.parse_args()
    log = lambda s: print(s, flush=True)  # noqa: E731
    if args.shard:
        i, n = map(int, args.shard.split("/"))
        recovery.run(args.seeds, args.work, log=log, seed_ids=list(range(args.seeds))[i::n])
        return
    results = recovery.run(args.seeds, args.work, log=log)
    if args.saturated_seeds:
        arms = tuple(a for a in recovery.ARMS if a.name in ("none", "dense", "s75"))
        results["saturated"] = recovery.run(args.saturated_seeds, args.work, arms, recovery.REGIMES["saturated"], log=log)
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "downstream_recovery.json").write_text(recovery.to_json(results) + "\n")
    plot(results, args.out / "downstream_recovery.png")
    print()
    print(recovery.markdown(results["summary"]))
    if "saturated" in results:
        print("\nsaturated regime:\n" + recovery.markdown(results["saturated"]["summary"]))
    print(f"\n{results['wall_seconds']:.0f} s now, {results['compute_seconds']:.0f} s for all runs when they ran; "
          f"results in {args.out / 'downstream_recovery.json'}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
