"""The recovery experiment's report: markdown tables, the paper's Table 3 beside ours, the
one-sentence verdicts drawn from the intervals, the JSON and the Fig. 1 analog.

Reads the summaries that :func:`mediswift_np.recovery.summarize` makes; computes no statistic
of its own (those live in :mod:`mediswift_np.stats`).
"""

from __future__ import annotations

import json
from typing import Any

from .recovery import ABLATIONS, STUCK_PROBE, STUCK_SHARE
from .stats import format_ci as ci


def ms(d: dict) -> str:
    """A mean ± sample std entry of a summary: ``0.672 ± 0.176``."""
    return f"{d['mean']:.3f} ± {d['std']:.3f}"


def share_interval(share: dict) -> str:
    """Fieller's 95% interval of a recovered share, or "unbounded"."""
    return "unbounded" if share["ci95"] is None else f"[{share['ci95'][0]:+.2f}, {share['ci95'][1]:+.2f}]"


def markdown(summary: dict[str, Any]) -> str:
    """The Table 3 analog, the recovery table and the ablations as markdown tables."""
    arms = summary["arms"]
    lines = ["| start (fine-tuned densely, n = 9) | pre-training val. loss | probe p(correct) | probe argmax | accuracy | macro-F1 "
             "| accuracy − dense [95% CI] | training FLOPs |", "|---|---|---|---|---|---|---|---:|"]  # fmt: skip
    for name in ("none", "dense", "s50", "s75"):
        if name in arms:
            e = arms[name]
            diff = ci(e["accuracy_minus_dense"]) if "accuracy_minus_dense" in e else "—"
            lines.append(f"| {e['label']} | {ms(e['pretrain_final_loss'])} | {ms(e['probe_p_correct'])} | {ms(e['probe_argmax'])} "
                         f"| {ms(e['accuracy'])} | {ms(e['macro_f1'])} | {diff} | {e['flops']['total']:.3e} |")  # fmt: skip
    if summary["recovery"]:
        lines += ["", "| sparse − dense | val. loss gap [95% CI] | probe p(correct) gap | probe argmax gap | accuracy gap after FT "
                  "| recovered share of the argmax gap [Fieller 95% CI] | TOST ±0.03 (p) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for name, r in summary["recovery"].items():
            share = r["share"]
            interval = share_interval(share)
            t = arms[name]["tost_vs_dense"]
            lines.append(f"| {arms[name]['label']} | {ci(r['loss_gap'])} | {ci(r['probe_gap']['probe_p_correct'])} "
                         f"| {ci(r['probe_gap']['probe_argmax'])} | {ci(r['accuracy_gap'])} | {share['share']:+.2f} {interval} "
                         f"| {'shown' if t['equivalent'] else 'not shown'} ({t['p']:.3f}) |")  # fmt: skip
    lines += ["", "| start | accuracy after FT on drugs its probe got right | on drugs it got wrong | wrong drugs per seed |", "|---|---|---|---|"]
    for name in ("dense", "s50", "s75"):
        if name in arms:
            d = arms[name]["per_drug"]
            wrong = ms(d["wrong"]) if d["wrong"] else "—"
            lines.append(f"| {arms[name]['label']} | {ms(d['right'])} | {wrong} | {', '.join(map(str, d['wrong_drugs_per_seed']))} |")
    if any(k in arms for k in ABLATIONS):
        lines += ["", "| ablation at 75% | accuracy | macro-F1 | accuracy − (75%, dense FT, n = 9) [95% CI] | macro-F1 − (same) [95% CI] |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for name, title in ABLATIONS.items():
            if name in arms:
                e = arms[name]
                lines.append(f"| {title}: {e['label']} | {ms(e['accuracy'])} | {ms(e['macro_f1'])} | {ci(e['accuracy_minus_s75'])} "
                             f"| {ci(e['macro_f1_minus_s75'])} |")  # fmt: skip
    st = summary["stuck"]
    lines += ["", f"Runs ending at the majority class (≥ {STUCK_SHARE:.0%} majority answers) while their start's argmax probe is "
              f"≥ {STUCK_PROBE}: {st['count']} of {st['of']} fine-tuning runs (at the majority whatever the probe: {st['at_majority_any_probe']})."]  # fmt: skip
    return "\n".join(lines)


PAPER_TABLE3 = {"Med": (74.2, 73.8, 72.4), "Large": (75.1, 74.2, 73.4), "XL": (76.8, 76.3, 75.4)}  # PubMedQA accuracy %, dense / 50% / 75%


def excludes_zero(d: dict) -> bool:
    return d["ci95"][0] > 0 or d["ci95"][1] < 0


def table3(summary: dict) -> str:
    """The paper's Table 3 (PubMedQA accuracy, %) beside ours (closed-book accuracy, %, mean ± std)."""
    lines = ["| model | dense | 50% sparse | 75% sparse | 50% − dense | 75% − dense |", "|---|---|---|---|---|---|"]
    for name, (d, s50, s75) in PAPER_TABLE3.items():
        lines.append(f"| paper, MediSwift-{name} (PubMedQA) | {d} | {s50} | {s75} | {s50 - d:+.1f} | {s75 - d:+.1f} |")
    arms = summary["arms"]
    pct = lambda e: f"{100 * e['accuracy']['mean']:.1f} ± {100 * e['accuracy']['std']:.1f}"  # noqa: E731
    diff = lambda e: f"{100 * e['accuracy_minus_dense']['mean']:+.1f} [{100 * e['accuracy_minus_dense']['ci95'][0]:+.1f}, {100 * e['accuracy_minus_dense']['ci95'][1]:+.1f}]"  # noqa: E731
    lines.append(f"| ours, closed-book synthetic (mean ± std, 95% CI) | {pct(arms['dense'])} | {pct(arms['s50'])} | {pct(arms['s75'])} "
                 f"| {diff(arms['s50'])} | {diff(arms['s75'])} |")  # fmt: skip
    return "\n".join(lines)


def verdict(summary: dict) -> list[str]:
    """What the numbers show, sentence by sentence (every clause follows from an interval or a test)."""
    rec, arms = summary["recovery"]["s75"], summary["arms"]
    gap, acc, tost = rec["probe_gap"]["probe_p_correct"], rec["accuracy_gap"], arms["s75"]["tost_vs_dense"]
    out = []
    if excludes_zero(gap) and gap["mean"] < 0:
        out.append(f"Before fine-tuning the 75% start knows less than dense: probe p(correct) gap {ci(gap)}.")
    else:
        out.append(f"Before fine-tuning no probe gap at 75% was measured: {ci(gap)} (the interval contains 0 or favours 75%).")
    if excludes_zero(acc):
        out.append(f"After dense fine-tuning the 75% start's accuracy differs from dense: {ci(acc)}.")
    else:
        out.append(f"After dense fine-tuning the accuracy difference 75% − dense is {ci(acc)}: its interval contains 0.")
    out.append(f"Equivalence within ±{tost['margin']:.2f} (TOST): {'shown' if tost['equivalent'] else 'not shown'} (p = {tost['p']:.3f}).")
    share = rec["share"]
    interval = share_interval(share) + (" (the probe gap is not clearly away from 0)" if share["ci95"] is None else "")
    out.append(f"Share of the argmax probe gap recovered by fine-tuning: {share['share']:+.2f}, Fieller 95% interval {interval}.")
    no_gap = not (excludes_zero(gap) and gap["mean"] < 0)
    out.append("The paper's Table 3 (sparse 0.4-1.8 points below dense after dense fine-tuning): "
               + ("sparse within ±0.03 of dense is shown (TOST), as the paper finds." if tost["equivalent"] else
                  "not reproduced: equivalence is not shown" + ("; nor was there a knowledge gap for fine-tuning to recover." if no_gap else ".")))  # fmt: skip
    return out


def to_json(results: dict[str, Any]) -> str:
    return json.dumps(results, indent=1)


MARKERS = {"none": "x", "dense": "o", "s50": "s", "s75": "^", "s75-sparse-ft": "v", "s75-no-prompt": "<", "s75-random-revived": ">"}


def plot_accuracy_vs_flops(ax, results: dict[str, Any]) -> None:
    """The Fig. 1 analog on a matplotlib ``ax``: each seed's accuracy (mean over its FT seeds)
    against total training FLOPs, one marker per arm, a bar at each arm's mean, and the
    majority class as a dashed line. Accuracy lies in [0, 1], and so does the axis."""
    arms = results["summary"]["arms"]
    for k, (name, marker) in enumerate(MARKERS.items()):
        if name in arms:
            e = arms[name]
            x = e["flops"]["total"] * (1 + 0.015 * (k - 3))  # a small offset keeps overlapping arms apart
            ax.scatter([x] * len(e["accuracy"]["per_seed"]), e["accuracy"]["per_seed"], marker=marker, s=22, alpha=0.75, label=e["label"])
            ax.hlines(e["accuracy"]["mean"], x * 0.97, x * 1.03, color="k", lw=1)
    ax.axhline(next(iter(arms.values()))["majority_accuracy"], color="grey", ls="--", lw=1, label="majority class")
    ax.set_ylim(0, 1)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (pre-training analytic + fine-tuning counted)")
    ax.set_ylabel("closed-book test accuracy")
    ax.set_title(f"Accuracy vs training FLOPs ({results['seeds']} seeds; bar = mean)")
    ax.legend(fontsize=7, loc="lower right")
