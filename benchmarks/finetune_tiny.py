"""Dense fine-tuning of the ``--tiny`` checkpoints on synthetic and real tasks (paper Sec. 4, at tiny scale).

Pre-trains ``python -m mediswift_np.pretrain --tiny`` dense and at 75% sparsity, then
fine-tunes each with the ``finetune`` command line's defaults (soft prompt n = 9 for
PubMedQA, n = 1 for HoC, AdamW 1e-3, 10% warmup + cosine, early stopping, 3 seeds) on

- the synthetic (open-book) PubMedQA task, whose answer is stated in its context;
- real PQA-L (``ori_pqal.json``; the official 500-question test split);
- real sentence-level HoC, subsampled to 2,000 / 200 / 1,000 sentences, 3 epochs.

The real tasks need the data folder (``--data``, default ../shared/data beside the
repository); without it only the synthetic rows run. Every command's JSON is kept in
``--work``, and a rerun reuses it.

    python benchmarks/finetune_tiny.py --work runs/finetune-tiny     # ~30 min on 2 cores

Writes ``--results``/finetune_tiny.json (committed; the results page quotes it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ("accuracy", "accuracy_std", "macro_f1", "macro_f1_std", "micro_f1", "micro_f1_std", "majority_accuracy",
        "majority_macro_f1", "majority_micro_f1", "n_train", "n_val", "n_test", "truncated_test_sources", "unparseable")  # fmt: skip


def run(work: Path, name: str, module: str, *args: str) -> dict:
    """``python -m mediswift_np.<module> ARGS --quiet --json`` in ``work``, its last stdout line kept as NAME.json."""
    out = work / f"{name}.json"
    if not out.is_file():
        proc = subprocess.run([sys.executable, "-m", f"mediswift_np.{module}", *args, "--quiet", "--json"], cwd=work,
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            sys.exit(f"{name}: {proc.stderr.strip()}")
        out.write_text(proc.stdout.strip().splitlines()[-1] + "\n")
        print(f"{name}: done", flush=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/finetune-tiny"))
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.data.resolve()
    tasks = {"synthetic PubMedQA (open book)": ("syn", ["--task", "pubmedqa", "--synthetic", "--seeds", "3"])}
    if (data / "pubmedqa" / "ori_pqal.json").is_file():
        tasks["real PQA-L"] = ("pqal", ["--task", "pubmedqa", "--data", str(data / "pubmedqa" / "ori_pqal.json"), "--seeds", "3"])
    if (data / "hoc" / "train.tsv").is_file():  # BioGPT's train.tsv and test.tsv share the sentence "Conclusion ."
        tasks["real HoC, sentence level"] = ("hoc", ["--task", "hoc", "--data", str(data / "hoc"), "--allow-overlap", "true",
                                                     "--max-train", "2000", "--max-val", "200", "--max-test", "1000",
                                                     "--epochs", "3", "--seeds", "3"])  # fmt: skip
    results: dict = {"pretrain": {}, "finetune": {}, "commands": {}}
    for start, sparsity in (("dense", "0"), ("s75", "0.75")):
        summary = run(args.work, start, "pretrain", "--tiny", "--sparsity", sparsity, "--out", start)
        results["pretrain"][start] = {k: summary[k] for k in ("final_loss", "sparsity", "vocab_size")}
        for task, (short, flags) in tasks.items():
            ft = run(args.work, f"{short}-{start}", "finetune", "--init", start, *flags, "--out", f"ft-{short}-{start}")
            results["finetune"].setdefault(task, {})[start] = {k: ft.get(k) for k in KEYS}
            results["commands"][task] = "python -m mediswift_np.finetune --init CKPT " + " ".join(
                f if not f.startswith(str(data)) else f.replace(str(data), "DATA") for f in flags)  # fmt: skip
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "finetune_tiny.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"results in {args.results / 'finetune_tiny.json'}")


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # each command is small; one BLAS thread is fastest
    main()
