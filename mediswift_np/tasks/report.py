"""The readable report of a fine-tuning run: scores ± std, majority baseline, per-class counts.

Does not handle: plots (the tutorial draws the confusion matrix with matplotlib).
"""

from __future__ import annotations

from typing import Any

from .pubmedqa import ANSWERS


def confusion_table(matrix: list[list[int]], labels=ANSWERS, failed: dict[str, int] | None = None) -> str:
    """A confusion matrix as text: rows are the truth, columns the prediction.

    ``failed[label]`` (optional) adds a last column: the answers of that truth that
    could not be parsed, which the matrix itself does not count.

    Example:
        >>> print(confusion_table([[3, 1, 0], [0, 2, 0], [1, 0, 0]], failed={"yes": 2, "no": 0, "maybe": 1}))
        truth \\ pred    yes     no  maybe failed
        yes               3      1      0      2
        no                0      2      0      0
        maybe             1      0      0      1
    """
    head = "truth \\ pred"
    columns = [*labels, "failed"] if failed is not None else list(labels)
    lines = [f"{head:<12}" + "".join(f"{x:>7}" for x in columns)]
    for label, row in zip(labels, matrix):
        cells = [*row, failed[label]] if failed is not None else row
        lines.append(f"{label:<12}" + "".join(f"{int(v):>7}" for v in cells))
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
    if "macro_f1_official" in s:  # PubMedQA: the macro-F1 above is over yes/no/maybe
        lines.append(f"macro-F1 as the official evaluation.py computes it (over the labels in truth or predictions, "
                     f"'failed' included): {s['macro_f1_official']:.3f} ± {s['macro_f1_official_std']:.3f}")
    if len(s.get("grid", [])) > 1:
        lines.append("grid (validation score, seed 0): " + "; ".join(f"bs {g['batch_size']} lr {g['lr']:g}: {g['val_score']:.3f}" for g in s["grid"]))
    if "confusion_matrix" in s:
        cm, failed = s["confusion_matrix"], s["failed_per_class"]
        lines.append(f"confusion matrix (seed {s['saved_seed']}):")
        lines.append(confusion_table(cm, failed=failed))
        lines.append("per-class counts: " + ", ".join(  # gold = the whole row, unparseable answers included
            f"{a} {sum(cm[i]) + failed[a]} gold / {sum(row[i] for row in cm)} predicted / {cm[i][i]} correct" for i, a in enumerate(ANSWERS)))  # fmt: skip
        lines.append("per-class F1: " + ", ".join(f"{k} {v:.3f}" for k, v in s["per_class_f1"].items()))
    if "per_class" in s:
        lines.append(f"per-class counts (seed {s['saved_seed']}): {'class':<36}{'gold':>6}{'pred':>6}{'correct':>8}")
        for c, n in s["per_class"].items():
            lines.append(f"{'':<30}{c:<36}{n['gold']:>6}{n['predicted']:>6}{n['correct']:>8}")
    if "checkpoint" in s:
        lines.append(f"checkpoint and prediction files: {s['checkpoint']}; {s['wall_seconds']:.1f} s")
    return "\n".join(lines)
