"""Worked solutions to tutorials/exercises/flops.py (track ``flops``).

Try the exercises first. Every answer is written from the equations (Hoffmann et al.
2022, App. F; MediSwift Sec. 2.1, 3.3, App. B), not by calling the library's own
counters -- the checker compares these against the library:

    python -m mediswift_np.exercises check flops --file instructors/solutions/flops.py
"""

from __future__ import annotations

from mediswift_np.config import GPTConfig

TRACK = "flops"

# ----------------------------------------------------------------------------- exercise 1


def attention_projection_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    S, d, hd = seq_len, cfg.n_embd, cfg.n_head * cfg.d_head
    qkv = 2 * 3 * S * d * hd  # three (S × d)·(d × h·d_head) products (App. F "KQV projections")
    output = 2 * S * hd * d  # (S × h·d_head)·(h·d_head × d) (App. F "Final Linear")
    return (qkv + output) * (1 - sparsity)  # all four matrices keep (1 − s) of their weights (Sec. 3.3)


# ----------------------------------------------------------------------------- exercise 2


def mlp_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    S, d, d_ff = seq_len, cfg.n_embd, cfg.d_ff
    return 2 * S * (d * d_ff + d_ff * d) * (1 - sparsity)  # fc and proj (App. F "Dense block")


# ----------------------------------------------------------------------------- exercise 3


def attention_score_flops(cfg: GPTConfig, seq_len: int) -> float:
    """K·Qᵀ, softmax and softmax·V of one block: no weights, so always dense."""
    S, h, hd = seq_len, cfg.n_head, cfg.n_head * cfg.d_head
    logits = 2 * S * S * hd  # h heads of (S × d_head)·(d_head × S)
    softmax = 3 * h * S * S  # App. F: 3 FLOPs per score
    values = 2 * S * S * hd  # h heads of (S × S)·(S × d_head)
    return logits + softmax + values


def embedding_flops(cfg: GPTConfig, seq_len: int) -> float:
    return 2 * seq_len * cfg.vocab_size * cfg.n_embd  # one-hot (S × V)·(V × d); the final logits cost the same


def forward_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    block = (attention_projection_flops(cfg, seq_len, sparsity) + attention_score_flops(cfg, seq_len)
             + mlp_flops(cfg, seq_len, sparsity))  # fmt: skip
    final_logits = 2 * seq_len * cfg.n_embd * cfg.vocab_size  # (S × d)·(d × V)
    return embedding_flops(cfg, seq_len) + cfg.n_layer * block + final_logits


def training_flops(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    # backward = 2 × forward for every product, but the lookup has no input gradient: 1 × its forward
    return 3 * forward_flops(cfg, seq_len, sparsity) - embedding_flops(cfg, seq_len)


# ----------------------------------------------------------------------------- exercise 4


def active_params(cfg: GPTConfig, sparsity: float) -> int:
    d, d_ff, L = cfg.n_embd, cfg.d_ff, cfg.n_layer
    hd = cfg.n_head * cfg.d_head
    layernorms = 2 * 2 * d  # ln_1, ln_2: weight and bias each
    block = layernorms + (d * 3 * hd + 3 * hd) + (hd * d + d) + (d * d_ff + d_ff) + (d_ff * d + d)  # qkv, out, fc, proj
    non_embedding = L * block + 2 * d  # + the final LayerNorm
    six = [d * hd, d * hd, d * hd, hd * d, d * d_ff, d_ff * d]  # query, key, value, output, fc, proj
    pruned = sum(n - round((1 - sparsity) * n) for n in six)  # a random mask keeps round((1 − s) N_l)
    return non_embedding - L * pruned


def overall_sparsity(model) -> float:
    pruned = total = 0
    for _, p in model.named_parameters():
        total += p.size  # N: every parameter of the dense model
        if p.mask is not None:
            pruned += int((~p.mask).sum())  # s_l N_l
    return pruned / total


# ----------------------------------------------------------------------------- exercise 5


def flop_savings(cfg: GPTConfig, seq_len: int, sparsity: float) -> float:
    return training_flops(cfg, seq_len, 0.0) / training_flops(cfg, seq_len, sparsity)


def sparsified_share(cfg: GPTConfig, seq_len: int) -> float:
    six = cfg.n_layer * (attention_projection_flops(cfg, seq_len, 0.0) + mlp_flops(cfg, seq_len, 0.0))
    return 3 * six / training_flops(cfg, seq_len, 0.0)  # sparse = dense − s·(3·six)  ⇒  savings = 1/(1 − f·s)


# ----------------------------------------------------------------------------- exercise 6

PRODUCT_KINDS = ("matmul", "sparse_matmul")


def counted_product_flops(counter, term: str) -> int:
    return sum(counter.total(scope=term, kind=kind) for kind in PRODUCT_KINDS)  # both phases


def analytic_product_flops(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float, term: str) -> float:
    S, d, V, hd, s = seq_len, cfg.n_embd, cfg.vocab_size, cfg.n_head * cfg.d_head, sparsity
    forward = {
        "attention.qkv": 2 * 3 * S * d * hd * (1 - s),
        "attention.logits": 2 * S * S * hd,
        "attention.values": 2 * S * S * hd,
        "attention.output": 2 * S * hd * d * (1 - s),
        "mlp": 2 * S * (d * cfg.d_ff + cfg.d_ff * d) * (1 - s),
        "final_logits": 2 * S * d * V,
    }[term]
    copies = 1 if term == "final_logits" else cfg.n_layer
    return batch * copies * 3 * forward  # forward + input gradient + weight gradient
