"""The data of each fine-tuning stage: files or the synthetic tasks, split and subsampled.

Multi-stage fine-tuning (paper App. A.2, after Jin et al. 2019: PQA-A -> PQA-U -> PQA-L)
is an ordered list of data files, one per stage; each stage trains from the weights the
previous one ended with. Every stage gets a train/validation split; only the **last**
stage has the test split:

- PubMedQA: each stage is an ``ori_pqal.json``-schema file (or a folder holding
  ``ori_pqal.json``). A folder written by ``python -m mediswift_np.tasks make`` holds its
  splits as ``train.json``, ``dev.json``, ``test.json`` and ``test_ground_truth.json``;
  given alone, it is one stage whose splits are used as they are. The last stage's test set is the ``{PMID: label}`` file given as
  ``test`` (default: ``test_ground_truth.json`` beside the last file) -- the official
  500-PMID split; the file's other questions are the train/validation pool (449 / 51).
  Earlier stages are split 90/10 (stratified), after removing any test PMID so nothing
  of the test set is trained on. A stage without labels (PQA-U) keeps all its records
  as unlabelled training data; finetune/ pseudo-labels them with the previous stage's
  model.
- HoC: each stage is a TSV (or a folder holding ``train.tsv``); the last stage tests on
  ``test`` (default: ``test.tsv`` beside it). Validation is 10% of the stage's training file.

With no files, the single stage is the synthetic task (the offline default).
``max_train``/``max_val``/``max_test`` subsample each split (without replacement, seeded)
for quick runs on real data.

Leaks are refused at the door: a test example whose PMID or question (PubMedQA,
compared lower-cased) or sentence (HoC) also occurs in the training or validation data
of any stage that is used is an error naming the first one, unless ``allow_overlap``
(``--allow-overlap true``). (BioGPT's sentence-level HoC files share one sentence
between train.tsv and test.tsv, ``Conclusion .``: the full files need the flag.)

Does not handle: k-fold cross-validation over the PQA-L pool (one fixed split is used).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from . import hoc, pubmedqa
from .base import TaskData, TaskDataError, stratified_split, subsample

SPLIT_FILES = ("train.json", "dev.json", "test.json", "test_ground_truth.json")  # tasks make --task pubmedqa

def _pubmedqa_file(path: Path) -> Path:
    if path.is_dir() and (path / SPLIT_FILES[0]).is_file():
        return path / SPLIT_FILES[0]
    return path / "ori_pqal.json" if path.is_dir() else path


def pubmedqa_split_folder(folder: Path, test: str | None, rng: np.random.Generator, val_fraction: float) -> TaskData:
    """A folder of ``tasks make --task pubmedqa``: train.json, dev.json (optional), test.json
    and test_ground_truth.json, each split used as it is (no question in two of them)."""
    train = pubmedqa.load_examples(folder / "train.json")
    gold_path = Path(test) if test else folder / "test_ground_truth.json"
    if not gold_path.is_file():
        raise TaskDataError(f"{gold_path}: no such file (the test labels; pass --test PATH)")
    gold = pubmedqa.load_ground_truth(gold_path)
    if not (folder / "test.json").is_file():
        raise TaskDataError(f"{folder / 'test.json'}: no such file (the test questions)")
    _, _, test_set = pubmedqa.official_split(pubmedqa.load_examples(folder / "test.json"), gold, rng, where=str(gold_path))
    if (folder / "dev.json").is_file():
        val = pubmedqa.load_examples(folder / "dev.json")
    else:
        train, val = stratified_split(train, val_fraction, rng)
    if any(ex.label is None for ex in train + val):
        raise TaskDataError(f"{folder}: every training and validation question needs a final_decision")
    return TaskData(train, val, test_set, description=str(folder))


def pubmedqa_stages(paths: Sequence[str], test: str | None, rng: np.random.Generator, val_fraction: float) -> list[TaskData]:
    if len(paths) == 1 and Path(paths[0]).is_dir() and (Path(paths[0]) / SPLIT_FILES[0]).is_file():
        return [pubmedqa_split_folder(Path(paths[0]), test, rng, val_fraction)]
    files = [_pubmedqa_file(Path(p)) for p in paths]
    loaded = [pubmedqa.load_examples(path) for path in files]  # every file is checked before any training
    gold_path = Path(test) if test else files[-1].parent / "test_ground_truth.json"
    if not gold_path.is_file():
        raise TaskDataError(f"{gold_path}: no such file (the test split of the last stage; pass --test PATH)")
    gold = pubmedqa.load_ground_truth(gold_path)
    stages = []
    for i, (path, examples) in enumerate(zip(files, loaded)):
        if i == len(files) - 1:
            train, val, test_set = pubmedqa.official_split(examples, gold, rng, pubmedqa.VAL_FRACTION, where=str(gold_path))
            stages.append(TaskData(train, val, test_set, description=str(path)))
            continue
        examples = [ex for ex in examples if ex.key not in gold]  # never train on a test question
        if all(ex.label is None for ex in examples):
            stages.append(TaskData(examples, [], [], description=f"{path} (unlabelled)"))
        elif any(ex.label is None for ex in examples):
            key = next(ex.key for ex in examples if ex.label is None)
            raise TaskDataError(f"{path}: record {key} has no final_decision but others do; a stage is either labelled or not")
        else:
            train, val = stratified_split(examples, val_fraction, rng)
            stages.append(TaskData(train, val, [], description=str(path)))
    return stages


def hoc_stages(paths: Sequence[str], test: str | None, rng: np.random.Generator, val_fraction: float) -> list[TaskData]:
    stages = []
    for i, raw in enumerate(paths):
        path = Path(raw)
        last = i == len(paths) - 1
        if last:
            train_file, valid_file, test_file, note = hoc.resolve_files(path, test)
        else:
            train_file, valid_file, test_file, note = (path / "train.tsv" if path.is_dir() else path), None, None, ""
        if valid_file is not None:
            train, val = hoc.load_examples(train_file), hoc.load_examples(valid_file)
        else:
            train, val = stratified_split(hoc.load_examples(train_file), val_fraction, rng)
        test_set = hoc.load_examples(test_file) if test_file is not None else []
        desc = f"{hoc.LEVEL} {train_file}" + (f" (test {test_file}; {note})" if note else (f" (test {test_file})" if last else ""))
        stages.append(TaskData(train, val, test_set, description=desc))
    return stages


def _leak_key(task: str, ex) -> str:
    return pubmedqa.question_of(ex.source) if task == "pubmedqa" else " ".join(ex.source.split())


def first_leak(task: str, stages: list[TaskData]) -> str | None:
    """The first test example that also occurs in a stage's training or validation data, in words."""
    seen: dict[tuple[str, str], str] = {}  # ("pmid" | "text", value) -> where it was first seen
    for k, st in enumerate(stages):
        stage = f" of stage {k + 1}" if len(stages) > 1 else ""
        for split, examples in (("training", st.train), ("validation", st.val)):
            for ex in examples:
                seen.setdefault(("text", _leak_key(task, ex)), f"{split} data{stage} ({ex.key})")
                if task == "pubmedqa":
                    seen.setdefault(("pmid", ex.key), f"{split} data{stage}")
    what = "question" if task == "pubmedqa" else "sentence"
    for ex in stages[-1].test:
        if task == "pubmedqa" and ("pmid", ex.key) in seen:
            return f"test PMID {ex.key} is also in the {seen['pmid', ex.key]}"
        where = seen.get(("text", _leak_key(task, ex)))
        if where is not None:
            return f"the test {what} of {ex.key} ({_leak_key(task, ex)[:60]!r}) is also in the {where}"
    return None


