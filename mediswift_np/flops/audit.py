"""Counted FLOPs vs the analytic formula, reconciled term by term; executed vs sparse-equivalent.

The analytic counter (:mod:`mediswift_np.flops`, Hoffmann et al. App. F) is a model of
the work: it counts the big matrix products, a 3-FLOP softmax, the embedding as a
one-hot matmul, and "backward = 2 × forward". The engine (:mod:`mediswift_np.autograd`)
counts every op it runs, twice (autograd/counter.py): the *sparse-equivalent* FLOPs (the
algorithm's work, 2·nnz·N per masked product) and the *executed* FLOPs (what the CPU
ran: on the default dense path a masked product is a full GEMM, 2·in·out·N, after an
elementwise W ⊙ m). :func:`reconcile` lines the three up, term by term:

- every matrix product term (attention.qkv, attention.logits, attention.values,
  attention.output, mlp, final_logits) agrees *exactly* with the sparse-equivalent
  count: a product's backward really is two products of the same size, and a sparse
  product really costs 2·nnz·N each time;
- attention.softmax differs: the engine also counts the max-subtraction (4 FLOPs per
  score forward, not 3) and its backward is 2 per score plus a (T, hs) dot product,
  not 2 × forward;
- embeddings differ: the lookup is a gather (0 FLOPs), its backward a scatter-add (1 per
  element), and the position embedding adds 1 per element -- App. F instead prices the
  lookup as a (V × d) one-hot matmul;
- the engine counts work App. F leaves out: biases, LayerNorms, GELU, residual adds,
  the 1/√hs scaling and the loss;
- executed differs from sparse-equivalent only in the six masked matrices, on the dense
  path: 2·in·out·N per product instead of 2·nnz·N, plus in·out multiplies for W ⊙ m
  (App. B's lesson: the FLOPs a CPU saves are not the FLOPs the algorithm saves).

:func:`expected_counts` and :func:`expected_executed_counts` add up, in closed form, what
every op of one training step records: the shapes each op sees times its per-element
cost, which is read from the op itself (the ``flops`` attributes in functional/), never
restated here (the tests check the counter against closed forms worked out by hand).
:func:`savings_table` puts the different "FLOP savings" of one sparsity side by side
(analytic training / forward / six matrices, counted, executed).

Run it as ``from mediswift_np.flops import audit``: the package ``flops`` itself never
imports the autograd engine, and this module, which builds a model to count, is not
imported by it.

Does not handle: dropout (p > 0 adds mask multiplies) or soft-prompt inputs; both are
off in pre-training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .. import sparse
from ..autograd import count_flops
from ..config import GPTConfig
from ..model import GPT
from . import analytic as flops

MATMUL_KINDS = ("matmul", "sparse_matmul")
PRODUCT_TERMS = ("attention.qkv", "attention.logits", "attention.values", "attention.output", "mlp", "final_logits")


def kept(numel: int, sparsity: float) -> int:
    """Nonzeros the mask of a matrix keeps: round((1-s)·numel) (sparse.random_mask)."""
    return round((1.0 - sparsity) * numel)


def expected_counts(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float = 0.0) -> dict[tuple[str, str], tuple[int, int]]:
    """(scope, kind) -> (forward, backward) FLOPs the engine records for one training step.

    One step = forward and backward of the mean cross-entropy of a (batch, seq_len) batch,
    without dropout: the counting rules of autograd/counter.py (1 per element of an add, a
    bias, a scaling; 2·m·n·k per product) and the per-element costs of functional's ops.
    """
    B, T, C, V, L, nh = batch, seq_len, cfg.n_embd, cfg.vocab_size, cfg.n_layer, cfg.n_head
    Fd, N = cfg.d_ff, batch * seq_len
    sparse = sparsity > 0
    kind = "sparse_matmul" if sparse else "matmul"

    def product(n_in: int, n_out: int, parts: int = 1) -> int:  # forward FLOPs of one (masked) linear layer
        nnz = parts * kept(n_in * (n_out // parts), sparsity) if sparse else n_in * n_out
        return 2 * nnz * N  # 2·nnz·N (= 2·m·n·k when dense)

    scores = B * nh * T * T  # attention scores per layer
    (ln_f, ln_b), (gelu_f, gelu_b) = F.LayerNorm.flops, F.GELU.flops  # per element, forward and backward
    (sm_f, sm_b), (ce_f, ce_b) = F.CausalSelfAttention.softmax_flops, F.CrossEntropy.flops  # per score, per logit
    c = {
        ("embeddings", "elementwise"): (N * C, 0),  # token + position embedding
        ("embeddings", "reduction"): (0, N * C - T * C),  # position gradient: sum over the batch
        ("embeddings", "scatter_add"): (0, N * C),  # np.add.at into the token table
        ("layernorm", "layernorm"): ((2 * L + 1) * ln_f * N * C, (2 * L + 1) * ln_b * N * C),
        ("attention.qkv", kind): (L * product(C, 3 * C, parts=3), 2 * L * product(C, 3 * C, parts=3)),
        ("attention.qkv", "bias"): (L * N * 3 * C, L * N * 3 * C),
        ("attention.scale", "elementwise"): (L * N * C, L * N * C),  # q/√hs, and dq/√hs
        ("attention.logits", "matmul"): (L * 2 * scores * (C // nh), 2 * L * 2 * scores * (C // nh)),
        ("attention.softmax", "softmax"): (L * sm_f * scores, L * (2 * N * C + sm_b * scores)),  # + D = g·y backward
        ("attention.values", "matmul"): (L * 2 * scores * (C // nh), 2 * L * 2 * scores * (C // nh)),
        ("attention.output", kind): (L * product(C, C), 2 * L * product(C, C)),
        ("attention.output", "bias"): (L * N * C, L * N * C),
        ("residual", "elementwise"): (2 * L * N * C, 0),
        ("mlp", kind): (L * (product(C, Fd) + product(Fd, C)), 2 * L * (product(C, Fd) + product(Fd, C))),
        ("mlp", "bias"): (L * N * (Fd + C), L * N * (Fd + C)),
        ("mlp", "gelu"): (L * gelu_f * N * Fd, L * gelu_b * N * Fd),
        ("final_logits", "matmul"): (2 * N * C * V, 2 * 2 * N * C * V),  # tied output layer: x @ wteᵀ
        ("loss", "cross_entropy"): (ce_f * N * V, ce_b * N * V),
    }
    return c


# scope of each masked layer -> (in, out) shapes of its weights, for one block
def masked_layer_shapes(cfg: GPTConfig) -> dict[str, tuple[tuple[int, int], ...]]:
    C, Fd = cfg.n_embd, cfg.d_ff
    return {"attention.qkv": ((C, 3 * C),), "attention.output": ((C, C),), "mlp": ((C, Fd), (Fd, C))}


def expected_executed_counts(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float = 0.0,
                             backend: str = "dense") -> dict[tuple[str, str], tuple[int, int]]:  # fmt: skip
    """(scope, kind) -> (forward, backward) FLOPs the CPU executes for one training step.

    Equal to :func:`expected_counts` except for the six masked matrices (sparse/linear.py's
    table): on the ``dense`` path each product is a full GEMM, 2·N·in·out (forward, input
    gradient, weight gradient: 3 per layer), and forming W ⊙ m costs in·out multiplies
    (kind ``"mask"``, forward only); on the ``scipy`` path each product is 2·nnz·N, as counted.
    """
    if backend not in ("dense", "scipy"):  # "auto" picks per layer: resolve it first (sparse.choose_backend)
        raise ValueError(f"backend must be 'dense' or 'scipy', got {backend!r}")
    c = dict(expected_counts(cfg, batch, seq_len, sparsity))
    if sparsity == 0 or backend == "scipy":
        return c  # no masks (plain dense layers), or sparse kernels that skip the zeros
    L, N = cfg.n_layer, batch * seq_len
    for scope, shapes in masked_layer_shapes(cfg).items():
        weights = sum(n_in * n_out for n_in, n_out in shapes)
        c[(scope, "sparse_matmul")] = (L * 2 * N * weights, 2 * L * 2 * N * weights)  # GEMMs over every weight
        c[(scope, "mask")] = (L * weights, 0)  # W ⊙ m, once per forward
    return c


@dataclass(frozen=True)
class Row:
    term: str  # an App. F term, or work App. F leaves out
    analytic: float  # training FLOPs of the batch by the formula (paper convention)
    counted: int  # what the engine recorded for the same work: sparse-equivalent FLOPs
    note: str
    executed: int = 0  # what the CPU executed for it (= counted except masked products on the dense path)

    @property
    def difference(self) -> float:
        return self.counted - self.analytic


def reconcile(counter, cfg: GPTConfig, batch: int, seq_len: int, sparsity: float = 0.0) -> list[Row]:
    """Analytic terms next to counted (sparse-equivalent) and executed FLOPs of one training
    step recorded in ``counter``.

    ``counter`` is an ``autograd.FlopCounter`` (anything with ``total(scope, kind, executed=)``).
    The rows' ``counted`` values add up to ``counter.total()``, their ``executed`` values to
    ``counter.total(executed=True)``.
    """
    analytic = {k: batch * v for k, v in flops.training_flops_by_term(cfg, seq_len, sparsity).items()}

    def both(**where) -> tuple[int, int]:
        return counter.total(**where), counter.total(executed=True, **where)

    rows = []
    for term in PRODUCT_TERMS:
        counted, executed = (sum(x) for x in zip(*(both(scope=term, kind=k) for k in MATMUL_KINDS)))
        rows.append(Row(term, analytic[term], counted, "matrix products: 3 × forward, 2·nnz·N each when sparse", executed))
    softmax, embeddings = both(scope="attention.softmax"), both(scope="embeddings")
    sm_f, sm_b = F.CausalSelfAttention.softmax_flops
    rows.append(Row("attention.softmax", analytic["attention.softmax"], softmax[0],
                    f"engine: {sm_f}/score forward (incl. max shift), {sm_b}/score + D = g·y backward; App. F: 3/score × 3", softmax[1]))  # fmt: skip
    rows.append(Row("embeddings", analytic["embeddings"], embeddings[0],
                    "engine: gather + scatter-add + position add; App. F: one-hot matmul, forward + weight gradient", embeddings[1]))  # fmt: skip
    extras = [
        ("biases", both(kind="bias"), "not in App. F"),
        ("attention scaling 1/√hs", both(scope="attention.scale"), "not in App. F"),
        ("GELU", both(scope="mlp", kind="gelu"), "not in App. F"),
        ("LayerNorm", both(scope="layernorm"), "not in App. F"),
        ("residual adds", both(scope="residual"), "not in App. F"),
        ("cross-entropy loss", both(scope="loss"), "not in App. F"),
        ("masking W ⊙ m", both(kind="mask"), "dense path only: executed, no work for a sparse algorithm"),
    ]
    rows += [Row(name, 0.0, counted, note, executed) for name, (counted, executed), note in extras]
    return rows


def format_table(rows: list[Row]) -> str:
    """Analytic, counted (sparse-equivalent) and executed FLOPs per term, with their ratios."""
    lines = [f"{'term':<26}{'analytic':>16}{'counted':>16}{'executed':>16}{'counted/analytic':>18}{'executed/counted':>18}  note"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.4f}" if b else "-"

    for r in rows:
        lines.append(f"{r.term:<26}{r.analytic:>16,.0f}{r.counted:>16,}{r.executed:>16,}"
                     f"{ratio(r.counted, r.analytic):>18}{ratio(r.executed, r.counted):>18}  {r.note}")  # fmt: skip
    total_a, total_c, total_e = sum(r.analytic for r in rows), sum(r.counted for r in rows), sum(r.executed for r in rows)
    lines.append(f"{'total':<26}{total_a:>16,.0f}{total_c:>16,}{total_e:>16,}{ratio(total_c, total_a):>18}{ratio(total_e, total_c):>18}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the savings of one sparsity, every way


def count_training_step(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float = 0.0, backend: str = "dense", seed: int = 0):
    """The FlopCounter of one training step (forward + backward of the mean loss) of a freshly
    initialised model on random tokens; masks drawn with ``sparse.sparsify`` when s > 0."""
    model = GPT(cfg, seed=seed)
    if sparsity > 0:
        sparse.sparsify(model, sparsity, np.random.default_rng([seed, 1]))
    ids = np.random.default_rng([seed, 2]).integers(0, cfg.vocab_size, (batch, seq_len))  # (B, T)
    with sparse.use_backend(backend), count_flops() as counter:
        _, loss = model(ids, np.roll(ids, -1, axis=1))
        loss.backward()
    return counter


@dataclass(frozen=True)
class Savings:
    """Dense / sparse FLOPs of one (model, seq_len, sparsity), measured six ways."""

    label: str
    vocab_size: int
    seq_len: int
    sparsity: float
    analytic_training: float  # flops.flop_savings: App. F, forward + backward, embeddings as a one-hot matmul
    analytic_training_without_embeddings: float  # the same without the input-embedding term
    analytic_forward: float  # App. F forward pass only
    six_matrices: float  # the sparsified terms alone: 1 / (1 - s)
    counted: float  # engine, one training step, sparse-equivalent: lookup is a gather, + LayerNorm, GELU, loss, ...
    executed: float  # engine, one training step, what the CPU ran on the dense path (< 1: sparse runs more)


def savings(cfg: GPTConfig, seq_len: int, sparsity: float, label: str = "", batch: int = 1) -> Savings:
    """Every notion of "the FLOP savings at sparsity s" for one model and sequence length."""
    dense_fwd, sparse_fwd = flops.forward_flops(cfg, seq_len), flops.forward_flops(cfg, seq_len, sparsity)
    dense_terms = flops.training_flops_by_term(cfg, seq_len)
    sparse_terms = flops.training_flops_by_term(cfg, seq_len, sparsity)
    no_emb = [sum(v for k, v in t.items() if k != "embeddings") for t in (dense_terms, sparse_terms)]
    six = [sum(t[k] for k in flops.SPARSIFIED_TERMS) for t in (dense_terms, sparse_terms)]
    dense_step = count_training_step(cfg, batch, seq_len, 0.0)
    sparse_step = count_training_step(cfg, batch, seq_len, sparsity, backend="dense")
    return Savings(
        label=label, vocab_size=cfg.vocab_size, seq_len=seq_len, sparsity=sparsity,
        analytic_training=flops.flop_savings(cfg, seq_len, sparsity),
        analytic_training_without_embeddings=no_emb[0] / no_emb[1],
        analytic_forward=dense_fwd / sparse_fwd,
        six_matrices=six[0] / six[1],
        counted=dense_step.total() / sparse_step.total(),
        executed=dense_step.total(executed=True) / sparse_step.total(executed=True),
    )  # fmt: skip


def savings_table(settings: list[tuple[str, GPTConfig, int]], sparsity: float) -> str:
    """One row per (label, model config, seq_len): the savings of ``sparsity`` measured every way."""
    cols = ("analytic_training", "analytic_training_without_embeddings", "analytic_forward", "six_matrices", "counted", "executed")
    heads = ("App.F train", "w/o emb.", "App.F fwd", "6 matrices", "counted", "executed")
    lines = [f"{'setting':<38}{'V':>6}{'S':>5}" + "".join(f"{h:>12}" for h in heads)]
    for label, cfg, seq_len in settings:
        r = savings(cfg, seq_len, sparsity, label)
        lines.append(f"{label:<38}{r.vocab_size:>6}{r.seq_len:>5}" + "".join(f"{getattr(r, c):>11.2f}x" for c in cols))
    return "\n".join(lines)
