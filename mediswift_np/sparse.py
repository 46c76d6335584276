"""Static unstructured weight sparsity (paper Sec. 2.1, 3.3).

Sparse pre-training replaces θ by m ⊙ θ (Eq. 1) for a binary mask m drawn uniformly at
random once, at initialisation ("random pruning"), with the same sparsity s in every
layer. Six matrices per block are sparsified -- query, key, value, attention output,
MLP intermediate (fc) and MLP output projection; embeddings, LayerNorms and biases stay
dense. In GPT-2's layout query, key and value share one ``c_attn`` matrix (C, 3C), so
its mask is three independent (C, C) masks side by side.

A masked linear layer y = x (W ⊙ m) + b runs on one of two paths that give the same
numbers (tests/test_sparse.py):

- ``dense``: W ⊙ m through BLAS; the weight gradient is (xᵀ g) ⊙ m.
- ``scipy``: the nonzeros as a ``scipy.sparse`` CSR matrix; forward and input gradient
  are sparse × dense products; the weight gradient is computed only at the mask's
  nonzeros (a *sampled* dense-dense product, chunked so memory stays bounded).
- ``auto`` (default): ``scipy`` for layers at or above ``AUTO_SCIPY_MIN_SPARSITY``,
  ``dense`` below. On a CPU, BLAS runs dense products near peak speed while sparse
  kernels are bound by irregular memory access, so sparsity only saves wall-clock time
  when it is extreme (see benchmarks/bench_sparse.py and the README table). This is
  the paper's App. B point: FLOP savings need hardware built for unstructured sparsity.

FLOPs: the counter (autograd/counter.py) records two numbers for each product. The
*sparse-equivalent* count is the sparse algorithm's work, 2·nnz·N per product (forward,
input gradient, weight gradient) on either path, so it follows the analytic (1-s) law.
The *executed* count is what the path really runs (N rows of x, an (in, out) matrix):

    product              dense path executes                scipy path executes
    W ⊙ m (forward)      in·out multiplies (kind "mask")    0 (it gathers the nonzeros)
    y  = x (W ⊙ m)       2·N·in·out (BLAS GEMM)             2·nnz·N (CSR × dense)
    dx = g (W ⊙ m)ᵀ      2·N·in·out (BLAS GEMM)             2·nnz·N (CSR × dense)
    dW = (xᵀ g) ⊙ m      2·N·in·out (GEMM, then a select)   2·nnz·N (sampled at the nonzeros)
    dense dW for RigL    2·N·in·out (counted so as well)    2·N·in·out (counted so as well)

Copies, transposes, gathers and the zeroing select cost 0 by the counter's rules. So on
the dense path executed = dense FLOPs + in·out per layer call, whatever s is: App. B's
point that FLOP savings need hardware (or kernels) that skip the zeros.

Pruned weights stay exactly 0 without special cases: their gradient is exactly 0 on
both paths, so AdamW's moments stay 0 and its update and decay are 0 (see optim.py).
``densify`` removes the masks for fine-tuning (Sec. 2.2.1); the reactivated weights
start at exactly 0 because that is what they are. Masks may also change during training
(SET and RigL in dst.py): a layer rebuilds its index arrays when its mask object changes
(``layout_of``), and ``dense_weight_gradients`` gives RigL the gradient at every position.

The chosen path and the dense-gradient switch are process-wide (``switches``); change
them with the context managers ``use_backend`` and ``dense_weight_gradients``, which
restore the previous value when the block ends, so one run never changes the next one's.

Does not handle: structured (N:M, block) sparsity, per-layer sparsity schedules, or
per-layer sparsity redistribution when masks change.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from .autograd import Function, Tensor
from .autograd.counter import record
from .errors import UserError
from .flops import check_sparsity  # the one "0 <= s < 1" rule

# (name suffix of the weight, how many independent square-ish masks it holds side by side)
SPARSIFIED = {"attn.c_attn.weight": 3, "attn.c_proj.weight": 1, "mlp.c_fc.weight": 1, "mlp.c_proj.weight": 1}
MATRIX_NAMES = {"attn.c_attn.weight": ("query", "key", "value"), "attn.c_proj.weight": ("attention_output",),
                "mlp.c_fc.weight": ("mlp_fc",), "mlp.c_proj.weight": ("mlp_proj",)}  # fmt: skip
BACKENDS = ("auto", "dense", "scipy")
# benchmarks/bench_sparse.py, 2-core CPU: scipy (one core) overtakes one-core BLAS at s ≈ 0.96-0.98
# (forward + backward); two-core BLAS stays faster up to s = 0.99. So auto = dense below 0.99.
AUTO_SCIPY_MIN_SPARSITY = 0.99
SDDMM_CHUNK = 1 << 22  # elements gathered per chunk of the sampled weight gradient (16 MB in float32)


@dataclass
class Switches:
    """The process-wide choices every masked layer reads when it runs."""

    backend: str = "auto"  # the masked-matmul path: auto, dense or scipy
    dense_weight_grads: bool = False  # RigL update steps need the dense weight gradient (dst.py)


switches = Switches()  # change only through the context managers below (they restore it)


def check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise UserError(f"unknown sparse backend {name!r}; choose from {', '.join(BACKENDS)}")


def set_backend(name: str) -> None:
    """Choose the masked-matmul path for all sparse layers from now on: auto, dense or scipy.

    Prefer ``with use_backend(name):``, which puts the previous path back afterwards.
    """
    check_backend(name)
    switches.backend = name


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Inside the block, masked layers run on path ``name``; on exit the previous path is back."""
    check_backend(name)
    previous, switches.backend = switches.backend, name
    try:
        yield
    finally:
        switches.backend = previous


