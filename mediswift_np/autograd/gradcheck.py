"""Checking a backward pass against central finite differences.

For a function ``f`` of tensors x_1..x_k with output y, pick a random upstream gradient
``dy`` and the scalar ``L = sum(f(x) * dy)``. Reverse mode gives dL/dx_i in one
backward pass; central differences give every element independently:

    dL/dx[j] ≈ (L(x + eps·e_j) - L(x - eps·e_j)) / (2·eps)

with an error of O(eps²) from truncation plus O(δ/eps) from rounding (δ ≈ 1e-16 in
float64), so eps = 1e-6 leaves about 1e-10 of noise: a relative tolerance of 1e-6
separates a right gradient from a wrong one by many orders of magnitude. This is why
checks run in float64; float32 would need eps ≈ 1e-3 and tolerances near 1e-2, too
loose to catch a missing factor in a small term.

Does not handle: functions that are not differentiable at the test point (e.g. exactly
at a ReLU kink) or random functions -- make them deterministic (fixed seed per call).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .engine import Tensor, no_grad


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    *,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int = 0,
) -> bool:
    """Compare every element of the analytic gradient with central differences.

    ``inputs`` must be float64 tensors; those with ``requires_grad=True`` are checked.
    Returns True, or raises AssertionError naming the input, the worst element and both
    values.

    Example:
        >>> x = Tensor(np.array([[0.5, -1.0]]), requires_grad=True, dtype=np.float64)
        >>> gradcheck(lambda x: (x * x).tanh(), [x])
        True
    """
    rng = np.random.default_rng(seed)
    checked = [t for t in inputs if t.requires_grad]
    for t in checked:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs, got {t.dtype}")
        t.grad = None

    out = fn(*inputs)
    dout = rng.standard_normal(out.shape)
    out.backward(dout.astype(out.dtype))

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).data * dout))

    for i, t in enumerate(checked):
        analytic = np.zeros_like(t.data) if t.grad is None else t.grad
        numeric = np.zeros_like(t.data)
        flat = t.data.reshape(-1)  # a view: editing it perturbs the input in place
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = objective()
            flat[j] = original - eps
            minus = objective()
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric)
        bound = atol + rtol * np.abs(numeric)
        if not np.all(err <= bound):
            j = int(np.argmax(err - bound))
            idx = tuple(int(i) for i in np.unravel_index(j, t.shape))
            raise AssertionError(
                f"gradient of input {i} (shape {t.shape}) wrong at {idx}: "
                f"analytic {analytic.reshape(-1)[j]:.10g} vs numeric {numeric.reshape(-1)[j]:.10g} "
                f"(max abs error {err.max():.3g})"
            )
    return True
