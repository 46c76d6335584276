"""``python -m mediswift_np.finetune``: dense fine-tuning with soft prompts on the command line.

    python -m mediswift_np.finetune --task pubmedqa --init runs/pretrain-tiny-s0.75 --synthetic
    python -m mediswift_np.finetune --task hoc --init CKPT --data ../shared/data/hoc --seeds 3 --json

One option per field of :class:`~mediswift_np.finetune.config.FinetuneConfig`; prints the report
(tasks/report.py) and, with ``--json``, the summary as one JSON object. ``--out`` is checked
before any work: it may not be the ``--init`` checkpoint, and it must be empty unless
``--overwrite`` is given; if the run fails, a folder it created is removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..cli import (
    ArgumentParser,
    add_config_flags,
    add_output_flags,
    add_overwrite_flag,
    comma_separated,
    given_config_values,
)
from ..data.synthetic_tasks import EVIDENCE
from ..errors import UserError, print_json, run_cli
from ..fileio import check_output_dir, writing_into
from ..tasks import TASKS
from ..tasks.prompting import LOSS_ON, PROMPT_INITS
from ..tasks.report import format_report
from .config import REVIVED_INITS, FinetuneConfig
from .experiment import finetune

HELP = {
    "init": "pre-trained checkpoint directory (python -m mediswift_np.pretrain --out DIR)",
    "data": "a stage's data: PubMedQA ori_pqal.json-schema file, HoC TSV, or a folder holding them; repeat for stages, in order",
    "test": "test labels of the last stage (default: test_ground_truth.json / test.tsv beside it)",
    "prompt_len": "virtual tokens n (default: 9 for pubmedqa, 1 for hoc; 0 = plain fine-tuning)",
    "prompt_init": "vocab = copies of random token embeddings (default); normal = N(0, 0.02^2)",
    "loss_on": "target = Eq. 3 (default); source = also the source tokens (BioGPT's code)",
    "grid": "search the paper's batch size x learning rate grid (App. A.2/A.3) instead of one point",
    "grid_batch_sizes": "batch sizes to search, comma-separated",
    "grid_lrs": "learning rates to search, comma-separated",
    "max_train": "use at most this many training examples per stage (0 = all)",
    "keep_masks": "true = sparse fine-tuning: keep the pre-trained masks, pruned weights stay 0 (ablation of Sec. 2.2.1; default false)",
    "revived_init": "reactivated weights start at zero (Sec. 2.2.1, default) or random (the values a dense initialisation gives them)",
    "allow_overlap": "true = fine-tune even when test questions, PMIDs or sentences also occur in train or validation (default: refuse the leak)",
}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m mediswift_np.finetune",
        description="Dense fine-tuning with soft prompts (MediSwift Sec. 2.2). Example: --task pubmedqa --init runs/pretrain-tiny-s0.75 --synthetic",
    )
    p.add_argument("--synthetic", action="store_true", help="the embedded synthetic task (the default when no --data is given)")
    p.add_argument("--out", type=Path, help="fine-tuned checkpoint directory (default runs/finetune-<task>)")
    add_overwrite_flag(p)
    add_output_flags(p, quiet=True)
    add_config_flags(p, FinetuneConfig, helps=HELP, special={  # one option per config field; None = "not given"
        "task": dict(choices=tuple(TASKS), required=True, help="downstream task"),
        "data": dict(action="append", metavar="PATH"),
        "grid": dict(action="store_true", default=None),
        "grid_batch_sizes": dict(type=comma_separated(int), metavar="LIST"),
        "grid_lrs": dict(type=comma_separated(float), metavar="LIST"),
        "prompt_init": dict(choices=PROMPT_INITS),
        "revived_init": dict(choices=REVIVED_INITS),
        "loss_on": dict(choices=LOSS_ON),
        "synthetic_evidence": dict(choices=EVIDENCE, help="synthetic PubMedQA: answer stated in the context, or only known from pre-training"),
    })
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.synthetic and args.data:
        raise UserError("--synthetic and --data exclude each other")
    cfg = FinetuneConfig(**given_config_values(args, FinetuneConfig)).validate()
    out = args.out or Path("runs") / f"finetune-{cfg.task}"
    if Path(cfg.init).is_dir() and out.is_dir() and out.samefile(cfg.init):
        raise UserError(f"--out {out} is the --init checkpoint: fine-tuning would replace the pre-trained weights; choose another --out")
    check_output_dir(out, overwrite=args.overwrite)  # before any work
    with writing_into(out):  # a failed run leaves no folder of its own behind
        summary = finetune(cfg, out, progress=not args.quiet)
    print(format_report(summary))
    if args.json:
        print_json(summary)
    return 0


if __name__ == "__main__":
    run_cli(main)
