"""Track ``flops``, exercises 1, 2, 3 and 5: analytic FLOPs of a sparse GPT (Hoffmann et al. 2022, App. F).

The reference answers come from :mod:`mediswift_np.flops`; each case also carries the
answers of the usual slips (no (1 − s), a multiply-add counted once, one layer instead
of L, the embedding lookup counted 3×, ...), so the checker can name the slip.

Inputs: the paper's presets (Med, Large, XL at S = 1024) and ``tiny``, plus random small
configurations and sequence lengths drawn from the checker's generator, each at
s = 0.75, 0.5, 0, 0.9 and a random s.

Does not handle: configurations with h·d_head ≠ d (the model cannot build them), so a
formula written with d² where App. F has d·(h·d_head) is accepted as the same formula.
"""

from __future__ import annotations

import numpy as np

from .... import flops
from ....config import PRESETS, GPTConfig
from ...spec import Case, Exercise, Mistake, Task

READ_FLOPS = ("tutorials/exercises/flops.md §1 (the App. F terms); tutorials/05_flop_accounting.ipynb §1; paper "
              "Sec. 3.3 (which matrices are sparse)")


def config_label(cfg: GPTConfig) -> str:
    """How a configuration appears in the report: a preset's name, or its five sizes."""
    for name, preset in PRESETS.items():
        if cfg == preset:
            return f"PRESETS[{name!r}]"
    return (f"GPTConfig(vocab_size={cfg.vocab_size}, n_ctx={cfg.n_ctx}, n_layer={cfg.n_layer}, "
            f"n_embd={cfg.n_embd}, n_head={cfg.n_head})")  # fmt: skip


def random_config(rng: np.random.Generator, max_ctx: int = 64) -> GPTConfig:
    """A small random GPT: 1–4 layers, 1/2/4 heads of size 4/8/16, vocab 50–499."""
    n_head, d_head = int(rng.choice([1, 2, 4])), int(rng.choice([4, 8, 16]))
    return GPTConfig(vocab_size=int(rng.integers(50, 500)), n_ctx=int(rng.integers(8, max_ctx + 1)),
                     n_layer=int(rng.integers(1, 5)), n_embd=n_head * d_head, n_head=n_head)  # fmt: skip


def random_sparsity(rng: np.random.Generator) -> float:
    return round(float(rng.uniform(0.05, 0.95)), 4)  # 4 decimals: printed exactly in the report


def config_inputs(rng: np.random.Generator) -> list[tuple[GPTConfig, int]]:
    """(cfg, seq_len): tiny and the paper's three sizes at full context, three random configs."""
    randoms = [random_config(rng) for _ in range(3)]
    seq = [int(rng.integers(1, c.n_ctx + 1)) for c in randoms]
    return [(PRESETS["tiny"], 128), (randoms[0], seq[0]), (PRESETS["med"], 1024), (randoms[1], seq[1]),
            (PRESETS["large"], 1024), (randoms[2], seq[2]), (PRESETS["xl"], 1024)]  # fmt: skip


def flop_inputs(rng: np.random.Generator) -> list[tuple[GPTConfig, int, float]]:
    return [(cfg, S, s) for cfg, S in config_inputs(rng) for s in (0.75, random_sparsity(rng), 0.0, 0.5, 0.9)]


def label(cfg: GPTConfig, seq_len: int, sparsity: float | None = None) -> str:
    text = f"cfg={config_label(cfg)}, seq_len={seq_len}"
    return text if sparsity is None else f"{text}, sparsity={sparsity}"


# ----------------------------------------------------------------------------- shared mistakes

NO_SPARSITY = ("you counted the dense products. {what} sparsified (MediSwift Sec. 3.3): a matrix that keeps (1 − s) "
               "of its weights does (1 − s) of the multiply-adds, so multiply by (1 − s).")
S_FOR_ONE_MINUS_S = ("you multiplied by s, the fraction of weights that are pruned; the work is done by the (1 − s) "
                     "that remain.")
MULTIPLY_ADD = "a multiply-add is 2 FLOPs: an (m × k)·(k × n) product costs 2·m·k·n (Hoffmann et al. App. F)."

# ----------------------------------------------------------------------------- exercise 1


