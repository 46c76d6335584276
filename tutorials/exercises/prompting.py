"""Track ``prompting``: soft prompts between source and target, and the Eq. 3 loss.

Copy this file, ``cp tutorials/exercises/prompting.py my_prompting.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check prompting --file my_prompting.py

or just ``python my_prompting.py``. Read tutorial 07 first
(``tutorials/07_finetune_soft_prompts.ipynb``, "Eq. 3 — soft prompts between source and
target") and the paper's Sec. 2.2.2. A fine-tuning sequence is, in token ids,

    </s>  x_1 ... x_m   V  V+1 ... V+n-1   y_1 ... y_k  </s>
    start   source       n virtual tokens     target    end

where V is the vocabulary size and the virtual ids read the rows of the soft prompt P
(n, C), a learned matrix. Eq. 3 trains P (and the model) on the target only. The
checker compares with mediswift_np.tasks.prompting and mediswift_np.functional, so look
there only afterwards.
"""

from __future__ import annotations

import numpy as np  # noqa: F401

TRACK = "prompting"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1


def prompt_sequence(source_ids, target_ids, prompt_length, vocab_size, eos_id, source_budget):
    """The ids of one fine-tuning sequence (a list of ints), as drawn above.

    source_ids, target_ids: lists of token ids. A source longer than source_budget is
    cut so that only its FIRST source_budget tokens remain. With prompt_length = 0
    there are no virtual tokens (plain fine-tuning).
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def inputs_targets_mask(ids, n_context):
    """Next-token training pairs of one sequence, and which of them Eq. 3 scores.

    ids: the sequence (length L). n_context: the length of [</s>; source; prompt], i.e.
    the index of y_1. Returns three arrays of length L − 1:
    idx[t] = ids[t] (the model's input), targets[t] = ids[t + 1] (what position t must
    predict), loss_mask[t] = 1.0 if targets[t] is a target token (y_1..y_k or the final
    </s>), else 0.0. (Targets where the mask is 0 are not checked.)
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def target_only_loss(logits, targets, loss_mask):
    """The Eq. 3 loss of a batch: the mean negative log-likelihood over the scored tokens.

    logits (B, T, V) float, targets (B, T) int, loss_mask (B, T) of 0.0 / 1.0. Returns
    a float. Must stay finite for large logits (+ 100, × 1000).
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def prompt_embeddings(wte, soft_prompt, ids):
    """The input embeddings of a batch of ids that may contain virtual ids.

    wte (V, C) the token embeddings, soft_prompt (n, C), ids (B, T) ints in [0, V + n).
    Returns (B, T, C).
    """
    raise NotImplementedError


if __name__ == "__main__":  # python my_prompting.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
