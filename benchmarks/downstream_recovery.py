"""The paper's central downstream result at classroom scale: the Table 3 / Fig. 1 analog.

Does dense fine-tuning with a soft prompt recover, downstream, what sparse pre-training
lost? Starts: no pre-training, dense, 50% and 75% static sparsity on the same tokens,
each fine-tuned densely with n = 9 on the closed-book PubMedQA-style task (test drugs
unseen in fine-tuning), plus three ablations at 75% (sparse fine-tuning, n = 0, revived
weights random). See mediswift_np/recovery.py for the design.

    python benchmarks/downstream_recovery.py                      # 5 seeds, ~60 min on 2 cores
    python benchmarks/downstream_recovery.py --seeds 2 --work runs/recovery --json

Prints the markdown tables, writes ``--out``/downstream_recovery.json (the numbers the
README and tutorial 07 quote) and ``--out``/downstream_recovery.png (accuracy against
training FLOPs, the Fig. 1 analog). ``--work`` keeps the pre-trained checkpoints, so a
second run reuses them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from mediswift_np import recovery
from mediswift_np.fast.tuning import keep_freed_memory


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
    ap.add_argument("--work", type=Path, default=Path("runs/recovery"), help="checkpoints (reused when present)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where the JSON and the figure go")
    ap.add_argument("--curve-steps", default="", help="also pre-train dense and 75%% for these step counts (comma list) and fine-tune them")
    ap.add_argument("--curve-seeds", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    args = ap.parse_args()
    keep_freed_memory()
    curve = tuple(int(x) for x in args.curve_steps.split(",") if x.strip())
    results = recovery.run(args.seeds, args.work, log=lambda s: print(s, flush=True), curve_steps=curve, curve_seeds=args.curve_seeds)
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "downstream_recovery.json").write_text(recovery.to_json(results) + "\n")
    plot(results, args.out / "downstream_recovery.png")
    print()
    print(recovery.markdown(results["summary"]))
    print(f"\n{results['wall_seconds']:.0f} s now, {results['compute_seconds']:.0f} s for all runs when they ran; "
          f"results in {args.out / 'downstream_recovery.json'}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
