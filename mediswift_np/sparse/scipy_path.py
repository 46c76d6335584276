"""The scipy path of the masked linear layer: index arrays of a mask, CSR products, a sampled product.

A static mask's nonzeros are found once (``SparseLayout``, cached per parameter by
``layout_of``); every step then takes the current weights at those positions:

- forward and input gradient are CSR × dense products (``SparseLayout.csr_t``, ``csr``);
- the weight gradient is needed only at the mask's nonzeros, so it is a *sampled*
  dense-dense product, (xᵀ g) at the nonzeros (``sampled_matmul``): 2·N FLOPs per
  nonzero, chunked so memory stays bounded.

scipy's products want x and g with one row per unit, so they are transposed into
C-contiguous copies (``transposed_copy``, made in cache-sized column blocks).

Does not handle: masks that change without a new mask object (``layout_of`` compares
the object, not its contents).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

SDDMM_CHUNK = 1 << 22  # elements gathered per chunk of the sampled weight gradient (16 MB in float32)


class SparseLayout:
    """Index arrays of one static mask, built once: CSR of Wᵀ (out, in) and of W (in, out)."""

    def __init__(self, mask: np.ndarray):
        self.mask, self.pruned = mask, ~mask
        self.dense_grad: np.ndarray | None = None  # xᵀ g at every position, for RigL (linear.py)
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
    """A C-contiguous copy of aᵀ, made in column blocks of ``block`` (cache-friendly: faster than
    ``np.ascontiguousarray(a.T)`` for the (N, in) activations here, benchmarks/bench_sparse.py)."""
    out = np.empty(a.shape[::-1], dtype=a.dtype)
    for j in range(0, a.shape[1], block):
        out[j : j + block] = a[:, j : j + block].T
    return out
