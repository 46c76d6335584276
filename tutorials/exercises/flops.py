"""Track ``flops``: verifying the FLOP savings of sparse pre-training (unit 05).

Copy this file, ``cp tutorials/exercises/flops.py my_flops.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check flops --file my_flops.py

or just ``python my_flops.py``. Read the track's preface first, ``flops.md`` in this
folder: it writes out the notation and the equations, and says what to read before
each exercise.

Notation (all from ``cfg``, a :class:`mediswift_np.config.GPTConfig`):
    S = seq_len          tokens in one sequence
    V = cfg.vocab_size   vocabulary
    d = cfg.n_embd       model width (d_model)
    h = cfg.n_head       heads, each of size d_head = cfg.d_head (h · d_head = d)
    d_ff = cfg.d_ff      MLP width, 4 · d
    L = cfg.n_layer      blocks
    s = sparsity         fraction of pruned weights in each sparsified matrix, 0 <= s < 1

Conventions: a multiply-add counts as 2 FLOPs, so an (m × k)·(k × n) product costs
2·m·k·n. "Forward FLOPs" are for ONE sequence of S tokens. The six sparsified matrices
of every block are query, key, value, attention output, MLP fc and MLP proj (paper
Sec. 3.3); everything else is dense.

Write the formulas yourself -- the library (mediswift_np.flops, ...) has the answers,
and the checker compares against it, so look there only afterwards.
"""

from __future__ import annotations

import numpy as np  # noqa: F401

from mediswift_np.config import PRESETS, GPTConfig  # noqa: F401  (PRESETS["tiny"], ["med"], ... to try things)

TRACK = "flops"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1 (easy)


def attention_projection_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    """Forward FLOPs of ONE block's attention projections for one sequence.

    The projections are the query, key and value projections (each d → h·d_head) and
    the attention output projection (h·d_head → d); all four are sparsified, so each
    does only (1 − s) of its dense multiply-adds. Do NOT include K·Qᵀ, the softmax or
    softmax·V (they are not projections).

    Check by hand: PRESETS["tiny"] (d = 128), seq_len 128, s = 0.75 gives 4,194,304.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2 (easy)


def mlp_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    """Forward FLOPs of ONE block's MLP (fc: d → d_ff, then proj: d_ff → d) for one
    sequence, both matrices at sparsity s. (GELU and biases are not counted.)"""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def forward_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    """Forward FLOPs of the WHOLE model for one sequence, per Hoffmann et al. App. F:

        embeddings + L · (attention + mlp) + final logits

    embeddings: the input lookup priced as a one-hot (S × V)·(V × d) matmul; attention:
    your projections of exercise 1 plus K·Qᵀ, softmax (3 FLOPs per score and head) and
    softmax·V; final logits: (S × d)·(d × V) against the tied embedding. Only the six
    matrices are sparse.
    """
    raise NotImplementedError


def training_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    """Training (forward + backward) FLOPs of one sequence, in the paper's convention.

    Every matrix product's backward is two products of its size (input gradient and
    weight gradient), except the embedding lookup: token ids have no gradient, so its
    backward is only the weight gradient. This is the convention that reproduces
    Table 6 (e.g. Med at s = 0.75: 1.252e20 FLOPs over 104.86e9 tokens, S = 1024).
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def active_params(cfg: GPTConfig, sparsity: float) -> int:
    """Active (unmasked) NON-embedding parameters of the model at sparsity s.

    Non-embedding parameters: every block's weights, biases and LayerNorms, plus the
    final LayerNorm (Table 5's n_params). Each of the six matrices keeps
    round((1 − s) · rows · cols) weights (that is how many a random mask keeps);
    biases and LayerNorms stay dense.

    Check: PRESETS["med"] at s = 0 gives 302,311,424 (Table 5: 302M).
    """
    raise NotImplementedError


def overall_sparsity(model) -> float:
    """The overall sparsity S = Σ_l s_l N_l / N of a (partly) masked model (paper Sec. 2.1).

    ``model`` is a :class:`mediswift_np.model.GPT`. ``model.named_parameters()`` yields
    ``(name, p)``; ``p.size`` is the parameter's number of entries N_l, and ``p.mask`` is
    None for a dense parameter or a bool array, False where a weight is pruned. N is the
    parameter count of the whole (initially dense) model. Masks may differ per matrix.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 5


def flop_savings(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    """How many times fewer training FLOPs the sparse model needs than the dense one
    (a number >= 1; about 2.14 for Med at s = 0.75)."""
    raise NotImplementedError


def sparsified_share(cfg: GPTConfig, seq_len: int) -> float:
    """f: the fraction of the DENSE model's training FLOPs spent in the six sparsified
    matrices of all L blocks. (Then savings = 1/(1 − f·s): can you see why, and why f,
    and so the savings, grow with the model's size?)"""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 6


def counted_product_flops(counter, term: str) -> int:
    """The FLOPs of the matrix products of one App. F ``term`` that the engine counted.

    ``counter`` is a :class:`mediswift_np.autograd.FlopCounter` that recorded one
    training step (forward and backward) of a tiny model, like this:

        with count_flops() as counter:
            _, loss = model(x, y)
            loss.backward()

    ``term`` is one of "attention.qkv", "attention.logits", "attention.values",
    "attention.output", "mlp", "final_logits". The counter records FLOPs per scope
    (the term), kind ("matmul", "sparse_matmul", "bias", "gelu", ...) and phase
    ("forward", "backward"); ``counter.total(scope=..., kind=..., phase=...)`` sums
    them (leave a filter out to sum over it). Only the matrix products are asked for.
    """
    raise NotImplementedError


def analytic_product_flops(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float, term: str) -> float:
    """The analytic training FLOPs of ``term`` (one of the six names above) for one
    training step on ``batch`` sequences of ``seq_len`` tokens, whole model.

    Use the App. F forward term (your exercises 1–3), remember L for the per-layer
    terms and the backward rule. When you are done, your two functions should agree
    exactly on the counter of a real step (the checker shows it).
    """
    raise NotImplementedError


if __name__ == "__main__":  # python my_flops.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