@contextmanager
def dense_weight_gradients() -> Iterator[None]:
    """Inside the block, masked layers also compute their *dense* weight gradient xᵀg.

    It is stored on the layer's layout (``layout_of(p).dense_grad``) for RigL's grow step;
    the parameter's own ``.grad`` stays masked. Costs 2·N·in·out instead of 2·nnz·N FLOPs
    for that product (counted as ``matmul``), which is why RigL does it only every ΔT steps.
    On exit the switch returns to its previous value (so nested blocks keep the outer one on).
    """
    previous, switches.dense_weight_grads = switches.dense_weight_grads, True
    try:
        yield
    finally:
        switches.dense_weight_grads = previous


def random_mask(shape: tuple[int, int], sparsity: float, rng: np.random.Generator) -> np.ndarray:
    """A bool mask with exactly round((1-s)·numel) True entries, uniformly at random."""
    numel = shape[0] * shape[1]
    keep = round((1.0 - sparsity) * numel)
    mask = np.zeros(numel, dtype=bool)
    mask[rng.choice(numel, size=keep, replace=False)] = True
    return mask.reshape(shape)


def sparsify(model, sparsity: float, rng: np.random.Generator) -> "SparsityReport":
    """Draw one static random mask per sparsified matrix and zero the pruned weights."""
    check_sparsity(sparsity)
    for name, p in model.named_parameters():
        parts = next((n for suffix, n in SPARSIFIED.items() if name.endswith(suffix)), None)
        if parts is None:
            continue
        rows, cols = p.shape
        width = cols // parts  # c_attn: query | key | value, each (C, C)
        p.mask = np.concatenate([random_mask((rows, width), sparsity, rng) for _ in range(parts)], axis=1)
        p.data[~p.mask] = 0.0  # m ⊙ θ: pruned weights are exactly (+)0 from the start
    return sparsity_report(model)


def densify(model) -> None:
    """Remove every mask (dense fine-tuning, Sec. 2.2.1); pruned weights restart from 0."""
    for _, p in model.named_parameters():
        p.mask = None


@dataclass(frozen=True)
class SparsityReport:
    """Per-matrix and overall sparsity: S = Σ_l s_l N_l / N (Sec. 2.1)."""

    matrices: tuple[tuple[str, int, int], ...]  # (name, numel N_l, nonzeros)
    total_params: int  # N: every parameter of the model

    @property
    def pruned(self) -> int:
        return sum(n - nnz for _, n, nnz in self.matrices)

    @property
    def overall_sparsity(self) -> float:
        return self.pruned / self.total_params  # Σ s_l N_l / N

    @property
    def sparsified_fraction(self) -> float:
        """Sparsity measured over the sparsified matrices only (= s for uniform masks)."""
        n = sum(n for _, n, _ in self.matrices)
        return self.pruned / n if n else 0.0

    @property
    def active_params_with_embeddings(self) -> int:
        """Unmasked parameters of the whole model, embeddings, biases and LayerNorms included:
        N - Σ_l s_l N_l, counted from the drawn masks. (``flops.n_active_non_embedding_params``
        is the analytic count without the embeddings, Table 6's "params" column.)"""
        return self.total_params - self.pruned

    def table(self) -> str:
        lines = [f"{'matrix':<44}{'N_l':>12}{'nonzeros':>12}{'s_l':>8}"]
        for name, n, nnz in self.matrices:
            lines.append(f"{name:<44}{n:>12,}{nnz:>12,}{1 - nnz / n:>8.4f}")
        lines.append(f"overall S = {self.overall_sparsity:.4f} of {self.total_params:,} parameters; active (embeddings included) {self.active_params_with_embeddings:,}")
        return "\n".join(lines)


