"""What every fine-tuning task shares: examples, the task's format, and data splits.

A task (PubMedQA, HoC) is a :class:`TaskFormat`: how a labelled example becomes the
paper's ``(source, target)`` pair of natural-language strings (Sec. 2.2, following
BioGPT), how a generated answer is parsed back to a label, and which metric scores it.
Labels are strings throughout; a multi-label HoC example keeps its labels joined by
``|`` exactly as in the file, so a label is also what a prediction file line holds.

:func:`stratified_split` is the one deterministic train/validation splitter the tasks
use (per label, like the official PubMedQA split script, so small validation sets keep
the label proportions).

Does not handle: tasks whose target is not a single generated sentence (e.g. relation
extraction triples).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UserError
from .metrics import split_labels


class TaskDataError(UserError):
    """A task file has the wrong schema, missing fields or labels outside the label set."""


@dataclass(frozen=True)
class Example:
    """One task instance: an id (PMID or ``file:line``), the source text, its label (None = unlabelled)."""

    key: str
    source: str
    label: str | None


@dataclass(frozen=True)
class TaskData:
    """The splits of one fine-tuning stage; ``test`` is empty for all but the last stage."""

    train: list[Example]
    val: list[Example]
    test: list[Example]
    description: str  # "synthetic" or the file path(s), for reports


@dataclass(frozen=True)
class TaskFormat:
    """How a task is written as text for a decoder (paper Sec. 2.2; BioGPT's strings)."""

    name: str
    labels: tuple[str, ...]  # the classes scored by the metric
    default_prompt_length: int  # n of Eq. 3 (9 for PubMedQA, 1 for HoC; Sec. 4.1-4.2)
    target_prefix: str  # the fixed words before the label in the target sentence
    metric_name: str  # "macro_f1" or "micro_f1"
    multi_label: bool = False  # labels may be several classes joined by "|" (HoC)

    def target(self, label: str) -> str:
        """The target sentence y for ``label``: ``"<prefix> <label>."``."""
        return f"{self.target_prefix} {label}."

    def plain_forms(self) -> "TextForms":
        return TextForms(self.target_prefix, "|", {label: label for label in self.labels})

    def parse(self, generated: str, forms: "TextForms | None" = None) -> str | None:
        """The label in a generated target sentence, or None when it cannot be read.

        As BioGPT's postprocess.py: strip, drop one final ``.``, take what follows the
        target prefix. A single-label answer must then be a label of the task. A
        multi-label (HoC) answer keeps its ``|``-separated pieces that are labels, in
        order, and drops the others, as BioGPT's ``hard_match_evaluation.py`` ignores
        them; it cannot be read only when no piece is a label. ``forms`` gives the
        written forms of prefix, separator and labels to look for (default: the plain
        strings).

        Example:
            >>> from mediswift_np.tasks import HOC, PUBMEDQA
            >>> PUBMEDQA.parse("the answer to the question given the context is maybe."), PUBMEDQA.parse("yes")
            ('maybe', None)
            >>> HOC.parse("the type of this document is inducing angiogenesis|bogus."), HOC.parse("the type of this document is bogus.")
            ('inducing angiogenesis', None)
        """
        forms = forms or self.plain_forms()
        text = generated.strip()
        if text.endswith("."):
            text = text[:-1]
        at = text.find(forms.prefix)
        if at < 0:
            return None
        answer = text[at + len(forms.prefix) :].strip()
        pieces = [p.strip() for p in answer.split(forms.separator)] if self.multi_label else [answer]
        labels = [forms.labels[p] for p in pieces if p in forms.labels]  # unknown pieces predict no class
        if not labels:
            return None
        return "|".join(labels)


@dataclass(frozen=True)
class TextForms:
    """How prefix, label separator and labels read after decoding (plain strings, or tokenizer round trips)."""

    prefix: str
    separator: str
    labels: dict[str, str]  # written form -> label


def check_label(fmt: TaskFormat, label: str, where: str) -> str:
    """``label`` if every ``|`` piece is in the task's label set, else a one-line error naming ``where``."""
    pieces = split_labels(label) if fmt.multi_label else [label.strip()]
    bad = next((p for p in pieces if p not in fmt.labels), None)
    if bad is not None:
        raise TaskDataError(f"{where}: label {bad!r} is not in the {fmt.name} label set ({', '.join(fmt.labels)})")
    return "|".join(pieces)


def stratified_split(examples: Sequence[Example], val_fraction: float, rng: np.random.Generator) -> tuple[list[Example], list[Example]]:
    """Split into (train, validation) with about ``val_fraction`` of every label in validation.

    Each label's examples are shuffled by ``rng`` and the first round(val_fraction · n_label)
    go to validation (at least one when a label has two or more examples and
    ``val_fraction > 0``). Order within each part follows the input order.

    Example:
        >>> ex = [Example(str(i), "s", "yes" if i < 8 else "no") for i in range(10)]
        >>> tr, va = stratified_split(ex, 0.25, np.random.default_rng(0))
        >>> sorted(e.label for e in va), len(tr)
        (['no', 'yes', 'yes'], 7)
    """
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"validation fraction must be in [0, 1), got {val_fraction}")
    by_label: dict[str | None, list[int]] = {}
    for i, ex in enumerate(examples):
        by_label.setdefault(ex.label, []).append(i)
    val_idx: set[int] = set()
    for label in sorted(by_label, key=str):
        idx = by_label[label]
        k = round(val_fraction * len(idx))
        if val_fraction > 0 and k == 0 and len(idx) >= 2:
            k = 1
        val_idx.update(idx[int(j)] for j in rng.permutation(len(idx))[:k])
    train = [ex for i, ex in enumerate(examples) if i not in val_idx]
    val = [ex for i, ex in enumerate(examples) if i in val_idx]
    return train, val


def subsample(examples: list[Example], n: int | None, rng: np.random.Generator) -> list[Example]:
    """At most ``n`` examples, drawn without replacement (order kept); all when ``n`` is None."""
    if n is None or n >= len(examples):
        return list(examples)
    if n < 1:
        raise UserError(f"subsample size must be >= 1, got {n}")
    keep = np.sort(rng.choice(len(examples), size=n, replace=False))
    return [examples[int(i)] for i in keep]


def majority_label(examples: Sequence[Example]) -> str:
    """The most frequent label (ties -> alphabetically first): the majority-class baseline."""
    counts: dict[str, int] = {}
    for ex in examples:
        if ex.label is not None:
            counts[ex.label] = counts.get(ex.label, 0) + 1
    if not counts:
        raise UserError("no labelled training examples to take a majority class from")
    return min(counts, key=lambda label: (-counts[label], label))


def read_text(path) -> str:
    """The text of a UTF-8 file; a missing file or bytes that are not UTF-8 is a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise TaskDataError(f"{path}: no such file")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise TaskDataError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def read_json(path) -> object:
    """Parse a JSON file (read by :func:`read_text`); malformed JSON is a one-line error naming the file."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise TaskDataError(f"{path}: line {e.lineno}: malformed JSON ({e.msg})") from None
