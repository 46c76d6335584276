"""PubMedQA, reasoning-required setting (Jin et al. 2019; paper Sec. 4.1, App. A.2).

Files: ``ori_pqal.json`` (PQA-L, 1000 expert-labelled questions) and the PQA-A / PQA-U
files share one schema -- a JSON object keyed by PMID whose values hold ``QUESTION``
(str), ``CONTEXTS`` (list of str) and, except in PQA-U, ``final_decision``
(yes/no/maybe). Other fields (``LONG_ANSWER``, ``LABELS``, ``MESHES``, ...) are
accepted and ignored: in the reasoning-required setting the model sees the question
and the context but never the long answer.

Format (BioGPT's ``rebuild_data.py``, reasoning required)::

    source  "question: {Q} context: {C} "      C = the contexts joined by spaces,
                                               whitespace runs collapsed
    target  "the answer to the question given the context is {yes|no|maybe}."

Splits: the official test set is the 500 PMIDs of ``test_ground_truth.json`` (labels
taken from that file). The other 500 PQA-L questions are the training/validation pool:
:func:`official_split` holds out a label-stratified 10% (round(0.1·n) of each label:
28 + 17 + 6 = 51 questions, about one fold of the official 10-fold cross-validation
split) for validation and trains on the remaining 449, with a fixed generator so every
run sees the same split.

Records without ``final_decision`` (PQA-U) are returned with label None; the fine-tuning
pipeline can only use them as a later stage, pseudo-labelled by the previous stage's
model (Jin et al.'s bootstrapping idea; see finetune/).

Prediction files use the official format, ``{PMID: label}`` JSON, with ``failed`` for an
answer that could not be parsed. :func:`score_predictions` reports accuracy and
``macro_f1`` over yes/no/maybe (sklearn's ``f1_score(labels=[yes, no, maybe],
average='macro')``: a failed answer is a miss of its true class), and ``macro_f1_file``,
what the official ``evaluation.py`` prints for the written file (``labels=None``: the
union of labels, so ``failed`` becomes a fourth class with F1 0). The two are equal
whenever every answer parses and the truth holds all three answers. The confusion
matrix counts yes/no/maybe predictions only; ``failed_per_class`` holds, per true
answer, the predictions that are none of them (``failed``): its missing column. Every
prediction outside yes/no/maybe (``failed``, but also ``"Yes"`` or ``null`` in a file
written elsewhere) is counted as ``unparseable``, and the first one is named.

Does not handle: the reasoning-free setting (long answer in the source), PQA-A's own
200k/11k split file layout (pass the file; validation is split off it like any stage).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ..data.synthetic_tasks import synthetic_pubmedqa_splits
from ..fileio import atomic_write_json
from . import metrics
from .base import Example, TaskData, TaskDataError, TaskFormat, check_label, read_json, stratified_split

ANSWERS = ("yes", "no", "maybe")
PUBMEDQA = TaskFormat(
    name="pubmedqa",
    labels=ANSWERS,
    default_prompt_length=9,  # Sec. 4.1: "continuous embeddings of length n = 9"
    target_prefix="the answer to the question given the context is",
    metric_name="macro_f1",
)
VAL_FRACTION = 0.1  # 51 of the 500 non-test PQA-L questions (about one fold of the official 10-fold split)
_SPACES = re.compile(r"\s+")


def source_text(question: str, contexts: list[str]) -> str:
    """BioGPT's reasoning-required source: ``"question: {Q} context: {C} "`` (no long answer).

    Example:
        >>> source_text("Does X help? ", ["First part.", " Second\\npart. "])
        'question: Does X help? context: First part. Second part. '
    """
    context = _SPACES.sub(" ", " ".join(c.strip() for c in contexts))
    return f"question: {question.strip()} context: {context.strip()} "


def question_of(source: str) -> str:
    """The question of a :func:`source_text` string, lower-cased (how leaks are found).

    Example:
        >>> question_of(source_text("Does X help? ", ["It does."]))
        'does x help?'
    """
    return source.removeprefix("question: ").partition(" context: ")[0].strip().lower()


def load_records(path: str | os.PathLike) -> dict[str, dict]:
    """The records of an ``ori_pqal.json``-schema file, checked field by field."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise TaskDataError(f"{path}: expected a JSON object keyed by PMID (PubMedQA schema), got {type(data).__name__}")
    if not data:
        raise TaskDataError(f"{path}: no records")
    for pmid, rec in data.items():
        where = f"{path}: record {pmid}"
        if not isinstance(rec, dict):
            raise TaskDataError(f"{where}: expected an object with QUESTION and CONTEXTS")
        if not isinstance(rec.get("QUESTION"), str) or not rec["QUESTION"].strip():
            raise TaskDataError(f"{where}: missing or empty 'QUESTION'")
        ctx = rec.get("CONTEXTS")
        if not isinstance(ctx, list) or not ctx or not all(isinstance(c, str) for c in ctx):
            raise TaskDataError(f"{where}: 'CONTEXTS' must be a non-empty list of strings")
        if "final_decision" in rec:
            if not isinstance(rec["final_decision"], str):
                raise TaskDataError(f"{where}: 'final_decision' must be a string")
            check_label(PUBMEDQA, rec["final_decision"], where)
    return data


