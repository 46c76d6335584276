"""Does dense fine-tuning recover what sparse pre-training lost? (paper Sec. 2.2, Table 3, Fig. 1)

The experiment behind ``benchmarks/downstream_recovery.py`` and tutorial 07, on the
closed-book PubMedQA-style task (data/closed_book.py): its test questions are about
drugs that no fine-tuning example mentions, so only facts learned in pre-training can
lift accuracy above the majority class.

For every seed (which fixes the corpus, the initialisation, the masks, the data order
and the drug split), one pre-training run per sparsity on the same tokens, and one
"start" without pre-training (the initialised model, ``pretrain --steps 0``). Each start
is fine-tuned the paper's way -- dense (masks removed, reactivated weights from 0) with
a soft prompt of n = 9 -- and the 75% start also in three ablations:

    sparse-ft      masks kept during fine-tuning (SPDF's sparse arm; Sec. 2.2.1)
    no-prompt      n = 0: plain dense fine-tuning (Sec. 2.2.2)
    random-revived reactivated weights start from a random initialisation, not 0

Reported per arm: accuracy and macro-F1 (mean ± sample std over seeds), the paired
difference to the dense start with a 95% t-interval, and training FLOPs (pre-training
analytic + fine-tuning counted). Pre-trained checkpoints are kept in the work folder and
reused when the experiment is run again.

Does not handle: HoC (its labels follow from cue words in the sentence, so it cannot
show what pre-training knows), several processes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import checkpoint
from .autograd import no_grad
from .data.closed_book import OUTCOME_FIRST, split_catalogue
from .data.world import OUTCOMES, default_world
from .finetune import FinetuneConfig, finetune
from .functional import log_softmax
from .tasks.evaluation import mean_std
from .pretrain import PretrainConfig, train

# What the closed-book experiment pre-trains on: a corpus where the 360 catalogue drugs'
# profiles outweigh the abstracts, long enough for the facts to be learned (see the README).
PRETRAIN = dict(profiles=24, n_docs=300, merges=2000, steps=1000, batch_size=8, lr=5e-3)
FINETUNE = dict(task="pubmedqa", synthetic_evidence="knowledge", n_train=400, n_val=48, n_test=300,
                epochs=8, patience=3, seeds=1)  # fmt: skip


@dataclass(frozen=True)
class Arm:
    """One fine-tuning of one start."""

    name: str
    start: str  # "none" or a sparsity such as "0.75"
    finetune: dict = field(default_factory=dict)  # FinetuneConfig fields that differ from FINETUNE
    label: str = ""


ARMS = (
    Arm("none", "none", label="no pre-training"),
    Arm("dense", "0", label="dense pre-training"),
    Arm("s50", "0.5", label="50% sparse pre-training"),
    Arm("s75", "0.75", label="75% sparse pre-training"),
    Arm("s75-sparse-ft", "0.75", {"keep_masks": True}, "75%, sparse fine-tuning (masks kept)"),
    Arm("s75-no-prompt", "0.75", {"prompt_len": 0}, "75%, no soft prompt (n = 0)"),
    Arm("s75-random-revived", "0.75", {"revived_init": "random"}, "75%, revived weights random"),
)
ABLATIONS = {"s75-sparse-ft": "(a) sparse vs dense fine-tuning", "s75-no-prompt": "(b) soft prompt n = 0 vs 9",
             "s75-random-revived": "(c) revived weights random vs 0"}  # fmt: skip


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (scipy.stats)."""
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def paired_difference(a: list[float], b: list[float]) -> dict[str, float]:
    """Mean of a − b over paired seeds, its sample std, and the 95% t-interval of the mean.

    Example:
        >>> d = paired_difference([0.8, 0.7, 0.9], [0.5, 0.5, 0.6])
        >>> round(d["mean"], 3), round(d["ci95"][0], 3), round(d["ci95"][1], 3)
        (0.267, 0.123, 0.41)
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = diff.size
    mean = float(diff.mean())
    std = float(diff.std(ddof=1)) if n > 1 else 0.0
    half = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else math.inf
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n}


def knowledge_probe(directory: Path, seed: int) -> float:
    """What a pre-trained model knows *before* fine-tuning: the share of the seed's test drugs
    whose trial outcome it prefers as a continuation.

    For each test drug the model scores ``In {disease}, {drug}`` followed by each outcome's
    first wording in the profiles (``lowered`` / ``did not lower`` / ``had mixed effects``),
    summing the log-probabilities of the continuation's tokens, and picks the highest.
    An untrained model prefers the one-token ``lowered`` and so scores the share of
    ``reduced`` drugs, 5/9.
    """
    model, tok, _ = checkpoint.load_model(directory)
    model.eval()
    options = [OUTCOME_FIRST[o][0].split("{x}")[1].split(" {m}")[0] for o in OUTCOMES]  # " lowered", " did not lower", ...
    drugs = split_catalogue(default_world(), seed)["test"]
    prefixes = [tok.encode(f"In {drug.disease}, {drug.name}") for drug in drugs]
    seqs = [p + tok.encode(option.strip()) for p in prefixes for option in options]  # every drug × every option, one batch
    x = np.zeros((len(seqs), max(map(len, seqs))), dtype=np.int64)
    for i, ids in enumerate(seqs):
        x[i, : len(ids)] = ids
    with no_grad():
        logits, _ = model(x)  # (n·3, T, V)
        logp = log_softmax(logits).data
    scores = np.array([sum(logp[i, t - 1, ids[t]] for t in range(len(prefixes[i // len(options)]), len(ids))) for i, ids in enumerate(seqs)])
    chosen = scores.reshape(len(drugs), len(options)).argmax(axis=1)
    correct = sum(OUTCOMES[int(k)] == drug.outcome for k, drug in zip(chosen, drugs))
    return correct / len(drugs)


def start_dir(work: Path, start: str, seed: int, steps: int | None = None) -> Path:
    """Where a start's checkpoint lives (``steps`` for the points of the budget curve)."""
    return work / (f"pretrain-{start}-seed{seed}" if steps is None else f"pretrain-{start}-steps{steps}-seed{seed}")


