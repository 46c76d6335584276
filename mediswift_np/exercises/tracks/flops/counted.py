"""Track ``flops``, exercises 4 and 6: parameters of a sparse model, and counted vs analytic FLOPs.

Exercise 4 checks active parameters against :func:`mediswift_np.flops.n_active_non_embedding_params`
and the overall sparsity S = Σ_l s_l N_l / N (paper Sec. 2.1) against
:func:`mediswift_np.sparse.sparsity_report` on real tiny models -- masked uniformly with
:func:`sparse.sparsify`, masked with a different sparsity per matrix (so that a plain
mean of the s_l differs from the weighted one), and dense.

Exercise 6 runs real training steps of tiny models under
:func:`mediswift_np.autograd.count_flops` (dense, s = 0.75, s = 0.5) and checks the
student's counted and analytic FLOPs of each matrix-product term against
:func:`mediswift_np.flops.audit.reconcile`. Widths are multiples of 4, so s = 0.5 and
0.75 keep exactly (1 − s) of every matrix and counted = analytic holds exactly.

Does not handle: the softmax and embedding terms, whose engine counts differ from
App. F by design (see flops/audit.py); the exercise is about the matrix products.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .... import flops, sparse
from ....autograd import FlopCounter, count_flops
from ....config import PRESETS, GPTConfig
from ....flops import audit as flop_audit
from ....model import GPT
from .analytic import config_inputs, config_label, random_config, random_sparsity
from ...spec import Case, Exercise, Mistake, Task

# ----------------------------------------------------------------------------- exercise 4


def active_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, _ in config_inputs(rng):
        for s in (0.75, random_sparsity(rng), 0.0, 0.5):
            L, non_embedding = cfg.n_layer, cfg.n_params(embeddings=False)
            sizes = [r * c for r, c in flops.sparsified_matrix_shapes(cfg).values()]
            kept = L * sum(flop_audit.kept(n, s) for n in sizes)  # round((1 - s) N_l) per matrix
            pruned = L * sum(sizes) - kept
            cases.append(Case(f"cfg={config_label(cfg)}, sparsity={s}", (cfg, s), flops.n_active_non_embedding_params(cfg, s), {
                "sparsified_biases_and_layernorms": (1 - s) * non_embedding,
                "included_embeddings": cfg.n_params(embeddings=True) - pruned,
                "no_rounding": non_embedding - L * sum(s * n for n in sizes),
                "only_the_six_matrices": kept,
                "subtracted_kept": non_embedding - kept,
                "returned_pruned": pruned,
            }))  # fmt: skip
    return cases


def model_with_masks(cfg: GPTConfig, rng: np.random.Generator, sparsity: float | None) -> GPT:
    """A GPT whose six matrices per block are masked at ``sparsity``, or each at its own
    random sparsity in [0.1, 0.9] when ``sparsity`` is None."""
    model = GPT(cfg, seed=int(rng.integers(1 << 31)))
    if sparsity is not None:
        sparse.sparsify(model, sparsity, rng)
        return model
    for name, p in model.named_parameters():
        parts = len(sparse.sparsified_parts(name))
        if not parts:
            continue
        rows, cols = p.shape
        masks = [sparse.random_mask((rows, cols // parts), float(rng.uniform(0.1, 0.9)), rng) for _ in range(parts)]
        p.mask = np.concatenate(masks, axis=1)  # c_attn: query | key | value
        p.data[~p.mask] = 0.0
    return model


def overall_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [(PRESETS["tiny"], 0.75, "uniform masks at s=0.75"),
              (random_config(rng), None, "a different random sparsity s_l in [0.1, 0.9] for every matrix"),
              (random_config(rng), random_sparsity(rng), None),
              (random_config(rng), None, "a different random sparsity s_l in [0.1, 0.9] for every matrix"),
              (random_config(rng), 0.5, "uniform masks at s=0.5")]  # fmt: skip
    inputs.append((random_config(rng), 0.0, "no masks (a dense model)"))
    cases = []
    for cfg, s, words in inputs:
        model = model_with_masks(cfg, rng, s) if s != 0.0 else GPT(cfg, seed=0)
        report = sparse.sparsity_report(model)
        per_matrix = [1 - nnz / n for _, n, nnz in report.matrices]
        per_parameter = [1 - p.mask.mean() for _, p in model.named_parameters() if p.mask is not None]
        words = words or f"uniform masks at s={s}"
        cases.append(Case(f"model=GPT({config_label(cfg)}) with {words}", (model,), report.overall_sparsity, {
            "density": 1 - report.overall_sparsity,
            "over_masked_matrices_only": report.sparsified_fraction,
            "over_non_embedding": report.pruned / cfg.n_params(embeddings=False),
            "unweighted_mean": float(np.mean(per_matrix)) if per_matrix else None,
            "unweighted_mean_per_parameter": float(np.mean(per_parameter)) if per_parameter else None,
        }))  # fmt: skip
    return cases


def active_note(module) -> str:
    xl, med = module.active_params(PRESETS["xl"], 0.75), module.active_params(PRESETS["med"], 0.0)
    return (f"XL at s = 0.75 has {xl / 1e6:.1f}M active non-embedding parameters, dense Med {med / 1e6:.1f}M: "
            "the Sec. 3.4 comparison of a larger sparse model with a smaller dense one of the same size.")


EXERCISE_4 = Exercise(4, "active parameters and the overall sparsity S",
                      "tutorials/03_gpt3_block.ipynb §3–4 (parameter counts); tutorials/04_sparsity_and_sparse_"
                      "matmul.ipynb §2 (per-matrix s_l and overall S); paper Sec. 2.1 (S = Σ s_l N_l / N) and "
                      "Sec. 3.3", (
    Task("active_params",
         "active = cfg.n_params(embeddings=False) − L·Σ_six (N_l − round((1 − s)·N_l)), N_l = rows·cols of "
         "query, key, value (d × h·d_head each), attention output (h·d_head × d), MLP fc (d × d_ff), MLP proj "
         "(d_ff × d).",
         active_cases, (
             Mistake("sparsified_biases_and_layernorms", "only the six weight matrices of each block are masked; "
                                                         "biases and LayerNorm parameters stay dense and are all "
                                                         "active. Subtract the pruned weights from the non-embedding "
                                                         "count instead of scaling it by (1 − s)."),
             Mistake("included_embeddings", "'active' counts non-embedding parameters (Table 5's n_params, Table 6's "
                                            "column): leave out the token and position embeddings, "
                                            "cfg.n_params(embeddings=False)."),
             Mistake("no_rounding", "a mask keeps a whole number of weights: each matrix keeps round((1 − "
                                    "s)·rows·cols) (mediswift_np.sparse.random_mask), so round per matrix."),
             Mistake("only_the_six_matrices", "biases and LayerNorms are dense but still parameters: active = "
                                              "non-embedding parameters − pruned weights."),
             Mistake("subtracted_kept", "you subtracted the weights the masks keep; subtract the pruned ones, "
                                        "rows·cols − round((1 − s)·rows·cols) per matrix."),
             Mistake("returned_pruned", "you returned the number of pruned weights; active = non-embedding parameters"
                                        " − pruned weights."),
         )),
    Task("overall_sparsity",
         "S = Σ_l s_l N_l / N = (pruned weights) / (all parameters of the model, embeddings included); a "
         "parameter p with p.mask not None has (~p.mask).sum() pruned weights.",
         overall_cases, (
             Mistake("density", "you returned the fraction of active parameters; S is the inactive fraction, Σ s_l "
                                "N_l / N."),
             Mistake("over_masked_matrices_only", "N is the parameter count of the whole initially dense model (every"
                                                  " parameter, embeddings included), not only of the masked matrices "
                                                  "— that ratio is just s when the masks are uniform."),
             Mistake("over_non_embedding", "N counts every parameter of the model, the token and position embeddings "
                                           "included (Sec. 2.1: 'the total parameter count of the initially dense "
                                           "model')."),
             Mistake("unweighted_mean", "a plain mean of the s_l counts the small attention matrices as much as the "
                                        "4× larger MLP ones: weight each s_l by N_l and divide by all N parameters."),
             Mistake("unweighted_mean_per_parameter", "a plain mean of the s_l counts every matrix alike, small or "
                                                      "large: weight each s_l by N_l and divide by all N parameters."),
         )),
), on_pass=active_note)  # fmt: skip

# ----------------------------------------------------------------------------- exercise 6


@lru_cache(maxsize=32)
def _step_counts(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float, seed: int) -> tuple:
    """The FLOP counts of one training step (forward + backward of the mean cross-entropy)."""
    rng = np.random.default_rng(seed)
    model = GPT(cfg, seed=seed)
    if sparsity > 0:
        sparse.sparsify(model, sparsity, rng)
    x = rng.integers(0, cfg.vocab_size, (batch, seq_len))  # (B, T) token ids
    with count_flops() as counter:
        _, loss = model(x, np.roll(x, -1, axis=1))
        loss.backward()
    return tuple(counter.counts.items())


def training_step_counter(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float, seed: int = 0) -> FlopCounter:
    """A fresh FlopCounter holding one training step of a (masked) GPT."""
    counter = FlopCounter()
    counter.counts.update(_step_counts(cfg, batch, seq_len, sparsity, seed))
    return counter


def step_inputs(rng: np.random.Generator) -> list[tuple[GPTConfig, int, int, float, int]]:
    """(cfg, batch, seq_len, sparsity, seed) of three steps: dense, s = 0.75, s = 0.5."""
    a, b = random_config(rng, max_ctx=24), random_config(rng, max_ctx=24)
    seq_a, seq_b = int(rng.integers(4, a.n_ctx + 1)), int(rng.integers(4, b.n_ctx + 1))
    seed = int(rng.integers(1 << 31))
    return [(a, 2, seq_a, 0.0, seed), (a, 2, seq_a, 0.75, seed), (b, 3, seq_b, 0.5, seed)]


def step_label(cfg, batch, seq_len, sparsity) -> str:
    return f"one training step of GPT({config_label(cfg)}), batch={batch}, seq_len={seq_len}, sparsity={sparsity}"


def counted_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for cfg, batch, T, s, seed in step_inputs(rng):
        counter = training_step_counter(cfg, batch, T, s, seed)
        rows = {r.term: r for r in flop_audit.reconcile(counter, cfg, batch, T, s)}
        for term in flop_audit.PRODUCT_TERMS:
            products = {phase: sum(counter.total(term, kind, phase) for kind in flop_audit.MATMUL_KINDS)
                        for phase in ("forward", "backward")}  # fmt: skip
            case_label = f"counter=<{step_label(cfg, batch, T, s)}>, term={term!r}"
            cases.append(Case(case_label, (counter, term), rows[term].counted, {
                "all_kinds_in_scope": counter.total(scope=term),
                "forward_only": products["forward"],
                "backward_only": products["backward"],
                "dense_kind_only": counter.total(scope=term, kind="matmul"),
                "sparse_kind_only": counter.total(scope=term, kind="sparse_matmul"),
            }))  # fmt: skip
    return cases


def analytic_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [(cfg, batch, T, s) for cfg, batch, T, s, _ in step_inputs(rng)]
    for _ in range(3):
        cfg = random_config(rng)
        inputs.append((cfg, int(rng.integers(1, 9)), int(rng.integers(1, cfg.n_ctx + 1)), random_sparsity(rng)))
    cases = []
    for cfg, batch, T, s in inputs:
        right, dense = flops.training_flops_by_term(cfg, T, s), flops.training_flops_by_term(cfg, T)
        for term in flop_audit.PRODUCT_TERMS:
            value = batch * right[term]
            per_layer = term in flops.PER_LAYER_TERMS
            cases.append(Case(f"cfg={config_label(cfg)}, batch={batch}, seq_len={T}, sparsity={s}, term={term!r}",
                              (cfg, batch, T, s, term), value, {
                "two_x_forward": value * 2 / 3,
                "forward_only": value / 3,
                "missing_layers": value / cfg.n_layer if per_layer and cfg.n_layer > 1 else None,
                "missing_batch": value / batch if batch > 1 else None,
                "no_sparsity": batch * dense[term] if term in flops.SPARSIFIED_TERMS and s > 0 else None,
                "sparsified_dense_terms": value * (1 - s) if term not in flops.SPARSIFIED_TERMS and s > 0 else None,
            }))  # fmt: skip
    return cases


AUDIT_STEPS = [(GPTConfig(vocab_size=64, n_ctx=16, n_layer=2, n_embd=16, n_head=2), 2, 16, s) for s in (0.0, 0.5, 0.75)]


def audit_note(module) -> str:
    agree = total = 0
    for cfg, batch, T, s in AUDIT_STEPS:
        counter = training_step_counter(cfg, batch, T, s)
        for term in flop_audit.PRODUCT_TERMS:
            total += 1
            counted = module.counted_product_flops(counter, term)
            agree += counted == module.analytic_product_flops(cfg, batch, T, s, term)
    return (f"counted = analytic for {agree} of {total} (term, step) pairs of a 2-layer model at s = 0, 0.5, 0.75: "
            "every product really costs 3 × its forward, (1 − s) of it when sparse.")


EXERCISE_6 = Exercise(6, "counted FLOPs of a training step = the analytic formula",
                      "tutorials/01_autograd_from_scratch.ipynb §7 (counting FLOPs); "
                      "tutorials/05_flop_accounting.ipynb §2; tutorials/exercises/flops.md §4 (the FlopCounter: "
                      "total, scopes, kinds, phases)", (
    Task("counted_product_flops",
         "counted = counter.total(scope=term, kind='matmul') + counter.total(scope=term, kind='sparse_matmul'), "
         "both phases (forward and backward).",
         counted_cases, (
             Mistake("all_kinds_in_scope", "count only the matrix products (kinds 'matmul' and 'sparse_matmul'): the "
                                           "scope also records biases (and GELU in 'mlp'), which App. F does not "
                                           "count."),
             Mistake("forward_only", "a training step also records the backward products (phase 'backward'); leave "
                                     "the phase out to get both."),
             Mistake("backward_only", "the forward products count too (phase 'forward'); leave the phase out to get "
                                      "both."),
             Mistake("dense_kind_only", "masked layers record their products as kind 'sparse_matmul' (2·nnz·N each); "
                                        "add them to kind 'matmul'."),
             Mistake("sparse_kind_only", "dense products (and the attention and logit products, which are never "
                                         "masked) are kind 'matmul'; add both kinds."),
         )),
    Task("analytic_product_flops",
         "analytic = batch × 3 × (forward FLOPs of the term for one sequence) × (L for per-layer terms), with "
         "(1 − s) for attention.qkv, attention.output and mlp only (Hoffmann et al. App. F; MediSwift Sec. 3.3).",
         analytic_cases, (
             Mistake("two_x_forward", "a product's backward is two products of the same size, the input gradient and "
                                      "the weight gradient: training = 3 × forward, not 2 ×."),
             Mistake("forward_only", "the counter saw forward and backward: training = 3 × forward for every product."),
             Mistake("missing_layers", "attention.* and mlp repeat in each of the L = cfg.n_layer blocks."),
             Mistake("missing_batch", "the step processed batch sequences of seq_len tokens: multiply the "
                                      "per-sequence FLOPs by batch."),
             Mistake("no_sparsity", "attention.qkv, attention.output and mlp are the sparsified matrices: their "
                                    "products cost (1 − s) of the dense count."),
             Mistake("sparsified_dense_terms", "attention.logits, attention.values and final_logits have no mask "
                                               "(activations × activations, and the tied embedding): no (1 − s) "
                                               "there."),
         )),
), on_pass=audit_note, depends_on=(3,), points=2)  # fmt: skip
