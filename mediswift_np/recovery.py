"""Does dense fine-tuning recover what sparse pre-training lost? (paper Sec. 2.2, Table 3, Fig. 1)

The experiment behind ``benchmarks/downstream_recovery.py`` and tutorial 07, on the
closed-book PubMedQA-style task (data/closed_book.py): its test questions are about
drugs that no fine-tuning example mentions, so only facts learned in pre-training can
lift accuracy above the majority class.

For every seed (which fixes the corpus, the initialisation, the masks, the data order
and the drug split), one pre-training run per sparsity on the same tokens, and one
"start" without pre-training (the initialised model, ``pretrain --steps 0``), in a
*regime* (:data:`REGIMES`: width, steps, lr per sparsity) -- "narrow" (32 wide, the
candidate the pilot, benchmarks/recovery_pilot.py, examined with an lr sweep), or
"saturated" (64 wide), where every start knows nearly every fact.

Before fine-tuning, :func:`graded_probe` measures what each start knows: for every drug,
the probability mass and the log-odds margin on its true trial outcome among the three
outcome continuations, in the corpus' wording and in a paraphrase the corpus never
contains, on the seed's test drugs and on all 360 catalogue drugs (capacity).

Each start is fine-tuned the paper's way (App. A.2): dense (masks removed, reactivated
weights from 0) with a soft prompt of n = 9, the learning rate chosen per start on dev
from :data:`FINETUNE`'s grid, then 3 fine-tuning seeds averaged; and the 75% start also
in three ablations:

    sparse-ft      masks kept during fine-tuning (SPDF's sparse arm; Sec. 2.2.1)
    no-prompt      n = 0: plain dense fine-tuning (Sec. 2.2.2)
    random-revived reactivated weights start from a random initialisation, not 0

Reported per arm: accuracy and macro-F1 (mean ± sample std over pre-training seeds),
paired differences to dense with 95% t-intervals, a TOST equivalence test at ±0.03, the
recovered share of the probe gap with Fieller's interval, accuracy on the drugs the
start's probe got wrong vs right, the count of runs stuck at the majority class, and
training FLOPs (pre-training analytic + fine-tuning counted). Checkpoints and fine-tuning
results are kept in the work folder and reused when the experiment is run again.

Does not handle: HoC (its labels follow from cue words in the sentence, so it cannot
show what pre-training knows), several processes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .data.synthetic_tasks import synthetic_pubmedqa_splits
from .finetune import FinetuneConfig, finetune
from .knowledge_probe import PROBES, graded_probe, knowledge_probe, probe_sentences  # noqa: F401  (the experiment's API)
from .stats import fieller_ratio, paired_difference, recovery_share, t_quantile_975, tost  # noqa: F401  (findings.py uses paired_difference)
from .tasks.evaluation import mean_std
from .pretrain import PretrainConfig, train

# What the closed-book experiment pre-trains on: a corpus where the 360 catalogue drugs'
# profiles outweigh the abstracts (24 profiles each), the tiny preset's 4 layers.
PRETRAIN = dict(profiles=24, n_docs=300, merges=2000, batch_size=8, eval_every=0)
# Width, steps and peak lr per start ("0" = dense; "none" uses dense's config at 0 steps).
REGIMES = {
    "narrow": dict(n_embd=32, steps=1000, lr={"0": 2e-2, "0.5": 2e-2, "0.75": 2e-2}),  # the sweep's best per sparsity
    "saturated": dict(n_embd=64, steps=1000, lr={"0": 5e-3, "0.5": 5e-3, "0.75": 5e-3}),
}
# App. A.2's protocol at this scale: lr chosen on dev per start (FT seed 0), 3 FT seeds at
# the chosen point; no early stop before the budget ends (the best dev epoch is kept).
# The ablations take the lr chosen for their 75% start (no grid of their own); they and the
# no-pre-training start run on the first FEW_SEEDS pre-training seeds (compute).
FINETUNE = dict(task="pubmedqa", synthetic_evidence="knowledge", n_train=270, n_val=45, n_test=216, epochs=8, patience=8,
                batch_size=16, grid_lrs=(3e-3, 1e-2), seeds=3)  # fmt: skip
FEW_SEEDS = 3


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


def run_dir(work: Path, config: dict) -> Path:
    """Where the pre-training run of ``config`` lives (the pilot and the experiment share them)."""
    return work / f"d{config.get('n_embd') or 128}-steps{config['steps']}-lr{config['lr']:g}-s{config['sparsity']:g}-seed{config['seed']}"


SUMMARY_KEYS = ("final_loss", "initial_loss", "flops_analytic", "flops_sparse_equivalent", "flops_executed",
                "active_params_with_embeddings", "wall_seconds", "steps")  # fmt: skip


def pretrained(out: Path, config: dict, progress: bool = False) -> dict[str, Any]:
    """Pre-train ``config`` (PretrainConfig fields) into ``out`` once and probe it once
    (:func:`graded_probe`); its summary and probes. A folder holding another config is an error."""
    stored = out / "run_config.json"
    if stored.is_file() and json.loads(stored.read_text()) != json.loads(json.dumps(config)):
        raise ValueError(f"{out} holds a run of another config; use another work folder")
    if not (out / "summary.json").is_file():
        summary = train(PretrainConfig(**config), out, progress=progress)
        (out / "summary.json").write_text(json.dumps(summary))
        stored.write_text(json.dumps(config))
    if not (out / "graded_probe.json").is_file():
        (out / "graded_probe.json").write_text(json.dumps(graded_probe(out, config["seed"])))
    row = {k: v for k, v in json.loads((out / "summary.json").read_text()).items() if k in SUMMARY_KEYS}
    probe = json.loads((out / "graded_probe.json").read_text())
    return {**row, "lr": config["lr"], "knowledge_probe": probe["test_corpus"]["right"], "probe": probe}


def start_config(regime: dict, start: str, seed: int, pretrain: dict | None = None) -> dict:
    """The pre-training config of one start in one regime (``none``: 0 steps, the initialised model)."""
    lr = regime["lr"]["0" if start == "none" else start]
    steps = 0 if start == "none" else regime["steps"]
    return {**(pretrain or PRETRAIN), "n_embd": regime["n_embd"], "steps": steps, "lr": lr, "sparsity": 0.0 if start == "none" else float(start), "seed": seed}


def test_questions(finetune_kw: dict, seed: int) -> dict[str, tuple[str, str]]:
    """PMID -> (answer, drug) of the closed-book test split fine-tuning is scored on."""
    sizes = (finetune_kw["n_train"], finetune_kw["n_val"], finetune_kw["n_test"])
    test = synthetic_pubmedqa_splits(sizes, seed, evidence="knowledge")[2]
    return {pmid: (r["final_decision"], r["MESHES"][2].lower()) for pmid, r in test.items()}


def majority_share(predictions: list[str], majority: str) -> float:
    """The share of a run's test answers that are the majority class."""
    return float(np.mean([p == majority for p in predictions]))