def pretrain_start(work: Path, start: str, seed: int, pretrain: dict, progress: bool, steps: int | None = None) -> dict[str, Any]:
    """The checkpoint of one start (pre-trained once, then reused), its summary and its knowledge probe."""
    out = start_dir(work, start, seed, steps)
    if not (out / "summary.json").is_file():
        sparsity = 0.0 if start == "none" else float(start)
        n = 0 if start == "none" else (steps or pretrain["steps"])
        summary = train(PretrainConfig(**{**pretrain, "sparsity": sparsity, "steps": n, "seed": seed}), out, progress=progress)
        (out / "summary.json").write_text(json.dumps(summary))
    if not (out / "probe.json").is_file():
        (out / "probe.json").write_text(json.dumps({"knowledge_probe": knowledge_probe(out, seed)}))
    keys = ("final_loss", "initial_loss", "flops_analytic", "flops_sparse_equivalent", "flops_executed", "active_params_with_embeddings",
            "wall_seconds", "steps")
    row = {k: v for k, v in json.loads((out / "summary.json").read_text()).items() if k in keys}
    return {**row, **json.loads((out / "probe.json").read_text())}


def finetune_arm(work: Path, arm: Arm, seed: int, finetune_kw: dict, progress: bool, steps: int | None = None) -> dict[str, Any]:
    """Fine-tune one arm from its start (the result is kept in the work folder and reused)."""
    init = start_dir(work, arm.start, seed, steps)
    cfg = FinetuneConfig(**{**finetune_kw, **arm.finetune, "init": str(init), "seed": seed})
    done = work / (f"finetune-{arm.name}-seed{seed}.json" if steps is None else f"finetune-{arm.name}-steps{steps}-seed{seed}.json")
    if done.is_file() and json.loads(done.read_text())["config"] == json.loads(json.dumps(dataclasses.asdict(cfg))):
        return json.loads(done.read_text())["row"]
    t0 = time.perf_counter()
    ft = finetune(cfg.validate(), None, progress=progress)
    row = {k: ft[k] for k in ("accuracy", "macro_f1", "majority_accuracy", "majority_macro_f1", "unparseable", "finetune_flops_counted",
                              "reactivated_weights", "confusion_matrix", "epochs_run", "best_epochs", "context_length")}  # fmt: skip
    row["wall_seconds"] = round(time.perf_counter() - t0, 1)
    done.write_text(json.dumps({"config": dataclasses.asdict(cfg), "row": row}))
    return row


