"""Analytic FLOP counter for dense and statically sparse GPT-3 pre-training.

Every term of Hoffmann et al. (2022, "Training Compute-Optimal Large Language Models",
App. F) is one named pure function of a :class:`~mediswift_np.config.GPTConfig` and a
sequence length S. Each returns the *forward* FLOPs of ONE sequence; per-layer terms are
for ONE layer (multiply by L = ``cfg.n_layer``). A multiply-add counts as 2 FLOPs.

    embeddings          2 S V d                      (one-hot lookup as a matmul)
    attention.qkv       2 * 3 S d (h d_head) (1-s)   (query, key, value projections)
    attention.logits    2 S S (h d_head)             (K Q^T, dense)
    attention.softmax   3 h S S                      (dense)
    attention.values    2 S S (h d_head)             (softmax . V, dense)
    attention.output    2 S (h d_head) d (1-s)       (attention output projection)
    mlp                 2 S (d d_ff + d_ff d) (1-s)  (Hoffmann's "dense block": fc + proj)
    final_logits        2 S d V

    forward  = embeddings + L (attention + mlp) + final_logits
    training = forward + backward, backward = 2 x forward for every term except the
               input embedding lookup, whose backward is ``embedding_backward_factor``
               x its forward.

Sparsity (MediSwift Sec. 3.3): only the six sparsified matrices (q, k, v,
attention output, MLP fc, MLP proj) cost (1 - s) of their dense FLOPs, in the forward
pass and in both backward products (input gradient and the weight gradient sampled at
the mask's nonzeros); nothing else changes.

The backward convention. Hoffmann et al. take backward = 2 x forward everywhere
(``HOFFMANN_EMBEDDING_BACKWARD_FACTOR = 2``). The token ids of the embedding lookup have
no gradient, so its backward is only the weight gradient, 1 x its forward
(``PAPER_EMBEDDING_BACKWARD_FACTOR = 1``, the default). With the default, training =
3 forward - embeddings, which reproduces all nine entries of MediSwift's Table 6 to
within 0.14% (the plain 3 x forward overshoots them by 2.0-7.6%).

Does not handle (not counted, as in Hoffmann et al.): biases, LayerNorms, GELU,
residual additions, position-embedding additions, dropout, the causal mask (the
logits/values terms are counted dense over all S x S pairs), the cross-entropy loss,
soft prompts and the optimizer step. It counts arithmetic, not time: see the
benchmarks for when FLOP savings become wall-clock savings. Never imports the autograd
engine.

Parameter counts and 6ND are in ``params.py``; the argument checks in ``validation.py``.
"""

from __future__ import annotations

import numbers

from ..config import GPTConfig, get_preset  # noqa: F401  (get_preset: the doctests)
from ..errors import UserError
from .params import sparsified_matrix_shapes
from .validation import check_positive, check_seq_len, check_sparsity

PAPER_EMBEDDING_BACKWARD_FACTOR = 1.0  # lookup backward = weight gradient only (reproduces Table 6)
HOFFMANN_EMBEDDING_BACKWARD_FACTOR = 2.0  # Hoffmann et al. App. F: backward = 2 x forward, everything
BACKWARD_FACTOR = 2.0  # Hoffmann et al. App. F: input gradient + weight gradient

# The dict keys of forward_flop_terms, in forward order; the model tags its ops with these.
TERM_NAMES = (
    "embeddings",
    "attention.qkv",
    "attention.logits",
    "attention.softmax",
    "attention.values",
    "attention.output",
    "mlp",
    "final_logits",
)
PER_LAYER_TERMS = TERM_NAMES[1:7]  # repeated in each of the L blocks
SPARSIFIED_TERMS = ("attention.qkv", "attention.output", "mlp")  # the six masked matrices
ATTENTION_TERMS = tuple(t for t in TERM_NAMES if t.startswith("attention."))


# ----------------------------------------------------------------------------- the terms


def flops_embeddings(cfg: GPTConfig, seq_len: int) -> float:
    """Input embedding lookup counted as a one-hot matmul: 2 S V d."""
    S = check_seq_len(cfg, seq_len)
    return float(2 * S * cfg.vocab_size * cfg.n_embd)  # Hoffmann et al. App. F, "Embeddings"


