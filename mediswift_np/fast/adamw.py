"""The AdamW update in place, block by block on all cores: the twin of optim.adamw_update.

The maths layer writes each line of Loshchilov & Hutter's update as one NumPy line,
which allocates a temporary per line. Here the same update runs in place, with two
scratch arrays, through :func:`pool.rows` (all cores, one cache-sized block of rows at a
time, bit-identical to one call on the whole array). Its constants are computed once
per parameter in the parameter's dtype, and two of them are folded: lr / (1 - β1^t)
multiplies m (so m̂ is never formed) and the decay is the factor 1 - lr·λ. So the result
equals the maths layer's up to rounding (tests/test_fast_ops.py).

Does not handle: anything optim.adamw_update does not.
"""

from __future__ import annotations

import numpy as np

from .pool import rows


def _adamw_update_rows(theta, g, m, v, *, beta1, beta2, one_minus_beta1, one_minus_beta2, decay, bc2, eps, lr_over_bc1) -> None:
    """One AdamW update of a block of a parameter θ (in place), its gradient g and moments m, v."""
    m *= beta1
    m += one_minus_beta1 * g  # m ← β1 m + (1-β1) g
    v *= beta2
    v += one_minus_beta2 * (g * g)  # v ← β2 v + (1-β2) g²
    if decay != 1.0:
        theta *= decay  # θ ← θ - lr·λ·θ = (1 - lr·λ) θ (decoupled)
    denom = v / bc2  # v̂ (one scratch array, reused below)
    np.sqrt(denom, out=denom)
    denom += eps  # √v̂ + ε
    update = lr_over_bc1 * m  # lr · m̂ (a second scratch array)
    update /= denom
    theta -= update  # θ ← θ - lr · m̂ / (√v̂ + ε)


def adamw_update(theta: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, t: int, lr: float, beta1: float,
                 beta2: float, eps: float, weight_decay: float) -> None:  # fmt: skip
    """optim.adamw_update (same arguments), in place through row blocks on all cores."""
    f = theta.dtype.type  # every constant in the parameter's dtype
    decay = 1.0 - lr * weight_decay if weight_decay else 1.0
    constants = dict(beta1=f(beta1), beta2=f(beta2), one_minus_beta1=f(1.0 - beta1), one_minus_beta2=f(1.0 - beta2),
                     decay=f(decay), bc2=f(1.0 - beta2**t), eps=f(eps), lr_over_bc1=f(lr / (1.0 - beta1**t)))  # fmt: skip
    rows(_adamw_update_rows, theta, g, m, v, **constants)