def run(seeds: int = 5, work: Path = Path("runs/recovery"), arms: tuple[Arm, ...] = ARMS, pretrain: dict | None = None,
        finetune_kw: dict | None = None, progress: bool = False, log: Callable[[str], None] = print,
        curve_steps: tuple[int, ...] = (), curve_seeds: int = 2) -> dict[str, Any]:  # fmt: skip
    """Pre-train every start for every seed, fine-tune every arm (and the budget curve's points,
    if ``curve_steps`` are given); the results as one JSON-able dict."""
    pretrain = {**PRETRAIN, **(pretrain or {})}
    finetune_kw = {**FINETUNE, **(finetune_kw or {})}
    work.mkdir(parents=True, exist_ok=True)
    start_time = time.perf_counter()
    results: dict[str, Any] = {"pretrain": pretrain, "finetune": finetune_kw, "seeds": seeds, "arms": {}, "starts": {}}
    for seed in range(seeds):
        for start in sorted({a.start for a in arms}, key=lambda s: -1.0 if s == "none" else float(s)):
            row = pretrain_start(work, start, seed, pretrain, progress)
            results["starts"].setdefault(start, []).append(row)
            log(f"seed {seed}: start {start}: validation loss {row['final_loss']:.3f}, knows {row['knowledge_probe']:.2f} of the test "
                f"drugs' outcomes before fine-tuning ({row['wall_seconds']:.0f} s)")  # fmt: skip
        for arm in arms:
            row = finetune_arm(work, arm, seed, finetune_kw, progress)
            results["arms"].setdefault(arm.name, []).append(row)
            log(f"seed {seed}: {arm.name}: accuracy {row['accuracy']:.3f}, macro-F1 {row['macro_f1']:.3f} ({row['wall_seconds']:.0f} s)")
    if curve_steps:
        results["curve"] = budget_curve(work, curve_seeds, curve_steps, pretrain, finetune_kw, progress, log)
    results["summary"] = summarize(results, arms)
    results["wall_seconds"] = round(time.perf_counter() - start_time, 1)  # this call (reused runs cost ~0)
    stages = [*results["starts"].values(), *results["arms"].values()]
    results["compute_seconds"] = round(sum(r["wall_seconds"] for rows in stages for r in rows), 1)  # every run, when it ran
    return results


