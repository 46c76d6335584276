"""Worked solutions to tutorials/exercises/prompting.py (track ``prompting``).

Try the exercises first. Written from the paper's Eq. 3 and the layout in
mediswift_np/tasks/prompting.py's docstring:

    python -m mediswift_np.exercises check prompting --file instructors/solutions/prompting.py
"""

from __future__ import annotations

import numpy as np

TRACK = "prompting"

# ----------------------------------------------------------------------------- exercise 1


def prompt_sequence(source_ids, target_ids, prompt_length, vocab_size, eos_id, source_budget):
    virtual = list(range(vocab_size, vocab_size + prompt_length))  # rows 0..n−1 of the soft prompt
    return [eos_id, *source_ids[:source_budget], *virtual, *target_ids, eos_id]  # Eq. 3: [x; P; y]


# ----------------------------------------------------------------------------- exercise 2


def inputs_targets_mask(ids, n_context):
    ids = np.asarray(ids)
    idx, targets = ids[:-1], ids[1:]  # position t predicts token t + 1
    loss_mask = (np.arange(len(idx)) >= n_context - 1).astype(np.float64)  # from the last prompt position on
    return idx, targets, loss_mask


# ----------------------------------------------------------------------------- exercise 3


def target_only_loss(logits, targets, loss_mask):
    m = logits.max(axis=-1, keepdims=True)
    log_probs = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))  # stable log softmax
    nll = -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]  # (B, T)
    return float((nll * loss_mask).sum() / loss_mask.sum())  # Eq. 3: mean over the scored tokens


# ----------------------------------------------------------------------------- exercise 4


def prompt_embeddings(wte, soft_prompt, ids):
    return np.concatenate([wte, soft_prompt])[ids]  # (B, T) -> (B, T, C); id V + i reads soft_prompt[i]
