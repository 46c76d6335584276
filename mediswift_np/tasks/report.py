"""The readable report of a fine-tuning run: scores ± std, majority baseline, per-class counts.

Does not handle: plots (the tutorial draws the confusion matrix with matplotlib).
"""

from __future__ import annotations

from typing import Any

from .pubmedqa import ANSWERS


def confusion_table(matrix: list[list[int]], labels=ANSWERS) -> str:
    """A confusion matrix as text: rows are the truth, columns the prediction.

    Example:
        >>> print(confusion_table([[3, 1, 0], [0, 2, 0], [1, 0, 0]]))
        truth \\ pred    yes     no  maybe
        yes               3      1      0
        no                0      2      0
        maybe             1      0      0
    """
    head = "truth \\ pred"
    lines = [f"{head:<12}" + "".join(f"{x:>7}" for x in labels)]
    for label, row in zip(labels, matrix):
        lines.append(f"{label:<12}" + "".join(f"{int(v):>7}" for v in row))
    return "\n".join(lines)


def format_report(s: dict[str, Any]) -> str:
    """Several lines summarising :func:`mediswift_np.finetune.finetune`'s result."""
    metric = "macro_f1" if s["task"] == "pubmedqa" else "micro_f1"
    name = {"macro_f1": "macro-F1", "micro_f1": "micro-F1"}[metric]
    level = f" [{s['level']}]" if "level" in s and s["level"] not in s["data"] else ""
    lines = [
        f"{s['task']}{level} on {s['data']}: {s['n_train']} train / {s['n_val']} validation / {s['n_test']} test; "
        f"prompt n = {s['prompt_length']}, loss on {s['loss_on']}; batch size {s['batch_size']}, lr {s['lr']:g}",
        f"accuracy {s['accuracy']:.3f} ± {s['accuracy_std']:.3f}, {name} {s[metric]:.3f} ± {s[metric + '_std']:.3f} "
        f"(mean ± std over {s['seeds']} seed(s)); majority class '{s['majority_label']}': accuracy {s['majority_accuracy']:.3f}, "
        f"{name} {s['majority_' + metric]:.3f}",
        f"unparseable answers: {s['unparseable']} (per seed {s['unparseable_per_seed']}); test sources truncated to fit "
        f"the context: {s['truncated_test_sources']}; weights reactivated by densifying: {s['reactivated_weights']:,}",
        "soft prompt moved by ||P_end - P_start|| / ||P_start|| = " + ", ".join(f"{x:.2f}" for x in s["prompt_change"]) + " (per seed)",
    ]
    if len(s.get("grid", [])) > 1:
        lines.append("grid (validation score, seed 0): " + "; ".join(f"bs {g['batch_size']} lr {g['lr']:g}: {g['val_score']:.3f}" for g in s["grid"]))
    if "confusion_matrix" in s:
        lines.append(f"confusion matrix (seed {s['saved_seed']}):")
        lines.append(confusion_table(s["confusion_matrix"]))
        cm = s["confusion_matrix"]
        lines.append("per-class counts: " + ", ".join(
            f"{a} {sum(cm[i])} gold / {sum(row[i] for row in cm)} predicted / {cm[i][i]} correct" for i, a in enumerate(ANSWERS)))  # fmt: skip
        lines.append("per-class F1: " + ", ".join(f"{k} {v:.3f}" for k, v in s["per_class_f1"].items()))
    if "per_class" in s:
        lines.append(f"per-class counts (seed {s['saved_seed']}): {'class':<36}{'gold':>6}{'pred':>6}{'correct':>8}")
        for c, n in s["per_class"].items():
            lines.append(f"{'':<30}{c:<36}{n['gold']:>6}{n['predicted']:>6}{n['correct']:>8}")
    if "checkpoint" in s:
        lines.append(f"checkpoint and prediction files: {s['checkpoint']}; {s['wall_seconds']:.1f} s")
    return "\n".join(lines)
