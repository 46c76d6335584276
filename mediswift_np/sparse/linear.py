"""The masked linear layer, y = x (W ⊙ m) + b (paper Eq. 1), on a dense and a sparse path.

``MaskedLinear`` is Eq. 1 as written: W ⊙ m, then a BLAS product. Its backward:

    dx = g (W ⊙ m)ᵀ      dW = (xᵀ g) ⊙ m      db = Σ g

so a pruned weight's gradient is exactly 0, its AdamW moments stay 0 and its update and
decay are 0 (optim.py): pruned weights stay exactly 0 without a special case.
``ScipyMaskedLinear`` computes the same numbers on ``scipy.sparse`` (scipy_path.py):
forward and input gradient as CSR × dense products, the weight gradient only at the
mask's nonzeros (a *sampled* dense-dense product). Which one runs is the ``backend``:

- ``dense``: W ⊙ m through BLAS;
- ``scipy``: the nonzeros only;
- ``auto`` (default): ``scipy`` for layers at or above ``AUTO_SCIPY_MIN_SPARSITY``, ``dense``
  below. On a CPU, BLAS runs dense products near peak speed while sparse kernels are
  bound by irregular memory access, so sparsity saves wall-clock time only when it is
  extreme (benchmarks/bench_sparse.py measures where). This is the paper's App. B point:
  FLOP savings need hardware built for unstructured sparsity.

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
the dense path executed = dense FLOPs + in·out per layer call, whatever s is.

Masks may change during training (SET and RigL, dst.py): a layer rebuilds its index
arrays when its mask object changes (``layout_of``). RigL's grow step needs the *dense*
weight gradient xᵀ g: inside ``with dense_weight_gradients():`` a layer stores it on its
layout (``layout_of(p).dense_grad``); the parameter's own ``.grad`` stays masked.

The backend and the dense-gradient switch are one process-wide object, ``switches``,
changed only by the context managers ``use_backend`` and ``dense_weight_gradients`` (they
restore the previous value, so one run never changes the next one's). ``masked_linear``
reads it once, when the forward pass runs, and passes what the op needs to it: no
backward pass reads a process-wide switch.

Does not handle: structured (N:M, block) sparsity; per-layer backends.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..autograd import Function, Tensor
from ..autograd.counter import record
from ..errors import UserError
from .scipy_path import SparseLayout, layout_of, sampled_matmul, transposed_copy

BACKENDS = ("auto", "dense", "scipy")
AUTO_SCIPY_MIN_SPARSITY = 0.99  # below it, BLAS on all cores beats scipy (benchmarks/bench_sparse.py)


@dataclass
class Switches:
    """How masked layers run; ``masked_linear`` reads it when a forward pass runs."""

    backend: str = "auto"  # the masked-matmul path: auto, dense or scipy
    dense_weight_grads: bool = False  # RigL update steps need the dense weight gradient (dst.py)


switches = Switches()  # change only through the context managers below (they restore it)


def check_backend(name: str) -> None:
    if name not in BACKENDS:
        raise UserError(f"unknown sparse backend {name!r}; choose from {', '.join(BACKENDS)}")


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


class MaskedLinear(Function):
    """y = x (W ⊙ m) + b, Eq. 1, through BLAS: the dense path (module docstring: its FLOPs)."""

    def forward(self, x, w, b=None, layout: SparseLayout = None, dense_weight_grad: bool = False):
        self.layout, self.dense_weight_grad, self.has_bias, self.in_shape = layout, dense_weight_grad, b is not None, x.shape
        self.x2 = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
        self.wm = w * layout.mask  # W ⊙ m (Eq. 1)
        y = self.x2 @ self.wm  # (N, in) @ (in, out) -> (N, out)
        N = self.x2.shape[0]
        self.count_product(0, executed=w.size, kind="mask")  # W ⊙ m: in·out multiplies, no work for a sparse algorithm
        self.count_product(2 * layout.nnz * N, executed=2 * N * w.size)  # BLAS multiplies the zeros too
        return self.add_bias(y, b).reshape(*x.shape[:-1], w.shape[1])

    def backward(self, g):
        """dx = g (W ⊙ m)ᵀ;  dW = (xᵀ g) ⊙ m;  db = Σ g."""
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        N = g2.shape[0]
        dense, sparse = 2 * N * self.wm.size, 2 * self.layout.nnz * N  # one product: executed, sparse-equivalent
        dx = dw = None
        if self.needs_grad[0]:
            dx = (g2 @ self.wm.T).reshape(self.in_shape)  # (N, out) @ (out, in)
            self.count_product(sparse, executed=dense)
        if self.needs_grad[1]:
            dw = self.x2.T @ g2  # xᵀ g: (in, N) @ (N, out), at every position
            if self.dense_weight_grad:
                self.keep_dense_weight_grad(dw, dense)
            else:
                self.count_product(sparse, executed=dense)
            np.copyto(dw, 0.0, where=self.layout.pruned)  # ⊙ m: pruned weights get exactly 0 (a select: 0 FLOPs)
        return dx, dw, self.bias_grad(g2)

    # -- bookkeeping shared by both paths

    def count_product(self, sparse_equivalent: int, executed: int, kind: str = "sparse_matmul", sub: str | None = None) -> None:
        """Record one product: the sparse algorithm's FLOPs and what this path executed."""
        record(sparse_equivalent, kind, self.scope, sub, executed=executed)

    def keep_dense_weight_grad(self, dw: np.ndarray, flops: int) -> None:
        """Store xᵀ g at every position for RigL's grow criterion |∇L| (before the mask zeroes it)."""
        self.layout.dense_grad = dw.copy()
        self.count_product(flops, executed=flops, kind="matmul", sub="dense_weight_grad")  # a dense product, both counts

    def add_bias(self, y: np.ndarray, b) -> np.ndarray:
        if b is not None:
            y += b
            self.count(y.size, "bias")
        return y

    def bias_grad(self, g2: np.ndarray):
        if not (self.has_bias and self.needs_grad[2]):
            return None
        self.count(g2.size, "bias")
        return g2.sum(axis=0)


