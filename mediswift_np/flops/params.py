"""Parameter counts of the analytic FLOP counter: total, non-embedding, and active
(unmasked) non-embedding parameters of a preset at sparsity s; and the 6ND estimate.

Total and non-embedding come from :meth:`GPTConfig.n_params` (Table 5's n_params is the
non-embedding count); "active" is the non-embedding count with each of the six matrices
holding round((1 - s) numel) unmasked weights (Table 6's params column).

Does not handle: counting a built model (that is ``sparse.sparsity_report``, which also
counts the embeddings), tied or untied output layers other than GPT-2's tied one.
"""

from __future__ import annotations

from ..config import GPTConfig, get_preset
from .validation import check_positive, check_sparsity

PAPER_PRETRAIN_TOKENS = 104.86e9  # MediSwift Table 6: pre-training tokens of every model
TOKENS_PER_PARAM = 20  # Hoffmann et al. 2022, Table 3: compute-optimal D is about 20 N


def sparsified_matrix_shapes(cfg: GPTConfig) -> dict[str, tuple[int, int]]:
    """(rows, cols) of the six matrices of ONE block that carry a mask (Sec. 3.3)."""
    d, hd, d_ff = cfg.n_embd, cfg.n_head * cfg.d_head, cfg.d_ff
    return {
        "query": (d, hd), "key": (d, hd), "value": (d, hd),  # W for x @ W: (C, nh*hs) each
        "attention_output": (hd, d),  # (nh*hs, C)
        "mlp_fc": (d, d_ff),  # (C, 4C)
        "mlp_proj": (d_ff, d),  # (4C, C)
    }


def n_active_non_embedding_params(cfg: GPTConfig, sparsity: float = 0.0) -> int:
    """Non-embedding parameters left unmasked (Table 6's "params" column): each of the six
    matrices keeps round((1 - s) numel) weights; biases and LayerNorms stay dense.

    Analytic, from the config alone. A model's ``sparse.sparsity_report(model)
    .active_params_with_embeddings`` (pre-training's JSON key of the same name) counts the
    drawn masks over *all* parameters; the two differ by exactly the embeddings,
    V·d + n_ctx·d (tests/test_flops.py).

    Example (tiny: L = 4, d = 128; each block keeps 12 d² / 4 of its 12 d² weights at s = 0.75):
        >>> n_active_non_embedding_params(get_preset("tiny"), 0.75) == 4 * (3 * 128**2 + 13 * 128) + 2 * 128
        True
    """
    s = check_sparsity(sparsity)
    pruned = sum(r * c - round((1.0 - s) * r * c) for r, c in sparsified_matrix_shapes(cfg).values())
    return cfg.n_params(embeddings=False) - cfg.n_layer * pruned


def param_counts(cfg: GPTConfig, sparsity: float = 0.0) -> dict[str, int]:
    """Parameter counts: ``total`` (with embeddings), ``non_embedding`` (Table 5's n_params),
    ``active_non_embedding`` (non-embedding, unmasked: Table 6's params)."""
    return {
        "total": cfg.n_params(embeddings=True),
        "non_embedding": cfg.n_params(embeddings=False),
        "active_non_embedding": n_active_non_embedding_params(cfg, sparsity),
    }


def six_nd(cfg: GPTConfig, tokens: float, sparsity: float = 0.0) -> float:
    """The 6 N D estimate with N = active non-embedding parameters (Kaplan et al. 2020's N;
    equals the non-embedding count when dense), D = tokens."""
    return 6.0 * n_active_non_embedding_params(cfg, sparsity) * check_positive("tokens", tokens)  # Kaplan et al. 2020, C = 6ND


n_active_params = n_active_non_embedding_params  # the old name, kept for exercises/counting.py


def default_tokens(model: str) -> float:
    """Default token budget: the paper's 104.86e9 for med/large/xl; otherwise 20 tokens per
    (total) parameter, Hoffmann et al.'s compute-optimal ratio (tiny: 21.4M, small: 138M)."""
    if model in ("med", "large", "xl"):
        return PAPER_PRETRAIN_TOKENS
    return float(TOKENS_PER_PARAM * get_preset(model).n_params(embeddings=True))