def flops_attention_qkv(cfg: GPTConfig, seq_len: int, sparsity: float = 0.0) -> float:
    """Query, key and value projections of one layer: 2 * 3 S d (h d_head) (1 - s)."""
    S, s = check_seq_len(cfg, seq_len), check_sparsity(sparsity)
    dense = 2 * 3 * S * cfg.n_embd * (cfg.n_head * cfg.d_head)  # Hoffmann et al. App. F, "KQV projections"
    return dense * (1.0 - s)  # MediSwift Sec. 3.3: q, k, v are sparsified


def flops_attention_logits(cfg: GPTConfig, seq_len: int) -> float:
    """Attention logits K Q^T of one layer: 2 S S (h d_head) (dense)."""
    S = check_seq_len(cfg, seq_len)
    return float(2 * S * S * (cfg.n_head * cfg.d_head))  # Hoffmann et al. App. F, "K @ Q logits"


def flops_attention_softmax(cfg: GPTConfig, seq_len: int) -> float:
    """Softmax over the logits of one layer: 3 h S S (dense)."""
    S = check_seq_len(cfg, seq_len)
    return float(3 * cfg.n_head * S * S)  # Hoffmann et al. App. F, "Softmax"


def flops_attention_values(cfg: GPTConfig, seq_len: int) -> float:
    """Weighted sum of values (softmax . V) of one layer: 2 S S (h d_head) (dense)."""
    S = check_seq_len(cfg, seq_len)
    return float(2 * S * S * (cfg.n_head * cfg.d_head))  # Hoffmann et al. App. F, "Softmax @ query reductions"


def flops_attention_output(cfg: GPTConfig, seq_len: int, sparsity: float = 0.0) -> float:
    """Attention output projection of one layer: 2 S (h d_head) d (1 - s)."""
    S, s = check_seq_len(cfg, seq_len), check_sparsity(sparsity)
    dense = 2 * S * (cfg.n_head * cfg.d_head) * cfg.n_embd  # Hoffmann et al. App. F, "Final Linear"
    return dense * (1.0 - s)  # MediSwift Sec. 3.3: attention output projection is sparsified


def flops_mlp(cfg: GPTConfig, seq_len: int, sparsity: float = 0.0) -> float:
    """MLP fc + proj of one layer: 2 S (d d_ff + d_ff d) (1 - s)."""
    S, s = check_seq_len(cfg, seq_len), check_sparsity(sparsity)
    dense = 2 * S * (cfg.n_embd * cfg.d_ff * 2)  # Hoffmann et al. App. F, "Dense Block"
    return dense * (1.0 - s)  # MediSwift Sec. 3.3: MLP fc and output projection are sparsified


def flops_final_logits(cfg: GPTConfig, seq_len: int) -> float:
    """Output logits against the (tied) token embedding: 2 S d V."""
    S = check_seq_len(cfg, seq_len)
    return float(2 * S * cfg.n_embd * cfg.vocab_size)  # Hoffmann et al. App. F, "Final Logits"


# ----------------------------------------------------------------------------- totals


