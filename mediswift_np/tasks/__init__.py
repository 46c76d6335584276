"""Downstream tasks for dense fine-tuning with soft prompts (paper Sec. 2.2, 4).

    base       Example, TaskData, TaskFormat (source/target strings, parsing), splits
    pubmedqa   PubMedQA loader (ori_pqal.json schema), official test split, prediction files
    hoc        HoC loader (sentence-level TSV), prediction files
    metrics    accuracy, macro-F1, confusion matrix, HoC micro-F1 -- the official scripts' semantics
    prompting  soft prompt init, [source; prompt; target] batches, greedy prediction
    evaluation scoring a model (predictions, target loss), majority baseline, mean ± std
    stages     the data of each fine-tuning stage (files, synthetic, subsampling)
    report     the readable text report
    __main__   ``python -m mediswift_np.tasks score``: score a prediction file

Never imports the training loop (mediswift_np.finetune imports this package).
"""

from .base import Example, TaskData, TaskDataError, TaskFormat, majority_label, stratified_split
from .hoc import HOC, HOC_CLASSES
from .pubmedqa import ANSWERS, PUBMEDQA

TASKS: dict[str, TaskFormat] = {"pubmedqa": PUBMEDQA, "hoc": HOC}

__all__ = [
    "ANSWERS",
    "Example",
    "HOC",
    "HOC_CLASSES",
    "PUBMEDQA",
    "TASKS",
    "TaskData",
    "TaskDataError",
    "TaskFormat",
    "majority_label",
    "stratified_split",
]
