"""Scoring a model on a task: greedy predictions, teacher-forced target loss, baselines.

:func:`evaluate` generates an answer for every example (tasks/prompting.py), parses it
and scores the labels with the official metrics (pubmedqa.py / hoc.py); ``selection``
is the number early stopping and the grid choose by -- accuracy for PubMedQA (App. A.2:
"the best downstream classification accuracy"), micro-F1 for HoC (App. A.3).
:func:`target_loss` is the per-token loss of Eq. 3 on the targets, a smoother signal
used to break ties between epochs. :func:`majority_baseline` predicts the most frequent
training label for every test example (0.552 accuracy / 0.237 macro-F1 on PQA-L).

Does not handle: calibration or probability-based scores (only the generated label counts).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import no_grad
from . import hoc, pubmedqa
from .base import Example, TaskData, majority_label
from .prompting import Encoder, make_batch, predict


def evaluate(model, prompt, encoder: Encoder, examples: list[Example], task: str, progress: bool = False) -> dict[str, Any]:
    """Greedy predictions on ``examples``, scored; also the predictions and how many sources were truncated."""
    labels, _, truncated = predict(model, encoder, prompt, examples, progress=progress, desc="evaluating")
    scores = score_labels(task, examples, labels)
    scores["selection"] = scores["accuracy" if task == "pubmedqa" else "micro_f1"]
    return {**scores, "predictions": labels, "truncated": truncated}


def score_labels(task: str, examples: list[Example], labels: list[str]) -> dict[str, Any]:
    """The official scores (pubmedqa.py / hoc.py) of ``labels``, predicted for ``examples`` in order."""
    if task == "pubmedqa":
        return pubmedqa.score_predictions({ex.key: ex.label for ex in examples}, {ex.key: y for ex, y in zip(examples, labels)})
    return hoc.score_predictions([ex.label for ex in examples], labels)


def target_loss(model, prompt, encoder: Encoder, examples: list[Example], batch_size: int = 32) -> float:
    """Mean per-token loss of Eq. 3 over ``examples`` (teacher forcing, target tokens only)."""
    total, count = 0.0, 0.0
    with no_grad():
        for i in range(0, len(examples), batch_size):
            idx, tgt, mask = make_batch(encoder, examples[i : i + batch_size], "target")
            _, loss = model(idx, tgt, mask, prompt=prompt)
            total += loss.item() * float(mask.sum())  # the batch loss is a mean over its scored tokens
            count += float(mask.sum())
    return total / count


def majority_baseline(task: str, stages: list[TaskData]) -> dict[str, Any]:
    """Scores of predicting the last stage's majority training label for every test example."""
    label = majority_label(stages[-1].train)
    test = stages[-1].test
    scores = score_labels(task, test, [label] * len(test))
    metric = "macro_f1" if task == "pubmedqa" else "micro_f1"
    return {"label": label, "accuracy": scores["accuracy"], metric: scores[metric]}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value) across seeds."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0
