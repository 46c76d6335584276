"""Analytic FLOP counter for dense and statically sparse GPT-3 pre-training.

Hoffmann et al. (2022, App. F) term by term, extended to MediSwift's six sparsified
matrices (Sec. 3.3), and the parameter counts that go with it:

    analytic.py     one function per FLOP term (flops_embeddings, flops_attention_qkv, ...),
                    forward / training totals, shares and savings (Table 6)
    params.py       total, non-embedding and active non-embedding parameters; 6ND
    validation.py   the argument checks (0 <= s < 1, 1 <= seq_len <= n_ctx, ...)
    __main__.py     ``python -m mediswift_np.flops --model xl --sparsity 0.75 [--json]``
    audit.py        counted (sparse-equivalent and executed) vs analytic FLOPs, term by term;
                    it runs the engine, so import it explicitly: ``from mediswift_np.flops import audit``

This file only re-exports their public names, so ``from mediswift_np import flops;
flops.training_flops(...)`` reads as one module (audit.py excepted). Never imports the
autograd engine.
"""

from .analytic import (
    ATTENTION_TERMS,
    BACKWARD_FACTOR,
    HOFFMANN_EMBEDDING_BACKWARD_FACTOR,
    PAPER_EMBEDDING_BACKWARD_FACTOR,
    PER_LAYER_TERMS,
    SPARSIFIED_TERMS,
    TERM_NAMES,
    flop_savings,
    flops_attention_logits,
    flops_attention_output,
    flops_attention_qkv,
    flops_attention_softmax,
    flops_attention_values,
    flops_dense_weight_gradient_extra,
    flops_embeddings,
    flops_final_logits,
    flops_mlp,
    forward_flop_terms,
    forward_flops,
    forward_flops_by_term,
    training_flop_shares,
    training_flops,
    training_flops_by_term,
)
from .params import (
    PAPER_PRETRAIN_TOKENS,
    TOKENS_PER_PARAM,
    default_tokens,
    n_active_non_embedding_params,
    n_active_params,
    param_counts,
    six_nd,
    sparsified_matrix_shapes,
)
from .validation import check_positive, check_seq_len, check_sparsity

__all__ = [
    "ATTENTION_TERMS", "BACKWARD_FACTOR", "HOFFMANN_EMBEDDING_BACKWARD_FACTOR", "PAPER_EMBEDDING_BACKWARD_FACTOR",
    "PAPER_PRETRAIN_TOKENS", "PER_LAYER_TERMS", "SPARSIFIED_TERMS", "TERM_NAMES", "TOKENS_PER_PARAM",
    "check_positive", "check_seq_len", "check_sparsity", "default_tokens", "flop_savings",
    "flops_attention_logits", "flops_attention_output", "flops_attention_qkv", "flops_attention_softmax",
    "flops_attention_values", "flops_dense_weight_gradient_extra", "flops_embeddings", "flops_final_logits",
    "flops_mlp", "forward_flop_terms", "forward_flops", "forward_flops_by_term", "n_active_non_embedding_params",
    "n_active_params", "param_counts", "six_nd", "sparsified_matrix_shapes", "training_flop_shares",
    "training_flops", "training_flops_by_term",
]  # fmt: skip