def sparsity_report(model) -> SparsityReport:
    rows, total = [], 0
    for name, p in model.named_parameters():
        total += p.size
        if p.mask is None:
            continue
        suffix = next(s for s in SPARSIFIED if name.endswith(s))
        for part, block in zip(MATRIX_NAMES[suffix], np.split(p.mask, SPARSIFIED[suffix], axis=1)):
            rows.append((f"{name.removesuffix(suffix)}{part}", block.size, int(block.sum())))
    return SparsityReport(tuple(rows), total)


class SparseLayout:
    """Index arrays of one static mask, built once: CSR of Wᵀ (out, in) and of W (in, out)."""

    def __init__(self, mask: np.ndarray):
        self.mask, self.pruned = mask, ~mask
        self.dense_grad: np.ndarray | None = None  # set inside dense_weight_gradients()
        self.rows, self.cols = np.nonzero(mask)  # nonzeros of W (in, out), row-major = CSR order of W
        self.nnz = self.rows.size
        self.sparsity = 1.0 - self.nnz / mask.size
        n_in, n_out = mask.shape
        order_t = np.lexsort((self.rows, self.cols))  # sort by column of W = row of Wᵀ
        self.t_indptr = np.concatenate([[0], np.cumsum(np.bincount(self.cols, minlength=n_out))])
        self.t_indices, self.t_cols = self.rows[order_t], self.cols[order_t]  # nonzeros of W in CSR order of Wᵀ
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.rows, minlength=n_in))])

    def csr_t(self, w: np.ndarray) -> sp.csr_matrix:
        """Wᵀ as CSR (out, in), taking the current values of w at the mask's nonzeros."""
        vals = w[self.t_indices, self.t_cols]
        return sp.csr_matrix((vals, self.t_indices, self.t_indptr), shape=self.mask.shape[::-1])

    def csr(self, w: np.ndarray) -> sp.csr_matrix:
        """W as CSR (in, out)."""
        return sp.csr_matrix((w[self.rows, self.cols], self.cols, self.indptr), shape=self.mask.shape)


def layout_of(p) -> SparseLayout:
    """The cached layout of a masked parameter (rebuilt if its mask object changed)."""
    layout = getattr(p, "_layout", None)
    if layout is None or layout.mask is not p.mask:
        layout = SparseLayout(p.mask)
        p._layout = layout
    return layout


