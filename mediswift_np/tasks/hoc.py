"""Hallmarks of Cancer (Baker et al. 2016; paper Sec. 4.2, App. A.3).

Files: TSV lines ``text<TAB>label|label`` as BioGPT distributes them -- **sentence
level** (one sentence per line, already Moses-tokenized), labels among the ten hallmark
names or ``empty``. Blank lines are skipped (the distributed test.tsv has one after
every sentence). The paper evaluates the *abstract-level* split (1108/157/315); results
here on these files are sentence-level and every report says so.

Format (BioGPT's ``DC-HoC/rebuild_data.py``)::

    source  the sentence, with a final "." added when it does not end in one
    target  "the type of this document is {labels}."    labels as in the file, "|"-joined

Splits: BioGPT's valid.tsv and test.tsv are the same file in this distribution, so
validation can not come from valid.tsv. ``tasks/stages.py`` then splits a label-stratified
10% off train.tsv for validation (early stopping, grid choice) and tests on test.tsv. A
valid.tsv that differs from test.tsv (as ``tasks make --task hoc`` writes) is used as is.

Scoring (:func:`score_predictions`) is BioGPT's hard-match evaluation: micro-F1 over the
11 classes with ``empty`` counted, after splitting lines on ``|`` (see metrics.py).
Pieces of an answer that are not class names are ignored, so a partly readable answer
(``inducing angiogenesis|bogus``) still scores its known classes; an answer with no
known piece is unparseable, written as ``failed``, and predicts no class. A line with
any piece outside the 11 classes is counted as ``unparseable`` and the first is named.

Does not handle: abstract-level HoC (aggregating sentence predictions per abstract).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.synthetic_tasks import synthetic_hoc_splits
from ..data.world import HALLMARKS
from ..fileio import atomic_write_text
from . import metrics
from .base import Example, TaskData, TaskDataError, TaskFormat, check_label, read_text

EMPTY = "empty"
HOC_CLASSES = (*HALLMARKS, EMPTY)  # the 10 hallmarks as spelled in HoC, plus "empty": 11 classes
HOC = TaskFormat(
    name="hoc",
    labels=HOC_CLASSES,
    default_prompt_length=1,  # Sec. 4.2: "a continuous embedding of length n = 1"
    target_prefix="the type of this document is",
    metric_name="micro_f1",
    multi_label=True,
)
LEVEL = "sentence-level"


def source_text(sentence: str) -> str:
    """BioGPT's HoC source: the stripped sentence, ending in ``.``.

    Example:
        >>> source_text("TP53 is mutated ."), source_text("PD-L1 is upregulated")
        ('TP53 is mutated .', 'PD-L1 is upregulated.')
    """
    s = sentence.strip()
    return s if s.endswith(".") else s + "."


def load_examples(path: str | os.PathLike) -> list[Example]:
    """Examples of a HoC TSV; a malformed line or unknown label is an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise TaskDataError(f"{path}: no such file")
    examples = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise TaskDataError(f"{path}: line {lineno}: not valid UTF-8 ({e.reason})") from None
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 2:
                raise TaskDataError(f"{path}: line {lineno}: expected 'text<TAB>label|label', found {len(fields)} tab-separated field(s)")
            text, labels = fields[0].strip(), fields[1].strip()
            if not text:
                raise TaskDataError(f"{path}: line {lineno}: empty text")
            if not labels:
                raise TaskDataError(f"{path}: line {lineno}: no label (use 'empty' for a sentence without hallmarks)")
            examples.append(Example(f"{path.name}:{lineno}", source_text(text), check_label(HOC, labels, f"{path}: line {lineno}")))
    if not examples:
        raise TaskDataError(f"{path}: no examples")
    return examples


def resolve_files(data: str | os.PathLike, test: str | os.PathLike | None = None) -> tuple[Path, Path | None, Path, str]:
    """(train file, validation file or None, test file, note) from a folder holding
    train.tsv/test.tsv (and perhaps valid.tsv), or a train file + ``test``.

    valid.tsv is used for validation only when it differs from test.tsv (BioGPT's
    distribution ships the two identical; ``tasks make --task hoc`` writes three
    disjoint files)."""
    data = Path(data)
    if data.is_dir():
        train, test_path = data / "train.tsv", Path(test) if test is not None else data / "test.tsv"
    else:
        if test is None:
            raise TaskDataError(f"{data}: a HoC training file needs a test file too (--test PATH), or pass the folder")
        train, test_path = data, Path(test)
    for p in (train, test_path):
        if not p.is_file():
            raise TaskDataError(f"{p}: no such file")
    valid = train.parent / "valid.tsv"
    if not valid.is_file():
        return train, None, test_path, ""
    if valid.read_bytes() == test_path.read_bytes():
        return train, None, test_path, "valid.tsv is identical to test.tsv, so validation is split off train.tsv"
    return train, valid, test_path, ""


def examples_from_pairs(pairs: list[tuple[str, list[str]]], name: str) -> list[Example]:
    return [Example(f"{name}:{i + 1}", source_text(text), "|".join(labels)) for i, (text, labels) in enumerate(pairs)]


def synthetic_data(n_train: int, n_val: int, n_test: int, seed: int) -> TaskData:
    """Synthetic HoC-style splits with no sentence in two of them (data.synthetic_hoc_splits)."""
    parts = synthetic_hoc_splits((n_train, n_val, n_test), seed)
    return TaskData(*(examples_from_pairs(p, f"synthetic-{k}") for k, p in zip(("train", "val", "test"), parts)),
                    description=f"synthetic ({LEVEL})")  # fmt: skip


def write_predictions(path: str | os.PathLike, labels: list[str]) -> Path:
    """One predicted label line per test sentence (BioGPT's extracted format), atomically."""
    return atomic_write_text(path, "".join(f"{label}\n" for label in labels))


def score_predictions(gold: list[str], pred: list[str]) -> dict:
    """Micro-F1 over the 11 classes (BioGPT's hard match), exact-set accuracy, per-class counts."""
    if len(gold) != len(pred):
        raise TaskDataError(f"{len(pred)} predictions for {len(gold)} test sentences")
    g, p = metrics.binarize(gold, HOC_CLASSES), metrics.binarize(pred, HOC_CLASSES)
    outside = [i for i, line in enumerate(pred) if any(piece not in HOC_CLASSES for piece in metrics.split_labels(line))]
    return {
        "micro_f1": metrics.micro_f1(g, p),
        "accuracy": float(np.mean(np.all(g == p, axis=1))) if len(gold) else 0.0,  # exact label-set match
        "per_class": metrics.hoc_class_counts(gold, pred, HOC_CLASSES),
        "unparseable": len(outside),  # lines with a piece outside the 11 classes ("failed", "Yes", ...)
        "first_unparseable": f"line {outside[0] + 1}: {pred[outside[0]]!r}" if outside else None,
        "n": len(gold),
    }


def score_prediction_file(pred_path: str | os.PathLike, gold_path: str | os.PathLike) -> dict:
    """Score a prediction file (one label line per sentence) against a HoC TSV."""
    gold = [ex.label for ex in load_examples(gold_path)]
    pred = [line.strip() for line in read_text(pred_path).splitlines()]
    if len(pred) != len(gold):
        raise TaskDataError(f"{pred_path}: {len(pred)} prediction lines but {gold_path} has {len(gold)} sentences")
    return score_predictions(gold, pred)