def budget_curve(work: Path, seeds: int, steps: tuple[int, ...], pretrain: dict, finetune_kw: dict, progress: bool,
                 log: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """Accuracy against pre-training budget: dense and 75% starts pre-trained for fewer steps
    (same recipe and schedule shape), each fine-tuned the paper's way. Seeds 0 .. seeds-1."""
    curve: dict[str, Any] = {}
    for start in ("0", "0.75"):
        arm = Arm("dense" if start == "0" else "s75", start)
        for n in steps:
            rows = []
            for seed in range(seeds):
                pre = pretrain_start(work, start, seed, pretrain, progress, steps=n)
                ft = finetune_arm(work, arm, seed, finetune_kw, progress, steps=n)
                rows.append({"seed": seed, "steps": n, "pretrain_flops_analytic": pre["flops_analytic"], "final_loss": pre["final_loss"],
                             "knowledge_probe": pre["knowledge_probe"], "accuracy": ft["accuracy"], "macro_f1": ft["macro_f1"],
                             "finetune_flops_counted": ft["finetune_flops_counted"]})  # fmt: skip
                log(f"curve: start {start}, {n} steps, seed {seed}: knows {pre['knowledge_probe']:.2f}, accuracy {ft['accuracy']:.3f}")
            curve.setdefault(start, []).append(rows)
    return curve


def summarize(results: dict[str, Any], arms: tuple[Arm, ...] = ARMS) -> dict[str, Any]:
    """Mean ± std per arm, paired differences to the dense start (and for each ablation, to
    the 75% dense-fine-tuning arm it changes), training FLOPs per arm."""
    out: dict[str, Any] = {}
    by_name = {a.name: a for a in arms}
    for name, rows in results["arms"].items():
        arm = by_name[name]
        starts = results["starts"][arm.start]
        entry: dict[str, Any] = {"label": arm.label, "start": arm.start}
        for key in ("accuracy", "macro_f1"):
            values = [r[key] for r in rows]
            mean, std = mean_std(values)
            entry[key] = {"mean": mean, "std": std, "per_seed": values}
            if "dense" in results["arms"] and name != "dense":
                entry[f"{key}_minus_dense"] = paired_difference(values, [r[key] for r in results["arms"]["dense"]])
            if name in ABLATIONS and "s75" in results["arms"]:
                entry[f"{key}_minus_s75"] = paired_difference(values, [r[key] for r in results["arms"]["s75"]])
        pre = float(np.mean([s["flops_analytic"] for s in starts]))
        fine = float(np.mean([r["finetune_flops_counted"] for r in rows]))
        entry["flops"] = {"pretrain_analytic": pre, "finetune_counted": fine, "total": pre + fine}
        entry["majority_accuracy"] = rows[0]["majority_accuracy"]
        for key in ("final_loss", "knowledge_probe"):
            values = [s[key] for s in starts if key in s]
            if values:
                mean, std = mean_std(values)
                entry[f"pretrain_{key}"] = {"mean": mean, "std": std}
        out[name] = entry
    return out


def markdown(summary: dict[str, Any]) -> str:
    """The Table 3 analog and the ablations as markdown tables."""

    def ms(d):
        return f"{d['mean']:.3f} ± {d['std']:.3f}"

    def ci(d):
        return f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"

    lines = ["| start (fine-tuned densely, n = 9) | pre-training val. loss | accuracy | macro-F1 | accuracy − dense [95% CI] "
             "| macro-F1 − dense [95% CI] | training FLOPs |", "|---|---|---|---|---|---|---:|"]  # fmt: skip
    for name in ("none", "dense", "s50", "s75"):
        if name in summary:
            e = summary[name]
            loss = "—" if name == "none" else ms(e["pretrain_final_loss"])
            diffs = [ci(e[f"{k}_minus_dense"]) if f"{k}_minus_dense" in e else "—" for k in ("accuracy", "macro_f1")]
            lines.append(f"| {e['label']} | {loss} | {ms(e['accuracy'])} | {ms(e['macro_f1'])} | {diffs[0]} | {diffs[1]} | {e['flops']['total']:.3e} |")
    if any(k in summary for k in ABLATIONS):
        lines += ["", "| ablation at 75% | accuracy | macro-F1 | accuracy − (75%, dense FT, n = 9) [95% CI] | macro-F1 − (same) [95% CI] |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for name, title in ABLATIONS.items():
            if name in summary:
                e = summary[name]
                lines.append(f"| {title}: {e['label']} | {ms(e['accuracy'])} | {ms(e['macro_f1'])} | {ci(e['accuracy_minus_s75'])} "
                             f"| {ci(e['macro_f1_minus_s75'])} |")  # fmt: skip
    return "\n".join(lines)


def to_json(results: dict[str, Any]) -> str:
    return json.dumps(results, indent=1)


MARKERS = {"none": "x", "dense": "o", "s50": "s", "s75": "^", "s75-sparse-ft": "v", "s75-no-prompt": "<", "s75-random-revived": ">"}


def plot_accuracy_vs_flops(ax, results: dict[str, Any]) -> None:
    """The Fig. 1 analog on a matplotlib ``ax``: accuracy (mean ± std over seeds) against
    total training FLOPs, one marker per arm, and the majority class as a dashed line."""
    summary = results["summary"]
    for name, marker in MARKERS.items():
        if name in summary:
            e = summary[name]
            ax.errorbar(e["flops"]["total"], e["accuracy"]["mean"], yerr=e["accuracy"]["std"], fmt=marker, capsize=3, label=e["label"])
    ax.axhline(next(iter(summary.values()))["majority_accuracy"], color="grey", ls="--", lw=1, label="majority class")
    ax.set_xlabel("training FLOPs (pre-training analytic + fine-tuning counted)")
    ax.set_ylabel("closed-book test accuracy")
    ax.set_title(f"Downstream accuracy vs training FLOPs ({results['seeds']} seeds, mean ± std)")
    ax.legend(fontsize=7, loc="lower right")
