"""The configuration of a fine-tuning run: one frozen dataclass, stored in its checkpoint.

``FinetuneConfig`` holds every choice of App. A.2/A.3 the command line exposes (one
option per field, ``__main__.py``); ``validate`` turns a bad value into a one-line error.

Does not handle: configuration files (the command line and Python are the interfaces).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.synthetic_tasks import EVIDENCE
from ..errors import UserError
from ..tasks import TASKS
from ..tasks.prompting import LOSS_ON, PROMPT_INITS
from ..training import check_optimizer_options

PAPER_GRID = {  # App. A.2 / A.3: batch sizes x learning rates searched on validation
    "pubmedqa": ((8, 16, 32, 64), (2e-4, 1e-4, 5e-5, 2.5e-5)),
    "hoc": ((16, 32, 64), (8e-5, 4e-5, 2e-5, 1e-5)),
}
REVIVED_INITS = ("zero", "random")


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that determines a fine-tuning run (stored in its checkpoint)."""

    task: str = "pubmedqa"
    init: str = ""  # pre-trained checkpoint directory
    data: tuple[str, ...] = ()  # one file/folder per stage, in order; empty = the synthetic task
    test: str = ""  # test labels of the last stage; "" = beside its file
    prompt_len: int = -1  # n of Eq. 3; -1 = the task's default (9 PubMedQA, 1 HoC)
    prompt_init: str = "vocab"
    loss_on: str = "target"  # Eq. 3; "source" adds the source tokens (BioGPT's code)
    epochs: int = 5  # at most, per stage (paper: 5 for PubMedQA, 100 for HoC)
    patience: int = 2  # epochs without validation improvement before stopping
    batch_size: int = 16
    lr: float = 1e-3  # peak learning rate (paper: grid of 2.5e-5 .. 2e-4 for 302M-1.2B models)
    grid: bool = False  # search the paper's grid instead of (batch_size, lr)
    grid_batch_sizes: tuple[int, ...] = ()  # a custom grid (overrides --grid)
    grid_lrs: tuple[float, ...] = ()
    seeds: int = 3  # App. A.2/A.3: results averaged over 3 random seeds
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    val_fraction: float = 0.1  # of each earlier stage / of the HoC training file
    synthetic_evidence: str = "context"  # "knowledge": no results sentence, the answer needs pre-training
    n_train: int = 400  # synthetic task sizes
    n_val: int = 60
    n_test: int = 200
    max_train: int = 0  # 0 = all; subsample real data for quick runs
    max_val: int = 0
    max_test: int = 0
    keep_masks: bool = False  # sparse fine-tuning: the pre-trained masks stay (SPDF's sparse arm; ablation)
    revived_init: str = "zero"  # reactivated weights start at 0 (Sec. 2.2.1) or "random" (their dense initialisation)
    allow_overlap: bool = False  # accept test questions/PMIDs/sentences that also occur in train or validation (a leak)
    seed: int = 0

    @property
    def prompt_length(self) -> int:
        return TASKS[self.task].default_prompt_length if self.prompt_len < 0 else self.prompt_len

    def grid_points(self) -> list[tuple[int, float]]:
        if self.grid_batch_sizes or self.grid_lrs:
            sizes, lrs = self.grid_batch_sizes or (self.batch_size,), self.grid_lrs or (self.lr,)
        elif self.grid:
            sizes, lrs = PAPER_GRID[self.task]
        else:
            sizes, lrs = (self.batch_size,), (self.lr,)
        return [(int(b), float(lr)) for b in sizes for lr in lrs]

    def validate(self) -> "FinetuneConfig":
        if self.task not in TASKS:
            raise UserError(f"unknown task {self.task!r}; choose from {', '.join(TASKS)}")
        if not self.init:
            raise UserError("--init CKPT is required (a pre-training checkpoint directory)")
        for name in ("epochs", "patience", "seeds", "batch_size", "n_train", "n_val", "n_test"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("max_train", "max_val", "max_test"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.prompt_len < -1:
            raise UserError(f"--prompt-len must be >= 0, got {self.prompt_len}")
        if self.prompt_init not in PROMPT_INITS or self.loss_on not in LOSS_ON:
            raise UserError(f"--prompt-init must be one of {PROMPT_INITS} and --loss-on one of {LOSS_ON}")
        for b, _ in self.grid_points():
            if b < 1:
                raise UserError(f"batch sizes must be >= 1, got {b}")
        check_optimizer_options([lr for _, lr in self.grid_points()], self.weight_decay, self.grad_clip, "--lr, --grid-lrs")
        if self.synthetic_evidence not in EVIDENCE:
            raise UserError(f"--synthetic-evidence must be one of {', '.join(EVIDENCE)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        if self.revived_init not in REVIVED_INITS:
            raise UserError(f"--revived-init must be one of {', '.join(REVIVED_INITS)}, got {self.revived_init!r}")
        if self.keep_masks and self.revived_init != "zero":
            raise UserError("--keep-masks keeps pruned weights at 0, so --revived-init does not apply")
        return self