def sampled_matmul(a_t: np.ndarray, b_t: np.ndarray, indptr: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(aᵀ b) sampled at the nonzeros of a CSR pattern: for row r and each k in
    indptr[r]:indptr[r+1], out[k] = Σ_n a_t[r, n] · b_t[cols[k], n].

    ``a_t`` (in, N) and ``b_t`` (out, N) hold one row per input/output unit. Work: 2·nnz·N
    FLOPs. Row by row, a_t[r] is read once and only the b_t rows it meets are gathered,
    at most ``SDDMM_CHUNK`` elements at a time (memory stays bounded).

    Example:
        >>> a, b = np.arange(4.0).reshape(2, 2), np.ones((3, 2))
        >>> sampled_matmul(a, b, np.array([0, 1, 3]), np.array([2, 0, 1])).tolist()  # (0,2), (1,0), (1,1)
        [1.0, 5.0, 5.0]
    """
    out = np.empty(cols.size, dtype=a_t.dtype)
    step = max(1, SDDMM_CHUNK // max(a_t.shape[1], 1))
    for r in range(len(indptr) - 1):
        for lo in range(indptr[r], indptr[r + 1], step):
            hi = min(lo + step, indptr[r + 1])
            out[lo:hi] = np.einsum("kn,n->k", b_t[cols[lo:hi]], a_t[r])  # einsum: no BLAS threads for a matvec
    return out


def transposed_copy(a: np.ndarray, block: int = 32) -> np.ndarray:
    """A C-contiguous copy of aᵀ, made in column blocks (cache-friendly; ~4× faster than
    ``np.ascontiguousarray(a.T)`` for the (N, in) activations here)."""
    out = np.empty(a.shape[::-1], dtype=a.dtype)
    for j in range(0, a.shape[1], block):
        out[j : j + block] = a[:, j : j + block].T
    return out


class MaskedLinear(Function):
    """y = x (W ⊙ m) + b on the ``dense`` or ``scipy`` path (module docstring: FLOPs of each)."""

    def count_product(self, sparse_equivalent: int, executed: int, kind: str = "sparse_matmul", sub: str | None = None) -> None:
        """Record one product: the sparse algorithm's FLOPs and what this path executed."""
        record(sparse_equivalent, kind, self.scope, sub, executed=executed)

    def forward(self, x, w, b=None, layout: SparseLayout = None, backend: str = "dense"):
        x2 = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
        N, (n_in, n_out) = x2.shape[0], w.shape
        self.layout, self.backend, self.has_bias, self.in_shape = layout, backend, b is not None, x.shape
        if backend == "scipy":
            self.xt = transposed_copy(x2)  # (in, N): one row per input unit
            self.w_csr = layout.csr(w) if self.needs_grad[0] else None  # (in, out), for the input gradient
            y = transposed_copy(layout.csr_t(w) @ self.xt)  # (out, in) @ (in, N) -> (out, N) -> (N, out)
            self.count_product(2 * layout.nnz * N, executed=2 * layout.nnz * N)  # CSR × dense: 2 per stored weight and row
        else:
            self.x2, self.wm = x2, w * layout.mask  # W ⊙ m: in·out multiplies, no work for a sparse algorithm
            self.count_product(0, executed=n_in * n_out, kind="mask")
            y = x2 @ self.wm  # (N, in) @ (in, out)
            self.count_product(2 * layout.nnz * N, executed=2 * N * n_in * n_out)  # BLAS multiplies the zeros too
        if b is not None:
            y += b
            self.count(y.size, "bias")
        return y.reshape(*x.shape[:-1], n_out)

    def backward(self, g):
        """dx = g (W⊙m)ᵀ;  dW = (xᵀ g) ⊙ m, computed only at the nonzeros;  db = Σ g."""
        layout = self.layout
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        N = g2.shape[0]
        dense_product = 2 * N * layout.mask.size  # one (N, in) x (in, out) GEMM: 2·N·in·out
        sparse_product = 2 * layout.nnz * N  # the same product over the nonzeros only
        dx = dw = db = None
        dense_grad = switches.dense_weight_grads and self.needs_grad[1]
        if self.backend == "scipy":
            gt = transposed_copy(g2)  # (out, N)
            if self.needs_grad[0]:
                dx = transposed_copy(self.w_csr @ gt)  # (in, out) @ (out, N) -> (in, N) -> (N, in)
                self.count_product(sparse_product, executed=sparse_product)
            if self.needs_grad[1] and not dense_grad:
                dw = np.zeros(layout.mask.shape, dtype=g.dtype)
                dw[layout.rows, layout.cols] = sampled_matmul(self.xt, gt, layout.indptr, layout.cols)
                self.count_product(sparse_product, executed=sparse_product)  # sampled: 2·N per nonzero
            elif dense_grad:
                dw = self.xt @ g2  # (in, N) @ (N, out): every position
        else:
            if self.needs_grad[0]:
                dx = g2 @ self.wm.T  # (N, out) @ (out, in)
                self.count_product(sparse_product, executed=dense_product)
            if self.needs_grad[1]:
                dw = self.x2.T @ g2  # (in, N) @ (N, out): every position, the pruned ones zeroed below
                if not dense_grad:
                    self.count_product(sparse_product, executed=dense_product)
        if dense_grad:
            layout.dense_grad = dw.copy()  # for RigL's grow criterion |∇L|
            self.count_product(dense_product, executed=dense_product, kind="matmul", sub="dense_weight_grad")
        if dw is not None and (self.backend != "scipy" or dense_grad):
            np.copyto(dw, 0.0, where=layout.pruned)  # pruned weights get exactly 0 (a select: 0 FLOPs)
        if self.has_bias and self.needs_grad[2]:
            db = g2.sum(axis=0)
            self.count(g2.size, "bias")
        if dx is not None:
            dx = dx.reshape(self.in_shape)
        return dx, dw, db


def choose_backend(layout: SparseLayout) -> str:
    """The path a layer runs on: the chosen one, or for ``auto`` the one its sparsity favours."""
    if switches.backend != "auto":
        return switches.backend
    return "scipy" if layout.sparsity >= AUTO_SCIPY_MIN_SPARSITY else "dense"


def masked_linear(x: Tensor, weight, bias=None) -> Tensor:
    """y = x (W ⊙ m) + b for a parameter ``weight`` carrying a bool ``mask``."""
    layout = layout_of(weight)
    backend = choose_backend(layout)
    if bias is None:
        return MaskedLinear.apply(x, weight, layout=layout, backend=backend)
    return MaskedLinear.apply(x, weight, bias, layout=layout, backend=backend)