def attention_projection_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, S, s in flop_inputs(rng):
        t, t0 = flops.forward_flop_terms(cfg, S, s), flops.forward_flop_terms(cfg, S)
        right = t["attention.qkv"] + t["attention.output"]
        dense = t0["attention.qkv"] + t0["attention.output"]
        scores = t["attention.logits"] + t["attention.softmax"] + t["attention.values"]
        cases.append(Case(label(cfg, S, s), (cfg, S, s), right, {
            "no_sparsity": dense,
            "s_instead_of_one_minus_s": dense * s,
            "multiply_add_as_one": right / 2,
            "missing_output_projection": t["attention.qkv"],
            "one_product_for_qkv": t["attention.qkv"] / 3 + t["attention.output"],
            "included_attention_scores": right + scores,
            "per_token": right / S,
        }))  # fmt: skip
    return cases


EXERCISE_1 = Exercise(1, "FLOPs of one block's attention projections", READ_FLOPS, (
    Task("attention_projection_flops",
         "attention projections = 2·3·S·d·(h·d_head)·(1 − s) [query, key, value] + 2·S·(h·d_head)·d·(1 − s) "
         "[output] (Hoffmann et al. App. F 'KQV projections' and 'Final Linear'; MediSwift Sec. 3.3).",
         attention_projection_cases, (
             Mistake("no_sparsity", NO_SPARSITY.format(
                 what="Query, key, value and the attention output projection are four of the six matrices")),
             Mistake("s_instead_of_one_minus_s", S_FOR_ONE_MINUS_S),
             Mistake("multiply_add_as_one", MULTIPLY_ADD),
             Mistake("missing_output_projection", "you left out the attention output projection, 2·S·(h·d_head)·d·(1 "
                                                  "− s); it is sparsified too."),
             Mistake("one_product_for_qkv", "query, key and value are three separate d × (h·d_head) projections: "
                                            "2·3·S·d·(h·d_head)·(1 − s)."),
             Mistake("included_attention_scores", "you added the attention over positions (K·Qᵀ, softmax, softmax·V)."
                                                  " Only the projections are asked for: those S × S terms multiply "
                                                  "activations by activations, have no weights and stay dense."),
             Mistake("per_token", "the answer is for a whole sequence of S = seq_len tokens, not for one token."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def mlp_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, S, s in flop_inputs(rng):
        right, dense = flops.flops_mlp(cfg, S, s), flops.flops_mlp(cfg, S)
        cases.append(Case(label(cfg, S, s), (cfg, S, s), right, {
            "no_sparsity": dense,
            "s_instead_of_one_minus_s": dense * s,
            "half_the_flops": right / 2,  # a multiply-add counted once, or only one of the two matrices
            "d_ff_is_d": right / 4,
        }))  # fmt: skip
    return cases


EXERCISE_2 = Exercise(2, "FLOPs of one block's MLP", READ_FLOPS, (
    Task("mlp_flops",
         "MLP = 2·S·(d·d_ff + d_ff·d)·(1 − s) with d_ff = 4·d (Hoffmann et al. App. F 'Dense block'; App. A.1).",
         mlp_cases, (
             Mistake("no_sparsity", NO_SPARSITY.format(what="Both MLP matrices (fc and proj) are")),
             Mistake("s_instead_of_one_minus_s", S_FOR_ONE_MINUS_S),
             Mistake("half_the_flops", "you have half the FLOPs. Either a multiply-add was counted as 1 FLOP (it is "
                                       "2: an (m × k)·(k × n) product costs 2·m·k·n), or only one MLP matrix was "
                                       "counted: there are two, fc (d × d_ff) and proj (d_ff × d)."),
             Mistake("d_ff_is_d", "the MLP is 4× wider than the model: d_ff = 4·d (App. A.1; cfg.d_ff)."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def forward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, S, s in flop_inputs(rng):
        t, L = flops.forward_flop_terms(cfg, S, s), cfg.n_layer
        six = t["attention.qkv"] + t["attention.output"] + t["mlp"]
        scores = t["attention.logits"] + t["attention.softmax"] + t["attention.values"]
        vocab = t["embeddings"] + t["final_logits"]
        right = flops.forward_flops(cfg, S, s)
        cases.append(Case(label(cfg, S, s), (cfg, S, s), right, {
            "missing_layers": vocab + six + scores,
            "no_sparsity": flops.forward_flops(cfg, S),
            "sparsified_attention_scores": vocab + L * (six + (1 - s) * scores),
            "sparsified_everything": (1 - s) * flops.forward_flops(cfg, S),
            "missing_one_vocabulary_term": right - t["embeddings"],
            "missing_both_vocabulary_terms": right - vocab,
            "missing_softmax": right - L * t["attention.softmax"],
            "missing_attention_scores": right - L * scores,
        }))  # fmt: skip
    return cases


def training_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, S, s in flop_inputs(rng):
        fwd, emb = flops.forward_flops(cfg, S, s), flops.flops_embeddings(cfg, S)
        cases.append(Case(label(cfg, S, s), (cfg, S, s), flops.training_flops(cfg, S, s), {
            "embedding_counted_3x": 3 * fwd,
            "embedding_counted_once": 3 * fwd - 2 * emb,
            "backward_equals_forward": 2 * fwd,
            "forward_only": fwd,
        }))  # fmt: skip
    return cases


def table6_note(module) -> str:
    med = module.training_flops(PRESETS["med"], 1024, 0.75) * flops.PAPER_PRETRAIN_TOKENS / 1024
    return (f"Med at s = 0.75 over 104.86e9 tokens: {med:.4e} training FLOPs with your functions "
            "(Table 6 prints 1.252e20).")


EXERCISE_3 = Exercise(3, "the whole forward pass and training FLOPs",
                      "tutorials/exercises/flops.md §1–2; tutorials/05_flop_accounting.ipynb §1–3 (App. F terms, "
                      "training FLOPs, Table 6)", (
    Task("forward_flops",
         "forward = embeddings 2·S·V·d + L·(attention + MLP) + final logits 2·S·d·V, where attention = the "
         "projections of exercise 1 + K·Qᵀ 2·S·S·(h·d_head) + softmax 3·h·S·S + softmax·V 2·S·S·(h·d_head) "
         "(Hoffmann et al. App. F 'Total forward pass').",
         forward_cases, (
             Mistake("missing_layers", "the attention and MLP terms repeat in each of the L = cfg.n_layer blocks: "
                                       "forward = embeddings + L·(attention + mlp) + final_logits."),
             Mistake("no_sparsity", NO_SPARSITY.format(
                 what="The six matrices of every block (q, k, v, attention output, MLP fc and proj) are")),
             Mistake("sparsified_attention_scores", "only weight matrices are masked: K·Qᵀ, the softmax and softmax·V"
                                                    " multiply activations by activations and stay dense."),
             Mistake("sparsified_everything", "embeddings and the final logits stay dense (Sec. 3.3); only the qkv, "
                                              "attention output and MLP terms get (1 − s)."),
             Mistake("missing_one_vocabulary_term", "App. F has two vocabulary terms of 2·S·V·d each: the input "
                                                    "embedding lookup (priced as a one-hot matmul) and the final "
                                                    "logits against the tied embedding. You have only one."),
             Mistake("missing_both_vocabulary_terms", "App. F counts the input embedding lookup (as a one-hot matmul,"
                                                      " 2·S·V·d) and the final logits (2·S·d·V); both are part of the"
                                                      " forward pass."),
             Mistake("missing_softmax", "the softmax over the S × S scores costs 3·h·S·S per layer (App. F)."),
             Mistake("missing_attention_scores", "attention also computes K·Qᵀ, 2·S·S·(h·d_head), and softmax·V, "
                                                 "2·S·S·(h·d_head), in every layer (App. F)."),
         )),
    Task("training_flops",
         "training = forward + backward = 3·forward − embeddings (backward = 2 × forward for every product, but "
         "the embedding lookup has no input gradient; this is the convention that reproduces Table 6). "
         "If forward_flops fails, fix it first.",
         training_cases, (
             Mistake("embedding_counted_3x", "you counted the embedding lookup 3× like every other term (Hoffmann's "
                                             "plain rule). The token ids have no gradient, so the lookup's backward "
                                             "is only its weight gradient, 1× its forward: training = 3·forward − "
                                             "embeddings, the convention that reproduces Table 6."),
             Mistake("embedding_counted_once", "the lookup still costs its forward plus its weight gradient, 2× its "
                                               "forward: subtract one embeddings term from 3·forward, not two."),
             Mistake("backward_equals_forward", "a product's backward is two products of the same size (input "
                                                "gradient and weight gradient), so backward = 2 × forward and "
                                                "training = 3·forward − embeddings."),
             Mistake("forward_only", "training = forward + backward; the backward pass costs about twice the forward."),
         )),
), on_pass=table6_note, depends_on=(1, 2), points=2)  # fmt: skip

# ----------------------------------------------------------------------------- exercise 5


def savings_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, S, s in flop_inputs(rng):
        right = flops.flop_savings(cfg, S, s)
        cases.append(Case(label(cfg, S, s), (cfg, S, s), right, {
            "theoretical": 1 / (1 - s),
            "inverted": 1 / right,
            "fraction_saved": 1 - 1 / right,
            "embedding_counted_3x": flops.flop_savings(cfg, S, s, flops.HOFFMANN_EMBEDDING_BACKWARD_FACTOR),
        }))  # fmt: skip
    return cases


def share_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, S in config_inputs(rng):
        tr, fw = flops.training_flops_by_term(cfg, S), flops.forward_flops_by_term(cfg, S)
        total = sum(tr.values())
        attention = sum(tr[k] for k in flops.ATTENTION_TERMS)
        cases.append(Case(label(cfg, S), (cfg, S), sum(tr[k] for k in flops.SPARSIFIED_TERMS) / total, {
            "forward_share": sum(fw[k] for k in flops.SPARSIFIED_TERMS) / sum(fw.values()),
            "missing_mlp": (tr["attention.qkv"] + tr["attention.output"]) / total,
            "all_attention": (attention + tr["mlp"]) / total,
            "one_layer": sum(tr[k] for k in flops.SPARSIFIED_TERMS) / cfg.n_layer / total,
        }))  # fmt: skip
    return cases


def savings_note(module) -> str:
    parts = []
    for name in ("med", "large", "xl"):
        cfg = PRESETS[name]
        savings, share = module.flop_savings(cfg, 1024, 0.75), module.sparsified_share(cfg, 1024)
        parts.append(f"{name} {savings:.2f}× (f = {share:.3f})")
    return ("at s = 0.75 your functions give " + ", ".join(parts) + ": f grows with d, so savings = 1/(1 − f·s) "
            "grow with size (Table 6 prints sparse/dense: 0.46x, 0.43x, 0.38x).")


EXERCISE_5 = Exercise(5, "FLOP savings, and why they grow with model size",
                      "tutorials/exercises/flops.md §3; tutorials/05_flop_accounting.ipynb §3–5; paper Sec. 3.4 and "
                      "Table 6", (
    Task("flop_savings",
         "savings = dense training FLOPs / sparse training FLOPs, both 3·forward − embeddings (Table 6's "
         "'2–2.5×'); equivalently 1/(1 − f·s) with f from sparsified_share.",
         savings_cases, (
             Mistake("theoretical", "1/(1 − s) would hold only if every FLOP were in the six sparsified matrices. "
                                    "Embeddings, final logits and attention over positions stay dense, so savings = "
                                    "dense/sparse training FLOPs = 1/(1 − f·s) < 1/(1 − s)."),
             Mistake("inverted", "Table 6's parentheses print sparse/dense (0.46x for Med at 75%); the savings factor"
                                 " is dense/sparse (2.14× for Med at 75%)."),
             Mistake("fraction_saved", "you returned the fraction of FLOPs saved, 1 − sparse/dense; the savings "
                                       "factor is dense/sparse."),
             Mistake("embedding_counted_3x", "count training FLOPs as 3·forward − embeddings (the embedding lookup "
                                             "has no input gradient), as in exercise 3; with 3·forward the ratio is "
                                             "slightly off."),
         )),
    Task("sparsified_share",
         "f = (training FLOPs of the six sparsified matrices in all L blocks) / (all dense training FLOPs), "
         "training = 3·forward − embeddings.",
         share_cases, (
             Mistake("forward_share", "you took the share of forward (or plain 3 × forward) FLOPs. In training the "
                                      "embedding lookup costs 2× its forward, not 3×, so use training FLOPs = "
                                      "3·forward − embeddings in the denominator."),
             Mistake("missing_mlp", "the MLP's two matrices are sparsified too: the six matrices are q, k, v, "
                                    "attention output, MLP fc and MLP proj."),
             Mistake("all_attention", "K·Qᵀ, softmax and softmax·V are not sparsified; count only qkv, attention "
                                      "output and MLP."),
             Mistake("one_layer", "the six matrices repeat in each of the L blocks: multiply the per-layer FLOPs by "
                                  "L."),
         )),
), on_pass=savings_note, depends_on=(3,))  # fmt: skip