def finetune_arm(work: Path, arm: Arm, init: Path, seed: int, finetune_kw: dict, progress: bool = False) -> dict[str, Any]:
    """Fine-tune one arm from its start the paper's way (grid on dev with FT seed 0, then
    ``seeds`` FT seeds at the chosen point; App. A.2); kept in the work folder and reused."""
    cfg = FinetuneConfig(**{**finetune_kw, **arm.finetune, "init": str(init), "seed": seed})
    done = work / f"ft-{arm.name}-{init.name}.json"
    if done.is_file() and json.loads(done.read_text())["config"] == json.loads(json.dumps(dataclasses.asdict(cfg))):
        return json.loads(done.read_text())["row"]
    t0 = time.perf_counter()
    ft = finetune(cfg.validate(), None, progress=progress)
    gold = test_questions(finetune_kw, seed)
    assert set(ft["test_keys"]) == set(gold), "the test split is not the one fine-tuning used"
    right = np.array([[pred == gold[k][0] for k, pred in zip(ft["test_keys"], preds)] for preds in ft["predictions_per_seed"]], dtype=float)
    drugs = np.array([gold[k][1] for k in ft["test_keys"]])
    per_drug = {str(d): round(float(right[:, drugs == d].mean()), 4) for d in sorted(set(drugs))}
    row = {k: ft[k] for k in ("accuracy", "accuracy_per_seed", "macro_f1", "macro_f1_per_seed", "majority_label", "majority_accuracy",
                              "majority_macro_f1", "unparseable", "finetune_flops_counted", "reactivated_weights", "lr", "batch_size",
                              "grid", "history_per_seed", "epochs_run", "best_epochs", "context_length")}  # fmt: skip
    row["majority_share_per_seed"] = [majority_share(p, ft["majority_label"]) for p in ft["predictions_per_seed"]]
    row["per_drug_accuracy"] = per_drug
    row["wall_seconds"] = round(time.perf_counter() - t0, 1)
    done.write_text(json.dumps({"config": dataclasses.asdict(cfg), "row": row}))
    return row


