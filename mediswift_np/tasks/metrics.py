"""Evaluation metrics in NumPy, with the semantics of the official scripts (paper Sec. 4, App. A.2-A.3).

PubMedQA (Jin et al. 2019, ``evaluation.py``): ``accuracy_score(truth, preds)`` and
``f1_score(truth, preds, average='macro')`` from scikit-learn, called *without* a label
list. Their semantics, reproduced here:

- accuracy = fraction of exact matches;
- macro-F1 = unweighted mean of per-class F1 over the **sorted union of the labels that
  occur in the truth or the predictions** (sklearn's ``unique_labels``). A class that is
  never predicted has precision 0/0; sklearn's default ``zero_division="warn"`` scores
  that as 0 (with a warning), and F1 = 2·TP / (2·TP + FP + FN) = 0 for it. So the
  always-"yes" baseline on the official test split scores 0.552 accuracy and
  F1_yes / 3 = (552/776) / 3 = 0.237 macro-F1. An unparseable answer written as
  ``"failed"`` becomes a fourth class with F1 = 0, exactly as the official script would
  score a prediction file containing it.

HoC (BioGPT ``hard_match_evaluation.py``): each line is split on ``|``, every piece
stripped, and turned into an 11-column indicator row by
``MultiLabelBinarizer(classes=HOC_CLASSES)`` -- pieces outside the class list are
*ignored* (sklearn warns and drops them), so an unparseable answer predicts no class.
Micro-F1 pools the counts of all classes: F1 = 2·ΣTP / (2·ΣTP + ΣFP + ΣFN), 0 when the
denominator is 0 (sklearn's zero_division default).

tests/test_metrics.py compares every function with scikit-learn and with hand-worked
examples.

Does not handle: sample weights, averages other than those the official scripts use
(weighted, samples), or abstract-level HoC aggregation of sentence predictions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

FAILED = "failed"  # the label an unparseable answer gets (as BioGPT's postprocess.py writes it)


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Fraction of exact matches (sklearn ``accuracy_score``).

    Example:
        >>> accuracy(["yes", "no", "maybe", "yes"], ["yes", "no", "no", "failed"])
        0.5
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else 0.0


def unique_labels(*label_lists: Sequence[str]) -> list[str]:
    """The sorted union of labels (sklearn ``unique_labels`` for string labels)."""
    return sorted(set().union(*(map(str, labels) for labels in label_lists)))


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts C[i, j] = #(truth = labels[i], prediction = labels[j]); others are not counted.

    Example:
        >>> confusion_matrix(["yes", "no", "no"], ["yes", "yes", "no"], ["yes", "no"]).tolist()
        [[1, 0], [1, 1]]
    """
    t, p = _pair(y_true, y_pred)
    index = {label: i for i, label in enumerate(labels)}
    ti = np.array([index.get(x, -1) for x in t], dtype=np.int64)
    pi = np.array([index.get(x, -1) for x in p], dtype=np.int64)
    keep = (ti >= 0) & (pi >= 0)
    k = len(labels)
    return np.bincount(ti[keep] * k + pi[keep], minlength=k * k).reshape(k, k)


def f1_per_class(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """F1 of each of ``labels`` (one-vs-rest): 2·TP / (2·TP + FP + FN), 0 when that is 0/0."""
    t, p = _pair(y_true, y_pred)
    labels = np.asarray(list(labels), dtype=object)
    tp = np.array([np.sum((t == c) & (p == c)) for c in labels], dtype=np.float64)
    fp = np.array([np.sum((t != c) & (p == c)) for c in labels], dtype=np.float64)
    fn = np.array([np.sum((t == c) & (p != c)) for c in labels], dtype=np.float64)
    return _f1(tp, fp, fn)


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-class F1 (sklearn ``f1_score(average='macro')``).

    ``labels=None`` averages over the sorted union of labels in truth and predictions,
    which is what the official PubMedQA ``evaluation.py`` does.

    Example (always "yes" on 2 yes / 1 no / 1 maybe: F1_yes = 4/6, the others 0):
        >>> round(macro_f1(["yes", "yes", "no", "maybe"], ["yes"] * 4), 6)
        0.222222
    """
    labels = unique_labels(y_true, y_pred) if labels is None else list(labels)
    return float(np.mean(f1_per_class(y_true, y_pred, labels))) if labels else 0.0


def split_labels(line: str) -> list[str]:
    """``"a|b"`` -> ``["a", "b"]``, each piece stripped (BioGPT's HoC convention)."""
    return [piece.strip() for piece in line.strip().split("|")]


def binarize(lines: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """(N, K) 0/1 rows: ``MultiLabelBinarizer(classes=classes)`` on ``split_labels`` of each line.

    Pieces outside ``classes`` are ignored, repeated pieces count once.

    Example:
        >>> binarize(["b|a", "c|zzz", "failed"], ["a", "b", "c"]).tolist()
        [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
    """
    index = {c: j for j, c in enumerate(classes)}
    rows = np.zeros((len(lines), len(classes)), dtype=np.int64)
    for i, line in enumerate(lines):
        for piece in split_labels(line):
            j = index.get(piece)
            if j is not None:
                rows[i, j] = 1
    return rows


def micro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Micro-averaged F1 of two (N, K) indicator matrices: 2·ΣTP / (2·ΣTP + ΣFP + ΣFN)."""
    t, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape:
        raise ValueError(f"indicator matrices differ in shape: {t.shape} vs {p.shape}")
    tp, fp, fn = float(np.sum(t & p)), float(np.sum(~t & p)), float(np.sum(t & ~p))
    return float(_f1(np.array([tp]), np.array([fp]), np.array([fn]))[0])


def hoc_micro_f1(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> float:
    """BioGPT's HoC score: micro-F1 over ``classes`` after splitting each line on ``|``.

    Example (gold {a}, {a, b}; predicted {a}, {b, c}: TP 2, FP 1, FN 1 -> 4/6):
        >>> round(hoc_micro_f1(["a", "a|b"], ["a", "b|c"], ["a", "b", "c"]), 6)
        0.666667
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold lines but {len(pred)} predictions")
    return micro_f1(binarize(gold, classes), binarize(pred, classes))


def hoc_class_counts(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per class: gold count, predicted count and true positives (for the readable report)."""
    g, p = binarize(gold, classes).astype(bool), binarize(pred, classes).astype(bool)
    return {c: {"gold": int(g[:, j].sum()), "predicted": int(p[:, j].sum()), "correct": int((g[:, j] & p[:, j]).sum())}
            for j, c in enumerate(classes)}  # fmt: skip


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)  # 0/0 -> 0 (sklearn default)


def _pair(y_true: Sequence[str], y_pred: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    return np.array(list(map(str, y_true)), dtype=object), np.array(list(map(str, y_pred)), dtype=object)
