"""Counted FLOPs vs the analytic formula, reconciled term by term.

The analytic counter (:mod:`mediswift_np.flops`, Hoffmann et al. App. F) is a model of
the work: it counts the big matrix products, a 3-FLOP softmax, the embedding as a
one-hot matmul, and "backward = 2 × forward". The engine (:mod:`mediswift_np.autograd`)
counts what it actually executes. :func:`reconcile` lines the two up:

- every matrix product term (attention.qkv, attention.logits, attention.values,
  attention.output, mlp, final_logits) agrees *exactly*: a product's backward really is
  two products of the same size, and a sparse product really costs 2·nnz·N each time;
- attention.softmax differs: the engine also counts the max-subtraction (4 FLOPs per
  score forward, not 3) and its backward is 2 per score plus a (T, hs) dot product,
  not 2 × forward;
- embeddings differ: the lookup is a gather (0 FLOPs), its backward a scatter-add (1 per
  element), and the position embedding adds 1 per element -- App. F instead prices the
  lookup as a (V × d) one-hot matmul;
- the engine counts work App. F leaves out: biases, LayerNorms, GELU, residual adds,
  the 1/√hs scaling and the loss.

:func:`expected_counts` derives every engine count in closed form from the counting
rules written next to each op, so tests can check that the counter does exactly what
the documentation says, and students can check their own derivations against it.

Does not handle: dropout (p > 0 adds mask multiplies) or soft-prompt inputs; both are
off in pre-training.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import flops
from .config import GPTConfig

MATMUL_KINDS = ("matmul", "sparse_matmul")
PRODUCT_TERMS = ("attention.qkv", "attention.logits", "attention.values", "attention.output", "mlp", "final_logits")


def kept(numel: int, sparsity: float) -> int:
    """Nonzeros the mask of a matrix keeps: round((1-s)·numel) (sparse.random_mask)."""
    return round((1.0 - sparsity) * numel)


def expected_counts(cfg: GPTConfig, batch: int, seq_len: int, sparsity: float = 0.0) -> dict[tuple[str, str], tuple[int, int]]:
    """(scope, kind) -> (forward, backward) FLOPs the engine records for one training step.

    One step = forward and backward of the mean cross-entropy of a (batch, seq_len) batch,
    without dropout. Matches the counting rules in autograd/counter.py and the ops.
    """
    B, T, C, V, L, nh = batch, seq_len, cfg.n_embd, cfg.vocab_size, cfg.n_layer, cfg.n_head
    F, N = cfg.d_ff, batch * seq_len
    sparse = sparsity > 0
    kind = "sparse_matmul" if sparse else "matmul"

    def product(n_in: int, n_out: int, parts: int = 1) -> int:  # forward FLOPs of one (masked) linear layer
        nnz = parts * kept(n_in * (n_out // parts), sparsity) if sparse else n_in * n_out
        return 2 * nnz * N  # 2·nnz·N (= 2·m·n·k when dense)

    scores = B * nh * T * T  # attention scores per layer
    c = {
        ("embeddings", "elementwise"): (N * C, 0),  # token + position embedding
        ("embeddings", "reduction"): (0, N * C - T * C),  # position gradient: sum over the batch
        ("embeddings", "scatter_add"): (0, N * C),  # np.add.at into the token table
        ("layernorm", "layernorm"): ((2 * L + 1) * 7 * N * C, (2 * L + 1) * 11 * N * C),
        ("attention.qkv", kind): (L * product(C, 3 * C, parts=3), 2 * L * product(C, 3 * C, parts=3)),
        ("attention.qkv", "bias"): (L * N * 3 * C, L * N * 3 * C),
        ("attention.scale", "elementwise"): (L * N * C, L * N * C),  # q/√hs, and dq/√hs
        ("attention.logits", "matmul"): (L * 2 * scores * (C // nh), 2 * L * 2 * scores * (C // nh)),
        ("attention.softmax", "softmax"): (L * 4 * scores, L * (2 * N * C + 2 * scores)),
        ("attention.values", "matmul"): (L * 2 * scores * (C // nh), 2 * L * 2 * scores * (C // nh)),
        ("attention.output", kind): (L * product(C, C), 2 * L * product(C, C)),
        ("attention.output", "bias"): (L * N * C, L * N * C),
        ("residual", "elementwise"): (2 * L * N * C, 0),
        ("mlp", kind): (L * (product(C, F) + product(F, C)), 2 * L * (product(C, F) + product(F, C))),
        ("mlp", "bias"): (L * N * (F + C), L * N * (F + C)),
        ("mlp", "gelu"): (L * 9 * N * F, L * 12 * N * F),
        ("final_logits", "matmul"): (2 * N * C * V, 2 * 2 * N * C * V),  # tied output layer: x @ wteᵀ
        ("loss", "cross_entropy"): (5 * N * V, 2 * N * V),
    }
    return c


@dataclass(frozen=True)
class Row:
    term: str  # an App. F term, or work App. F leaves out
    analytic: float  # training FLOPs of the batch by the formula (paper convention)
    counted: int  # what the engine recorded for the same work
    note: str

    @property
    def difference(self) -> float:
        return self.counted - self.analytic


def reconcile(counter, cfg: GPTConfig, batch: int, seq_len: int, sparsity: float = 0.0) -> list[Row]:
    """Analytic terms next to counted FLOPs of one training step recorded in ``counter``.

    ``counter`` is an ``autograd.FlopCounter`` (anything with ``total(scope, kind)``).
    The rows' ``counted`` values add up to ``counter.total()``.
    """
    analytic = {k: batch * v for k, v in flops.training_flops_by_term(cfg, seq_len, sparsity).items()}
    rows = []
    for term in PRODUCT_TERMS:
        counted = sum(counter.total(scope=term, kind=k) for k in MATMUL_KINDS)
        rows.append(Row(term, analytic[term], counted, "matrix products: 3 × forward, 2·nnz·N each when sparse"))
    rows.append(Row("attention.softmax", analytic["attention.softmax"], counter.total(scope="attention.softmax"),
                    "engine: 4/score forward (incl. max shift), 2/score + D = g·y backward; App. F: 3/score × 3"))
    rows.append(Row("embeddings", analytic["embeddings"], counter.total(scope="embeddings"),
                    "engine: gather + scatter-add + position add; App. F: one-hot matmul, forward + weight gradient"))
    extras = [
        ("biases", counter.total(kind="bias")),
        ("attention scaling 1/√hs", counter.total(scope="attention.scale")),
        ("GELU", counter.total(scope="mlp", kind="gelu")),
        ("LayerNorm", counter.total(scope="layernorm")),
        ("residual adds", counter.total(scope="residual")),
        ("cross-entropy loss", counter.total(scope="loss")),
    ]
    rows += [Row(name, 0.0, n, "not in App. F") for name, n in extras]
    return rows


def format_table(rows: list[Row]) -> str:
    lines = [f"{'term':<26}{'analytic':>16}{'counted':>16}{'counted/analytic':>18}  note"]
    for r in rows:
        ratio = f"{r.counted / r.analytic:.4f}" if r.analytic else "-"
        lines.append(f"{r.term:<26}{r.analytic:>16,.0f}{r.counted:>16,}{ratio:>18}  {r.note}")
    total_a, total_c = sum(r.analytic for r in rows), sum(r.counted for r in rows)
    lines.append(f"{'total':<26}{total_a:>16,.0f}{total_c:>16,}{total_c / total_a:>18.4f}")
    return "\n".join(lines)