def examples_from_records(records: dict[str, dict]) -> list[Example]:
    """Records -> examples with the BioGPT source string; label None without ``final_decision``."""
    return [Example(str(pmid), source_text(r["QUESTION"], r["CONTEXTS"]), r.get("final_decision")) for pmid, r in records.items()]


def load_examples(path: str | os.PathLike) -> list[Example]:
    """Examples of a PQA-L/PQA-A/PQA-U file (see :func:`load_records`)."""
    return examples_from_records(load_records(path))


def load_ground_truth(path: str | os.PathLike) -> dict[str, str]:
    """A ``{PMID: label}`` file such as ``test_ground_truth.json``, labels checked."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or not data:
        raise TaskDataError(f"{path}: expected a non-empty JSON object {{PMID: yes|no|maybe}}")
    for pmid, label in data.items():
        if not isinstance(label, str):
            raise TaskDataError(f"{path}: PMID {pmid}: label must be a string, got {type(label).__name__}")
        check_label(PUBMEDQA, label, f"{path}: PMID {pmid}")
    return {str(k): v for k, v in data.items()}


def official_split(
    examples: list[Example], ground_truth: dict[str, str], rng: np.random.Generator, val_fraction: float = VAL_FRACTION,
    where: str = "ground truth",
) -> tuple[list[Example], list[Example], list[Example]]:
    """(train, validation, test): test = the ground-truth PMIDs (their labels), the rest split stratified."""
    by_pmid = {ex.key: ex for ex in examples}
    missing = [p for p in ground_truth if p not in by_pmid]
    if missing:
        raise TaskDataError(f"{where}: {len(missing)} test PMID(s) not in the data file, e.g. {missing[0]}")
    test = [Example(p, by_pmid[p].source, label) for p, label in ground_truth.items()]
    pool = [ex for ex in examples if ex.key not in ground_truth]
    unlabelled = next((ex.key for ex in pool if ex.label is None), None)
    if unlabelled is not None:
        raise TaskDataError(f"{where}: record {unlabelled} has no final_decision; the stage with the test split must be labelled")
    train, val = stratified_split(pool, val_fraction, rng)
    return train, val, test


def synthetic_data(n_train: int, n_val: int, n_test: int, seed: int, evidence: str = "context") -> TaskData:
    """Synthetic PubMedQA-style splits about disjoint drugs (data.synthetic_pubmedqa_splits).

    ``evidence="knowledge"`` leaves the results sentence out: closed book, the answer
    needs the drug's facts from pre-training.
    """
    parts = synthetic_pubmedqa_splits((n_train, n_val, n_test), seed, evidence)
    desc = "synthetic" if evidence == "context" else "synthetic closed-book (knowledge: no results sentence, test drugs unseen in fine-tuning)"
    return TaskData(*(examples_from_records(p) for p in parts), description=desc)


def write_predictions(path: str | os.PathLike, predictions: dict[str, str]) -> Path:
    """Write ``{PMID: label}`` (the official prediction format), atomically."""
    return atomic_write_json(path, predictions)


def score_predictions(ground_truth: dict[str, str], predictions: dict[str, str], where: str = "predictions") -> dict:
    """Accuracy and macro-F1 exactly as the official ``evaluation.py`` (same PMIDs required)."""
    missing = [p for p in ground_truth if p not in predictions]
    extra = [p for p in predictions if p not in ground_truth]
    if missing or extra:
        detail = ", ".join(s for s in (f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                                        f"{len(extra)} not in the test set (e.g. {extra[0]})" if extra else "") if s)  # fmt: skip
        raise TaskDataError(f"{where}: PMIDs do not match the test set: {detail}")
    pmids = list(ground_truth)
    truth = [ground_truth[p] for p in pmids]
    preds = [str(predictions[p]) for p in pmids]
    outside = [p for p in pmids if predictions[p] not in ANSWERS]  # "failed", but also "Yes", null, 1, ...
    return {
        "accuracy": metrics.accuracy(truth, preds),
        "macro_f1": metrics.macro_f1(truth, preds, ANSWERS),  # over yes/no/maybe: "failed" counts as a miss
        "macro_f1_file": metrics.macro_f1(truth, preds),  # evaluation.py on the written file: "failed" is a 4th class
        "per_class_f1": dict(zip(ANSWERS, metrics.f1_per_class(truth, preds, ANSWERS).tolist())),
        "confusion_matrix": metrics.confusion_matrix(truth, preds, ANSWERS).tolist(),  # rows truth, cols prediction
        "failed_per_class": {a: sum(t == a and p not in ANSWERS for t, p in zip(truth, preds)) for a in ANSWERS},  # its missing column
        "unparseable": len(outside),  # answers outside yes/no/maybe: each scored as wrong
        "first_unparseable": f"PMID {outside[0]}: {json.dumps(predictions[outside[0]])}" if outside else None,
        "n": len(pmids),
    }


def score_prediction_file(pred_path: str | os.PathLike, gold_path: str | os.PathLike) -> dict:
    """Score a ``{PMID: label}`` prediction file against ``test_ground_truth.json``."""
    gold = load_ground_truth(gold_path)
    preds = read_json(pred_path)
    if not isinstance(preds, dict):
        raise TaskDataError(f"{pred_path}: expected a JSON object {{PMID: label}}")
    return score_predictions(gold, {str(k): v for k, v in preds.items()}, where=str(pred_path))
