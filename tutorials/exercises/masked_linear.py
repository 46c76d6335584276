"""Track ``masked_linear``: a statically sparse linear layer, stored as CSR.

Copy this file, ``cp tutorials/exercises/masked_linear.py my_masked_linear.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check masked_linear --file my_masked_linear.py

or just ``python my_masked_linear.py``. Read tutorial 04 first
(``tutorials/04_sparsity_and_sparse_matmul.ipynb`` §1 the mask, §3 one masked linear
layer, two paths). The layer is y = x (W ⊙ m) + b with W and the bool mask m of shape
(in, out) -- GPT-2's layout, so the ROWS of W are the layer's input units. CSR
(compressed sparse row) stores a matrix as three arrays:

    data     the stored values, row by row (columns ascending within a row)
    indices  the column of each stored value
    indptr   in + 1 offsets: row r's values are data[indptr[r]:indptr[r + 1]]

Use NumPy (scipy.sparse is allowed if you build it from your own arrays). The checker
compares with mediswift_np.sparse, so look there only afterwards.
"""

from __future__ import annotations

import numpy as np  # noqa: F401

TRACK = "masked_linear"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1


def csr_of(w, mask):
    """The CSR arrays (data, indices, indptr) of W ⊙ m, W and mask of shape (in, out).

    Store exactly the positions where mask is True -- also a kept weight whose value
    happens to be 0.0. indices and indptr are integer arrays.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def masked_forward(x, data, indices, indptr, shape, bias):
    """y = x (W ⊙ m) + bias, with W ⊙ m given by its CSR arrays and shape = (in, out).

    x (..., in) -> y (..., out). Work from the CSR arrays (do not rebuild the dense W).
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def masked_input_grad(grad_y, data, indices, indptr, shape):
    """The input gradient dx = grad_y (W ⊙ m)ᵀ from the CSR arrays: (..., out) -> (..., in)."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def sampled_weight_grad(x, grad_y, mask):
    """The weight gradient of the masked layer: dW = (xᵀ grad_y) ⊙ m, shape (in, out).

    x (..., in) and grad_y (..., out) are flattened over their leading axes first. A
    pruned position must get exactly 0.0, so that pruned weights stay exactly 0 under
    AdamW. (Computing xᵀ grad_y densely and masking is allowed; the real saving is to
    compute only the kept entries, 2·nnz·N FLOPs.)
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 5


def densify(model):
    """Turn a sparse-pre-trained model into a dense one for fine-tuning (Sec. 2.2.1).

    ``model`` is a mediswift_np.model.GPT; ``model.named_parameters()`` yields (name, p)
    and a masked parameter has a bool ``p.mask`` (None when dense). Change the model in
    place; return nothing.
    """
    raise NotImplementedError


if __name__ == "__main__":  # python my_masked_linear.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
