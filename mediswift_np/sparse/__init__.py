"""Static unstructured weight sparsity (paper Sec. 2.1, 3.3, Eq. 1): masks, the masked layer, SET and RigL.

    masks.py        the one table of the six sparsified matrices (SPARSIFIED), random masks,
                    sparsify / densify, the sparsity report S = Σ_l s_l N_l / N
    linear.py       the masked linear layer y = x (W ⊙ m) + b: Eq. 1 through BLAS first, then
                    the same on scipy.sparse; which path runs (use_backend), FLOPs of each
    scipy_path.py   the mask's index arrays, CSR products and the sampled weight gradient
    dst.py          dynamic sparse training (SET, RigL) beside static sparsity; it sits above
                    the optimizer (``from mediswift_np.sparse import dst``), so this file
                    does not import it

Pruned weights stay exactly 0 for the whole of pre-training: their gradient is exactly 0
on both paths, so AdamW's moments stay 0 and its update and decay are 0 (optim.py).

Does not handle: structured (N:M, block) sparsity, per-layer sparsity schedules, or
per-layer sparsity redistribution when masks change.
"""

from ..flops import check_sparsity
from .linear import (
    AUTO_SCIPY_MIN_SPARSITY,
    BACKENDS,
    MaskedLinear,
    ScipyMaskedLinear,
    Switches,
    check_backend,
    choose_backend,
    dense_weight_gradients,
    masked_linear,
    switches,
    use_backend,
)
from .masks import SPARSIFIED, SparsityReport, densify, random_mask, sparsified_parts, sparsify, sparsity_report
from .scipy_path import SDDMM_CHUNK, SparseLayout, layout_of, sampled_matmul, transposed_copy

__all__ = [
    "AUTO_SCIPY_MIN_SPARSITY", "BACKENDS", "MaskedLinear", "SDDMM_CHUNK", "SPARSIFIED", "ScipyMaskedLinear",
    "SparseLayout", "SparsityReport", "Switches", "check_backend", "check_sparsity", "choose_backend",
    "dense_weight_gradients", "densify", "layout_of", "masked_linear", "random_mask", "sampled_matmul",
    "sparsified_parts", "sparsify", "sparsity_report", "switches", "transposed_copy", "use_backend",
]  # fmt: skip
