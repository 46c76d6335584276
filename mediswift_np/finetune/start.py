"""The starting point of fine-tuning: the densified pre-trained model and its soft prompt.

``build_model`` restores a checkpoint, counts the pruned weights and removes the masks
(Sec. 2.2.1, Eq. 2: the Σ_l s_l·N_l reactivated weights start at exactly 0), or keeps
them (``keep_masks``, sparse fine-tuning) or gives the reactivated weights their dense
initialisation (``revived_init="random"``, an ablation); then it makes the soft prompt
(Sec. 2.2.2, Eq. 3), continuing an earlier fine-tuning's prompt when its shape fits.

Does not handle: prompts longer than the context allows (tasks/prompting.py checks that).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import checkpoint, sparse
from ..model import GPT
from ..nn import Parameter
from ..tasks.prompting import init_soft_prompt
from .train import PROMPT_KEY


def revive_randomly(model: GPT, seed: int) -> None:
    """Give every pruned weight the value a fresh dense initialisation (``GPT(config, seed)``) puts there."""
    fresh = dict(GPT(model.config, seed=seed).named_parameters())
    for name, p in model.named_parameters():
        if p.mask is not None:
            p.data[~p.mask] = fresh[name].data[~p.mask]


def pretrained_length(state: dict[str, Any], n_ctx: int) -> int:
    """The longest sequence the starting weights were trained on: every position row of
    ``wpe`` below it was updated. Pre-training stores its ``seq_len``; a fine-tuned or
    imported checkpoint passes on what it records (else ``n_ctx``)."""
    length = state.get("pretrain", {}).get("seq_len") or state.get("pretrained_length") or n_ctx
    return min(int(length), n_ctx)


def build_model(arrays: dict[str, np.ndarray], state: dict[str, Any], prompt_length: int, rng: np.random.Generator,
                prompt_init: str, keep_masks: bool = False, revived_init: str = "zero") -> tuple[GPT, Parameter | None, int]:  # fmt: skip
    """The densified model (Sec. 2.2.1), its soft prompt, and the number of reactivated weights.

    ``keep_masks`` keeps the pre-trained masks (sparse fine-tuning, nothing reactivated);
    ``revived_init="random"`` starts the reactivated weights from a dense initialisation
    instead of 0 (the paper's Sec. 2.2.1 choice, which this ablates).
    """
    model = checkpoint.restore_model(arrays, state)
    if keep_masks:
        reactivated = 0
    else:
        reactivated = sum(int((~p.mask).sum()) for p in model.parameters() if p.mask is not None)
        if revived_init == "random":
            revive_randomly(model, seed=int(rng.integers(2**31)))
        sparse.densify(model)  # masks removed: pruned weights (0, or random) now train like every other weight
    prompt = None
    if prompt_length > 0:
        saved = arrays.get(PROMPT_KEY)
        if saved is not None and saved.shape == (prompt_length, model.config.n_embd):
            prompt = Parameter(saved.astype(np.float32))  # continue an earlier fine-tuning's prompt
        else:
            prompt = init_soft_prompt(model.transformer.wte.weight.data, prompt_length, rng, prompt_init)
    return model, prompt, reactivated