def flops_dense_weight_gradient_extra(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    """Extra FLOPs per sequence of a step whose six matrices get *dense* weight gradients.

    RigL (Evci et al. 2020) needs |∇L| at every position on its mask-update steps: the
    weight gradient of each sparsified (in × out) matrix then costs 2·S·in·out instead of
    2·S·in·out·(1-s), an extra 2·S·in·out·s, summed over the L layers.
    """
    S, s = check_seq_len(cfg, seq_len), check_sparsity(sparsity)
    weights_per_layer = sum(r * c for r, c in sparsified_matrix_shapes(cfg).values())  # q, k, v, attn out, fc, proj
    return 2.0 * S * weights_per_layer * s * cfg.n_layer  # Evci et al. 2020 (RigL): dense ∇L on update steps only


def forward_flop_terms(cfg: GPTConfig, seq_len: int, sparsity: float = 0.0) -> dict[str, float]:
    """Forward FLOPs of one sequence by term; per-layer terms are for ONE layer.

    Example:
        >>> t = forward_flop_terms(get_preset("tiny"), 128)
        >>> t["attention.logits"] == 2 * 128 * 128 * 128
        True
    """
    return {
        "embeddings": flops_embeddings(cfg, seq_len),
        "attention.qkv": flops_attention_qkv(cfg, seq_len, sparsity),
        "attention.logits": flops_attention_logits(cfg, seq_len),
        "attention.softmax": flops_attention_softmax(cfg, seq_len),
        "attention.values": flops_attention_values(cfg, seq_len),
        "attention.output": flops_attention_output(cfg, seq_len, sparsity),
        "mlp": flops_mlp(cfg, seq_len, sparsity),
        "final_logits": flops_final_logits(cfg, seq_len),
    }


def forward_flops_by_term(cfg: GPTConfig, seq_len: int, sparsity: float = 0.0) -> dict[str, float]:
    """Forward FLOPs of one sequence by term for the WHOLE model (per-layer terms x L)."""
    terms = forward_flop_terms(cfg, seq_len, sparsity)
    return {k: v * (cfg.n_layer if k in PER_LAYER_TERMS else 1) for k, v in terms.items()}


def forward_flops(cfg: GPTConfig, seq_len: int, sparsity: float = 0.0) -> float:
    """embeddings + L (attention + mlp) + final_logits, for one sequence."""
    return sum(forward_flops_by_term(cfg, seq_len, sparsity).values())  # Hoffmann et al. App. F, "Total forward pass"


def training_flops_by_term(
    cfg: GPTConfig,
    seq_len: int,
    sparsity: float = 0.0,
    embedding_backward_factor: float = PAPER_EMBEDDING_BACKWARD_FACTOR,
) -> dict[str, float]:
    """Forward + backward FLOPs of one sequence by term, whole model.

    Every term costs (1 + 2) x its forward, except the input embedding lookup, which
    costs (1 + ``embedding_backward_factor``) x its forward.
    """
    f = embedding_backward_factor
    if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0.0 <= f <= BACKWARD_FACTOR:
        raise UserError(f"embedding_backward_factor must be in [0, 2], got {embedding_backward_factor!r}")
    fwd = forward_flops_by_term(cfg, seq_len, sparsity)
    out = {k: (1.0 + BACKWARD_FACTOR) * v for k, v in fwd.items()}  # Hoffmann et al. App. F: backward = 2 x forward
    out["embeddings"] = (1.0 + f) * fwd["embeddings"]  # no gradient w.r.t. token ids
    return out


def training_flops(
    cfg: GPTConfig,
    seq_len: int,
    sparsity: float = 0.0,
    tokens: float | None = None,
    embedding_backward_factor: float = PAPER_EMBEDDING_BACKWARD_FACTOR,
) -> float:
    """Training FLOPs of one sequence, or of ``tokens`` tokens (tokens / seq_len sequences).

    Example (MediSwift-Med dense, Table 6 = 2.677e20):
        >>> round(training_flops(get_preset("med"), 1024, tokens=104.86e9) / 1e20, 3)
        2.675
    """
    per_sequence = sum(training_flops_by_term(cfg, seq_len, sparsity, embedding_backward_factor).values())
    if tokens is None:
        return per_sequence
    return per_sequence * check_positive("tokens", tokens) / seq_len


def training_flop_shares(
    cfg: GPTConfig,
    seq_len: int,
    sparsity: float = 0.0,
    embedding_backward_factor: float = PAPER_EMBEDDING_BACKWARD_FACTOR,
) -> dict[str, float]:
    """Fraction of the training FLOPs spent in each term (whole model; sums to 1)."""
    terms = training_flops_by_term(cfg, seq_len, sparsity, embedding_backward_factor)
    total = sum(terms.values())
    return {k: v / total for k, v in terms.items()}


def flop_savings(
    cfg: GPTConfig,
    seq_len: int,
    sparsity: float,
    embedding_backward_factor: float = PAPER_EMBEDDING_BACKWARD_FACTOR,
) -> float:
    """Dense / sparse training FLOPs (the paper's "2-2.5x" at s = 0.75)."""
    dense = training_flops(cfg, seq_len, 0.0, embedding_backward_factor=embedding_backward_factor)
    return dense / training_flops(cfg, seq_len, sparsity, embedding_backward_factor=embedding_backward_factor)