def run(seeds: int = 5, work: Path = Path("runs/recovery"), arms: tuple[Arm, ...] = ARMS, regime: dict | None = None,
        finetune_kw: dict | None = None, progress: bool = False, log: Callable[[str], None] = print,
        pretrain: dict | None = None, seed_ids: list[int] | None = None, few_seeds: int = FEW_SEEDS) -> dict[str, Any]:  # fmt: skip
    """Pre-train every start of ``regime`` for every seed, fine-tune every arm; one JSON-able dict
    (``pretrain`` replaces :data:`PRETRAIN`, the corpus and batch, e.g. for a miniature run)."""
    pretrain = pretrain or PRETRAIN
    regime = regime or REGIMES["narrow"]
    finetune_kw = {**FINETUNE, **(finetune_kw or {})}
    work.mkdir(parents=True, exist_ok=True)
    start_time = time.perf_counter()
    results: dict[str, Any] = {"regime": regime, "pretrain": pretrain, "finetune": finetune_kw, "seeds": seeds, "arms": {}, "starts": {}}
    for seed in range(seeds) if seed_ids is None else seed_ids:
        dirs = {}
        for start in sorted({a.start for a in arms}, key=lambda s: -1.0 if s == "none" else float(s)):
            config = start_config(regime, start, seed, pretrain)
            dirs[start] = run_dir(work, config)
            row = pretrained(dirs[start], config, progress)
            results["starts"].setdefault(start, []).append(row)
            p = row["probe"]["test_corpus"]
            log(f"seed {seed}: start {start}: validation loss {row['final_loss']:.3f}, probe p(correct) {p['p_correct']:.3f}, "
                f"argmax {p['right']:.3f} ({row['wall_seconds']:.0f} s)")  # fmt: skip
        for arm in arms:
            kw = finetune_kw
            if (arm.name in ABLATIONS or arm.name == "none") and seed >= few_seeds:
                continue
            if arm.name in ABLATIONS:
                kw = {**finetune_kw, "grid_lrs": (results["arms"]["s75"][-1]["lr"],)}  # the 75% start's chosen lr
            row = finetune_arm(work, arm, dirs[arm.start], seed, kw, progress)
            results["arms"].setdefault(arm.name, []).append(row)
            log(f"seed {seed}: {arm.name}: accuracy {row['accuracy']:.3f} (FT seeds {', '.join(f'{a:.3f}' for a in row['accuracy_per_seed'])}), "
                f"lr {row['lr']:g} ({row['wall_seconds']:.0f} s)")  # fmt: skip
    results["summary"] = summarize(results, arms) if seed_ids is None else {}  # a subset only fills the work folder
    results["wall_seconds"] = round(time.perf_counter() - start_time, 1)  # this call (reused runs cost ~0)
    stages = [*results["starts"].values(), *results["arms"].values()]
    results["compute_seconds"] = round(sum(r["wall_seconds"] for rows in stages for r in rows), 1)  # every run, when it ran
    return results


PROBE_STATS = {"probe_argmax": ("test_corpus", "right"), "probe_p_correct": ("test_corpus", "p_correct"),
               "probe_margin": ("test_corpus", "margin"), "capacity_p_correct": ("all_corpus", "p_correct"),
               "paraphrase_p_correct": ("test_paraphrase", "p_correct")}  # fmt: skip
STUCK_SHARE, STUCK_PROBE = 0.95, 0.9  # a run "ends at the majority class" / "its start knows the facts"
TOST_MARGIN = 0.03  # accuracy points within which "sparse reaches dense" would count as shown


def per_seed(rows: list[dict], key: str) -> list[float]:
    return [r[key] for r in rows]


def probe_values(starts: list[dict], stat: str) -> list[float]:
    part, name = PROBE_STATS[stat]
    return [s["probe"][part][name] for s in starts]


def drugs_wrong_vs_right(arm_rows: list[dict], starts: list[dict]) -> dict[str, Any]:
    """Per seed, test accuracy after fine-tuning on the drugs the start's corpus probe got wrong
    vs right (argmax), averaged over the drugs; mean ± std over seeds and the drug counts."""
    wrong, right, n_wrong = [], [], []
    for row, start in zip(arm_rows, starts):
        pd = start["probe"]["per_drug"]
        known = dict(zip(pd["name"], pd["corpus"]["right"]))
        acc = row["per_drug_accuracy"]
        w = [acc[d] for d in acc if known.get(d, 1.0) == 0.0]
        r = [acc[d] for d in acc if known.get(d, 0.0) == 1.0]
        n_wrong.append(len(w))
        if w:
            wrong.append(float(np.mean(w)))
        right.append(float(np.mean(r)))
    out = {"right": dict(zip(("mean", "std"), mean_std(right))), "wrong_drugs_per_seed": n_wrong}
    out["wrong"] = dict(zip(("mean", "std"), mean_std(wrong))) if len(wrong) > 1 else None
    return out