class ScipyMaskedLinear(MaskedLinear):
    """The same y = x (W ⊙ m) + b on scipy.sparse: only the nonzeros are multiplied."""

    def forward(self, x, w, b=None, layout: SparseLayout = None, dense_weight_grad: bool = False):
        self.layout, self.dense_weight_grad, self.has_bias, self.in_shape = layout, dense_weight_grad, b is not None, x.shape
        x2 = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
        self.xt = transposed_copy(x2)  # (in, N): one row per input unit
        self.w_csr = layout.csr(w) if self.needs_grad[0] else None  # W as CSR (in, out), for the input gradient
        y = transposed_copy(layout.csr_t(w) @ self.xt)  # Wᵀ x: (out, in) @ (in, N) -> (out, N) -> (N, out)
        N = x2.shape[0]
        self.count_product(2 * layout.nnz * N, executed=2 * layout.nnz * N)  # CSR × dense: 2 per stored weight and row
        return self.add_bias(y, b).reshape(*x.shape[:-1], w.shape[1])

    def backward(self, g):
        """dx = g (W ⊙ m)ᵀ as CSR × dense; dW = (xᵀ g) ⊙ m at the nonzeros only; db = Σ g."""
        layout = self.layout
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        gt = transposed_copy(g2)  # (out, N)
        N = g2.shape[0]
        dense, sparse = 2 * N * layout.mask.size, 2 * layout.nnz * N  # one product: over every weight, over the nonzeros
        dx = dw = None
        if self.needs_grad[0]:
            dx = transposed_copy(self.w_csr @ gt).reshape(self.in_shape)  # (in, out) @ (out, N) -> (in, N) -> (N, in)
            self.count_product(sparse, executed=sparse)
        if self.needs_grad[1] and self.dense_weight_grad:
            dw = self.xt @ g2  # (in, N) @ (N, out): every position, for RigL
            self.keep_dense_weight_grad(dw, dense)
            np.copyto(dw, 0.0, where=layout.pruned)
        elif self.needs_grad[1]:
            dw = np.zeros(layout.mask.shape, dtype=g.dtype)
            dw[layout.rows, layout.cols] = sampled_matmul(self.xt, gt, layout.indptr, layout.cols)  # xᵀ g at the nonzeros
            self.count_product(sparse, executed=sparse)  # sampled: 2·N per nonzero
        return dx, dw, self.bias_grad(g2)


def choose_backend(layout: SparseLayout) -> str:
    """The path a layer runs on: the chosen one, or for ``auto`` the one its sparsity favours."""
    if switches.backend != "auto":
        return switches.backend
    return "scipy" if layout.sparsity >= AUTO_SCIPY_MIN_SPARSITY else "dense"


def masked_linear(x: Tensor, weight, bias=None) -> Tensor:
    """y = x (W ⊙ m) + b for a parameter ``weight`` carrying a bool ``mask``, on the chosen path."""
    layout = layout_of(weight)
    op = ScipyMaskedLinear if choose_backend(layout) == "scipy" else MaskedLinear
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return op.apply(*inputs, layout=layout, dense_weight_grad=switches.dense_weight_grads)
