"""Worked solutions to tutorials/exercises/masked_linear.py (track ``masked_linear``).

Try the exercises first. The CSR loops are written out so the index arithmetic is
visible; mediswift_np.sparse does the same work with scipy.sparse and a chunked
sampled product:

    python -m mediswift_np.exercises check masked_linear --file instructors/solutions/masked_linear.py
"""

from __future__ import annotations

import numpy as np

TRACK = "masked_linear"

# ----------------------------------------------------------------------------- exercise 1


def csr_of(w, mask):
    rows, cols = np.nonzero(mask)  # row-major order: CSR order of W (in, out)
    data = w[rows, cols]  # the mask decides what is stored, even a kept weight equal to 0
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=mask.shape[0]))])
    return data, cols, indptr


# ----------------------------------------------------------------------------- exercise 2


def masked_forward(x, data, indices, indptr, shape, bias):
    n_in, n_out = shape
    x2 = x.reshape(-1, n_in)  # (..., in) -> (N, in)
    y = np.zeros((x2.shape[0], n_out))
    for r in range(n_in):  # input unit r feeds the outputs it keeps a weight to
        for k in range(indptr[r], indptr[r + 1]):
            y[:, indices[k]] += x2[:, r] * data[k]
    return (y + bias).reshape(*x.shape[:-1], n_out)


# ----------------------------------------------------------------------------- exercise 3


def masked_input_grad(grad_y, data, indices, indptr, shape):
    n_in, n_out = shape
    g2 = grad_y.reshape(-1, n_out)  # (N, out)
    dx = np.zeros((g2.shape[0], n_in))
    for r in range(n_in):  # dx[:, r] = Σ_k g[:, indices[k]] · data[k]: row r of W ⊙ m against g
        for k in range(indptr[r], indptr[r + 1]):
            dx[:, r] += g2[:, indices[k]] * data[k]
    return dx.reshape(*grad_y.shape[:-1], n_in)


# ----------------------------------------------------------------------------- exercise 4


def sampled_weight_grad(x, grad_y, mask):
    x2, g2 = x.reshape(-1, mask.shape[0]), grad_y.reshape(-1, mask.shape[1])  # (N, in), (N, out)
    dw = np.zeros(mask.shape)
    rows, cols = np.nonzero(mask)
    dw[rows, cols] = np.einsum("nk,nk->k", x2[:, rows], g2[:, cols])  # only the kept positions: 2·nnz·N FLOPs
    return dw


# ----------------------------------------------------------------------------- exercise 5


def densify(model):
    for _, p in model.named_parameters():
        p.mask = None  # the weights stay as they are: pruned ones are 0 and restart from 0