def stuck_runs(results: dict[str, Any], arms: tuple[Arm, ...]) -> dict[str, Any]:
    """Fine-tuning runs (FT seeds) whose test answers are ≥ 95% the majority class although
    their start's argmax probe is ≥ 0.9: the count the issue asks to be 0."""
    stuck, total = [], 0
    for arm in arms:
        for seed, (row, start) in enumerate(zip(results["arms"].get(arm.name, []), results["starts"][arm.start])):
            for k, share in enumerate(row["majority_share_per_seed"]):
                total += 1
                if share >= STUCK_SHARE and start["knowledge_probe"] >= STUCK_PROBE:
                    stuck.append({"arm": arm.name, "seed": seed, "ft_seed": k})
    at_majority = sum(s >= STUCK_SHARE for rows in results["arms"].values() for r in rows for s in r["majority_share_per_seed"])
    return {"count": len(stuck), "runs": stuck, "of": total, "at_majority_any_probe": at_majority}


def summarize(results: dict[str, Any], arms: tuple[Arm, ...] = ARMS) -> dict[str, Any]:
    """Per arm: accuracy / macro-F1 (mean ± std over pre-training seeds of the mean over FT
    seeds), paired differences to dense (and for each ablation, to the 75% arm it changes),
    TOST against dense, FLOPs, the starts' losses and probes, per-drug accuracy; the recovery
    share per sparsity; the stuck-run count."""
    out: dict[str, Any] = {"arms": {}, "recovery": {}}
    by_name = {a.name: a for a in arms}
    dense = results["arms"].get("dense")
    for name, rows in results["arms"].items():
        arm = by_name[name]
        starts = results["starts"][arm.start][: len(rows)]  # an ablation runs on the first seeds only
        entry: dict[str, Any] = {"label": arm.label, "start": arm.start, "seeds": len(rows)}
        for key in ("accuracy", "macro_f1"):
            values = per_seed(rows, key)
            entry[key] = {**dict(zip(("mean", "std"), mean_std(values))), "per_seed": values}
            if dense and name != "dense":
                entry[f"{key}_minus_dense"] = paired_difference(values, per_seed(dense, key)[: len(values)])  # seeds 0..
            if name in ABLATIONS and "s75" in results["arms"]:
                entry[f"{key}_minus_s75"] = paired_difference(values, per_seed(results["arms"]["s75"], key)[: len(values)])  # seeds 0..
        if dense and name in ("s50", "s75"):
            entry["tost_vs_dense"] = tost(per_seed(rows, "accuracy"), per_seed(dense, "accuracy"), TOST_MARGIN)
        pre = float(np.mean([s["flops_analytic"] for s in starts]))
        fine = float(np.mean([r["finetune_flops_counted"] for r in rows]))
        entry["flops"] = {"pretrain_analytic": pre, "finetune_counted": fine, "total": pre + fine}
        entry["majority_accuracy"] = rows[0]["majority_accuracy"]
        entry["chosen_lr"] = [r["lr"] for r in rows]
        entry["pretrain_final_loss"] = dict(zip(("mean", "std"), mean_std(per_seed(starts, "final_loss"))))
        for stat in PROBE_STATS:
            entry[stat] = dict(zip(("mean", "std"), mean_std(probe_values(starts, stat))))
        entry["per_drug"] = drugs_wrong_vs_right(rows, starts)
        out["arms"][name] = entry
    for name in ("s50", "s75"):
        if dense and name in results["arms"]:
            s0, s1 = results["starts"]["0"], results["starts"][by_name[name].start]
            rows = results["arms"][name]
            out["recovery"][name] = {
                "probe_gap": {stat: paired_difference(probe_values(s1, stat), probe_values(s0, stat)) for stat in PROBE_STATS},
                "loss_gap": paired_difference(per_seed(s1, "final_loss"), per_seed(s0, "final_loss")),
                "accuracy_gap": paired_difference(per_seed(rows, "accuracy"), per_seed(dense, "accuracy")),
                "share": recovery_share(probe_values(s0, "probe_argmax"), probe_values(s1, "probe_argmax"),
                                        per_seed(dense, "accuracy"), per_seed(rows, "accuracy")),
            }  # fmt: skip
    out["stuck"] = stuck_runs(results, arms)
    return out
