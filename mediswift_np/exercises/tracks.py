"""The tracks: one build-it-yourself assignment per stage of the pipeline.

Each track has a template in ``tutorials/exercises/`` (stubs that raise
``NotImplementedError``, with docstrings stating shapes and equations), worked
solutions of the same name in ``tutorials/exercises/solutions/``, and its exercises
here. The table in ``tutorials/exercises/README.md`` says which tutorial teaches each.

Does not handle: tracks defined outside this package.
"""

from __future__ import annotations

from . import track_attention, track_autograd, track_bpe, track_masked_linear, track_optim, track_prompting
from .counting import EXERCISE_4, EXERCISE_6
from .emulator import EXERCISE_7
from .flop_terms import EXERCISE_1, EXERCISE_2, EXERCISE_3, EXERCISE_5
from .runner import Track

FLOPS = Track("flops", "verifying the FLOP savings of sparse pre-training, and the emulator's speedup",
              "sparse_flops.py", "tutorials/05_flop_accounting.ipynb (exercises 1–6), "
              "tutorials/08_dataflow_accelerator.ipynb (exercise 7)",
              (EXERCISE_1, EXERCISE_2, EXERCISE_3, EXERCISE_4, EXERCISE_5, EXERCISE_6, EXERCISE_7))  # fmt: skip

TRACKS: dict[str, Track] = {t.name: t for t in (
    Track("autograd", "backward passes of the GPT's ops, and a finite-difference check", "autograd.py",
          "tutorials/01_autograd_from_scratch.ipynb", track_autograd.exercises()),
    Track("bpe", "the BPE trainer's merge loop, ties broken as subword-nmt breaks them", "bpe_merges.py",
          "tutorials/02_moses_bpe.ipynb", track_bpe.EXERCISES),
    Track("attention", "causal multi-head self-attention", "attention.py",
          "tutorials/03_gpt3_block.ipynb", track_attention.EXERCISES),
    Track("masked_linear", "the masked linear layer: CSR forward, input gradient, sampled weight gradient, densify",
          "masked_linear.py", "tutorials/04_sparsity_and_sparse_matmul.ipynb", track_masked_linear.EXERCISES),
    FLOPS,
    Track("optim", "AdamW with the warmup + cosine schedule and global-norm clipping", "adamw.py",
          "tutorials/06_sparse_pretraining.ipynb", track_optim.EXERCISES),
    Track("prompting", "the soft-prompt sequence layout and the Eq. 3 target-only loss", "soft_prompts.py",
          "tutorials/07_finetune_soft_prompts.ipynb", track_prompting.EXERCISES),
)}  # fmt: skip
