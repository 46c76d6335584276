"""Greedy generation, with and without a key/value cache (used for fine-tuned answers).

``greedy(model, context)`` appends the most probable next token until a stop token or
``max_new_tokens``. Two paths give the same tokens (tests/test_generate.py):

- ``use_cache=False``: run the whole sequence through the model for every new token --
  the obvious way, O(n·P) positions for n new tokens after P context tokens;
- ``use_cache=True``: run the context once, keep every layer's keys and values
  (model.KVCache), then feed one token at a time -- O(P + n) positions. For PubMedQA
  (P ≈ 300 context tokens, n ≈ 12 answer tokens) that is ~300 instead of ~3,700
  positions per question.

Soft prompts (Eq. 3) are passed as ``prompt``; the context then holds their virtual ids.

Does not handle: sampling, beam search, batches of different lengths (one sequence at
a time keeps positions and masks simple).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .autograd import Tensor, no_grad


def greedy(
    model,
    context: Sequence[int],
    max_new_tokens: int,
    *,
    prompt: Tensor | None = None,
    stop_ids: Sequence[int] = (),
    use_cache: bool = True,
) -> list[int]:
    """The greedily generated continuation of ``context`` (stop token included if reached)."""
    n_ctx = model.config.n_ctx
    ids = [int(i) for i in context]
    max_new_tokens = min(max_new_tokens, n_ctx - len(ids))
    if not ids or max_new_tokens < 0:
        raise ValueError(f"context of {len(ids)} tokens does not fit in the model's {n_ctx}-token window")
    out: list[int] = []
    was_training = model.training
    model.eval()
    with no_grad():
        cache = model.new_cache() if use_cache else None
        feed = ids
        for _ in range(max_new_tokens):
            logits, _ = model(np.array([feed if use_cache else ids + out]), prompt=prompt, cache=cache)
            nxt = int(np.argmax(logits.data[0, -1]))  # ties -> the lowest id
            out.append(nxt)
            if nxt in stop_ids:
                break
            feed = [nxt]
    model.train(was_training)
    return out
