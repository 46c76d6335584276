"""The shared training step (training.py): its order checked on closed forms, and that a
non-finite loss or ``update=False`` leaves every weight and optimizer state untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mediswift_np.nn import Parameter
from mediswift_np.optim import AdamW, AdamWConfig
from mediswift_np.training import train_step


def quadratic(theta: Parameter, target: np.ndarray):
    """L(θ) = Σ (θ - target)²: ∂L/∂θ = 2 (θ - target)."""
    return lambda: ((theta - target) ** 2).sum()


def test_one_step_is_zero_forward_backward_clip_update():
    """θ = [0, 0], target [3, 4]: g = [-6, -8], ‖g‖ = 10 clipped to c = 2.5, so g = [-1.5, -2];
    AdamW's first step is lr·m̂/(√v̂ + ε) = lr·g/(|g| + ε) ≈ lr·sign(g) = -0.1 each (then θ += 0.1)."""
    theta = Parameter(np.zeros(2))
    theta.grad = np.array([100.0, 100.0])  # a stale gradient: the step must zero it first
    opt = AdamW([("theta", theta)], AdamWConfig(weight_decay=0.0, grad_clip=2.5, eps=1e-8))
    loss, norm = train_step(opt, quadratic(theta, np.array([3.0, 4.0])), lr=0.1)
    assert loss == 25.0 and norm == 10.0  # loss and gradient norm at θ before the update
    assert np.allclose(theta.grad, [-6 * 2.5 / (10 + 1e-6), -8 * 2.5 / (10 + 1e-6)])  # clipped, stale part gone
    g = theta.grad
    assert np.allclose(theta.data, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)  # = [0.1, 0.1] up to ε
    assert opt.t == 1


def test_two_steps_equal_the_hand_computed_adamw_updates():
    """Second step from θ₁ = 0.1: g₂ = 2(0.1 - 3) = -5.8 (no clipping, c = ∞);
    β = (0.9, 0.95) (GPT-3's, optim.AdamWConfig): m₂ = 0.9·0.1·g₁ + 0.1·g₂, v₂ = 0.95·0.05·g₁² + 0.05·g₂²,
    θ₂ = θ₁ - lr·(m₂/(1 - 0.9²))/(√(v₂/(1 - 0.95²)) + ε)."""
    theta = Parameter(np.zeros(1))
    opt = AdamW([("theta", theta)], AdamWConfig(weight_decay=0.0, grad_clip=math.inf, eps=1e-8))
    loss_of = quadratic(theta, np.array([3.0]))
    train_step(opt, loss_of, lr=0.1)
    theta_1 = theta.data.copy()
    loss, norm = train_step(opt, loss_of, lr=0.05)
    g1, g2 = -6.0, 2 * (theta_1[0] - 3.0)
    m2, v2 = 0.9 * 0.1 * g1 + 0.1 * g2, 0.95 * 0.05 * g1**2 + 0.05 * g2**2
    expected = theta_1[0] - 0.05 * (m2 / (1 - 0.9**2)) / (math.sqrt(v2 / (1 - 0.95**2)) + 1e-8)
    assert loss == pytest.approx((theta_1[0] - 3.0) ** 2, rel=1e-15) and norm == pytest.approx(abs(g2), rel=1e-15)
    assert theta.data[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_updates_nothing(bad):
    theta = Parameter(np.array([1.0, 2.0]))
    opt = AdamW([("theta", theta)], AdamWConfig())
    loss, norm = train_step(opt, lambda: (theta * bad).sum(), lr=0.1)
    assert not math.isfinite(loss) and math.isnan(norm)
    assert theta.data.tolist() == [1.0, 2.0] and opt.t == 0 and not opt.m["theta"].any()


def test_gradients_only_step_leaves_weights_and_moments():
    """``update=False`` (RigL's mask-update steps): loss and gradient, no clipping, no update."""
    theta = Parameter(np.zeros(2))
    opt = AdamW([("theta", theta)], AdamWConfig(grad_clip=1.0))
    loss, norm = train_step(opt, quadratic(theta, np.array([3.0, 4.0])), lr=0.1, update=False)
    assert loss == 25.0 and math.isnan(norm)
    assert theta.grad.tolist() == [-6.0, -8.0]  # unclipped
    assert theta.data.tolist() == [0.0, 0.0] and opt.t == 0


def test_docstring_example():
    import doctest

    from mediswift_np import training

    assert doctest.testmod(training).failed == 0