def load_stages(
    task: str,
    paths: Sequence[str],
    *,
    test: str | None = None,
    synthetic_sizes: tuple[int, int, int] = (400, 60, 200),
    synthetic_evidence: str = "context",
    seed: int = 0,
    val_fraction: float = 0.1,
    max_train: int | None = None,
    max_val: int | None = None,
    max_test: int | None = None,
    allow_overlap: bool = False,
) -> list[TaskData]:
    """The stages of a run, in order (see the module docstring); a test leak is an error unless ``allow_overlap``."""
    rng = np.random.default_rng([seed, 11])
    if not paths:
        if test:
            raise TaskDataError("--test needs --data (the synthetic task makes its own test split)")
        if task == "pubmedqa":
            stages = [pubmedqa.synthetic_data(*synthetic_sizes, seed=seed, evidence=synthetic_evidence)]
        elif synthetic_evidence != "context":
            raise TaskDataError("--synthetic-evidence knowledge exists for pubmedqa only")
        else:
            stages = [hoc.synthetic_data(*synthetic_sizes, seed=seed)]
    elif task == "pubmedqa":
        stages = pubmedqa_stages(paths, test, rng, val_fraction)
    elif task == "hoc":
        stages = hoc_stages(paths, test, rng, val_fraction)
    else:
        raise TaskDataError(f"unknown task {task!r}; choose from pubmedqa, hoc")
    out = []
    for st in stages:
        st = replace(st, train=subsample(st.train, max_train, rng), val=subsample(st.val, max_val, rng), test=subsample(st.test, max_test, rng))
        if not st.train:
            raise TaskDataError(f"{st.description}: no training examples")
        out.append(st)
    if not out[-1].test:
        raise TaskDataError(f"{out[-1].description}: no test examples")
    leak = None if allow_overlap else first_leak(task, out)
    if leak is not None:
        raise TaskDataError(f"{leak}: a test leak; remove it, or pass --allow-overlap true to fine-tune anyway")
    return out
