"""AdamW and the learning-rate schedule, against hand-computed values and PyTorch, with the
textbook update (maths layer) and its speed-layer twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mediswift_np.config import PRESETS
from mediswift_np.model import GPT
from mediswift_np.nn import Parameter
from mediswift_np.optim import AdamW, AdamWConfig, global_grad_norm, lr_schedule


def make_params(rng):
    w = Parameter(rng.standard_normal((3, 4)), weight_decay=True)
    b = Parameter(rng.standard_normal(4), weight_decay=False)
    return w, b


FAST = pytest.mark.parametrize("fast", [False, True], ids=["maths", "fast"])


@FAST
def test_one_step_equals_hand_computed_update(fast):
    rng = np.random.default_rng(0)
    w, b = make_params(rng)
    w0, b0 = w.data.copy(), b.data.copy()
    gw, gb = rng.standard_normal((3, 4)), rng.standard_normal(4)
    w.grad, b.grad = gw.copy(), gb.copy()
    cfg = AdamWConfig(grad_clip=None)
    lr = 1e-3
    AdamW([("w", w), ("b", b)], cfg, fast=fast).step(lr)
    for p0, g, p, decay in ((w0, gw, w, True), (b0, gb, b, False)):
        for j in range(p0.size):
            theta, gj = p0.flat[j], g.flat[j]
            m = (1 - 0.9) * gj  # m_1 = (1-β1) g
            v = (1 - 0.95) * gj * gj  # v_1 = (1-β2) g²
            m_hat, v_hat = m / (1 - 0.9), v / (1 - 0.95)
            expected = theta - (lr * 0.1 * theta if decay else 0.0) - lr * m_hat / (math.sqrt(v_hat) + 1e-8)
            assert p.data.flat[j] == pytest.approx(expected, rel=1e-12, abs=1e-15)


@FAST
def test_matches_torch_adamw_over_several_steps(fast):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w, b = make_params(rng)
    tw = torch.tensor(w.data.copy(), requires_grad=True)
    tb = torch.tensor(b.data.copy(), requires_grad=True)
    ours = AdamW([("w", w), ("b", b)], AdamWConfig(grad_clip=None), fast=fast)
    ref = torch.optim.AdamW(
        [{"params": [tw], "weight_decay": 0.1}, {"params": [tb], "weight_decay": 0.0}], lr=1.0, betas=(0.9, 0.95), eps=1e-8
    )
    for step in range(6):
        lr = lr_schedule(step, 6, peak=3e-3)
        gw, gb = rng.standard_normal((3, 4)), rng.standard_normal(4)
        w.grad, b.grad = gw.copy(), gb.copy()
        tw.grad, tb.grad = torch.tensor(gw), torch.tensor(gb)
        for group in ref.param_groups:
            group["lr"] = lr
        ours.step(lr)
        ref.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_schedule_hits_its_named_points():
    N, peak = 1000, 2e-4
    W = 100  # 10% warmup (App. A.1)
    assert lr_schedule(0, N) == pytest.approx(peak / W)  # first step: peak/W, not a wasted 0
    assert lr_schedule(W - 1, N) == pytest.approx(peak)  # end of warmup: the peak
    assert lr_schedule(W, N) == pytest.approx(peak)  # cosine starts at the peak
    assert lr_schedule(N - 1, N) == pytest.approx(2e-5)  # last step: 10% of the peak
    mid = W + (N - 1 - W) / 2
    assert lr_schedule(int(mid), N) == pytest.approx(1.1e-4, rel=1e-2)  # halfway down: (peak+min)/2
    lrs = [lr_schedule(s, N) for s in range(N)]
    assert all(a < b for a, b in zip(lrs[: W - 1], lrs[1:W]))  # warmup rises
    assert all(a >= b for a, b in zip(lrs[W:], lrs[W + 1 :]))  # cosine falls
    with pytest.raises(ValueError):
        lr_schedule(N, N)


def test_global_norm_clipping():
    rng = np.random.default_rng(2)
    w, b = make_params(rng)
    w.grad, b.grad = np.full((3, 4), 3.0), np.full(4, 4.0)
    expected = math.sqrt(12 * 9 + 4 * 16)
    opt = AdamW([("w", w), ("b", b)], AdamWConfig(grad_clip=1.0))
    assert opt.clip_grad_norm() == pytest.approx(expected)
    assert global_grad_norm([w, b]) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(w.grad[0, 0] / b.grad[0], 3.0 / 4.0)  # direction kept


def test_gpt_weight_decay_groups():
    model = GPT(PRESETS["tiny"])
    decayed = {n for n, p in model.named_parameters() if p.weight_decay}
    assert decayed == {n for n, p in model.named_parameters() if n.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight"))}
    assert "transformer.wte.weight" not in decayed and "transformer.wpe.weight" not in decayed


def adamw_by_hand(theta, grads, lrs, decay, beta1=0.9, beta2=0.95, eps=1e-8, lam=0.1):
    """θ after each AdamW step (Loshchilov & Hutter 2019, Alg. 2; decay scaled by the step's lr),
    one scalar in plain Python floats."""
    m = v = 0.0
    out = []
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        if decay:
            theta = theta - lr * lam * theta
        theta = theta - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(theta)
    return out


@FAST
def test_three_steps_equal_closed_form(fast):
    """Steps t = 1, 2, 3 with the bias corrections 1-β^t written out, decoupled decay on a
    block weight and none on a bias, and the lrs of a 3-step schedule."""
    peak = 1e-2
    # 3-step schedule: W = max(1, round(0.3)) = 1, so step 0 is peak·1/1; cosine over
    # N - 1 - W = 1 step: step 1 is the peak (progress 0), step 2 the minimum 0.1·peak.
    lrs = [lr_schedule(s, 3, peak=peak) for s in range(3)]
    assert lrs == pytest.approx([peak, peak, 0.1 * peak], rel=1e-15)
    g_w = [(0.5, -2.0), (-1.5, -1.0), (0.25, 3.0)]  # g1, g2, g3 for each of the two weights
    g_b = [(1.0,), (1.0,), (-4.0,)]
    w = Parameter(np.array([0.8, -0.3]), weight_decay=True)  # decayed group (block matrices)
    b = Parameter(np.array([0.2]), weight_decay=False)  # not decayed (biases, LayerNorms, embeddings)
    opt = AdamW([("w", w), ("b", b)], AdamWConfig(grad_clip=None), fast=fast)
    for t in range(3):
        w.grad, b.grad = np.array(g_w[t]), np.array(g_b[t])
        opt.step(lrs[t])
        for p, p0, grads, decay in ((w, (0.8, -0.3), g_w, True), (b, (0.2,), g_b, False)):
            for j in range(p.data.size):
                expected = adamw_by_hand(p0[j], [g[j] for g in grads[: t + 1]], lrs[: t + 1], decay)[-1]
                assert p.data[j] == pytest.approx(expected, rel=1e-12, abs=1e-15), (t + 1, j)
    # step 3 of w[0] worked by hand (g = 0.5, -1.5, 0.25; lr_3 = 0.1·peak):
    # m: 0.05, 0.045 - 0.15 = -0.105, -0.0945 + 0.025 = -0.0695
    # v: 0.0125, 0.011875 + 0.1125 = 0.124375, 0.11815625 + 0.003125 = 0.12128125
    # bias corrections 1 - 0.9³ = 0.271 and 1 - 0.95³ = 0.142625
    assert opt.t == 3 and opt.m["w"][0] == pytest.approx(-0.0695, rel=1e-12) and opt.v["w"][0] == pytest.approx(0.12128125, rel=1e-12)
    theta2 = adamw_by_hand(0.8, [0.5, -1.5], lrs[:2], decay=True)[-1]
    theta3 = theta2 * (1 - 0.1 * peak * 0.1) - 0.1 * peak * (-0.0695 / 0.271) / (math.sqrt(0.12128125 / 0.142625) + 1e-8)
    assert w.data[0] == pytest.approx(theta3, rel=1e-12)


def test_state_dict_round_trip():
    """A fresh optimizer loaded from the state after step 1 takes the hand-computed step 2."""
    rng = np.random.default_rng(3)
    w, b = make_params(rng)
    w0, b0 = w.data.copy(), b.data.copy()
    g1 = (rng.standard_normal((3, 4)), rng.standard_normal(4))
    g2 = (rng.standard_normal((3, 4)), rng.standard_normal(4))
    opt = AdamW([("w", w), ("b", b)])
    w.grad, b.grad = g1[0].copy(), g1[1].copy()
    opt.step(1e-3)
    state = opt.state_dict()
    assert int(state["t"]) == 1
    np.testing.assert_allclose(state["m/w"], 0.1 * g1[0], rtol=1e-15)  # m_1 = (1-β1) g1
    np.testing.assert_allclose(state["v/b"], 0.05 * g1[1] ** 2, rtol=1e-15)  # v_1 = (1-β2) g1²
    w2, b2 = Parameter(w.data.copy(), True), Parameter(b.data.copy())
    opt2 = AdamW([("w", w2), ("b", b2)])
    opt2.load_state_dict(state)
    w2.grad, b2.grad = g2[0].copy(), g2[1].copy()
    opt2.step(2e-3)
    assert opt2.t == 2
    for p, p0, k, decay in ((w2, w0, 0, True), (b2, b0, 1, False)):
        for j in range(p0.size):
            expected = adamw_by_hand(p0.flat[j], [g1[k].flat[j], g2[k].flat[j]], [1e-3, 2e-3], decay)[-1]
            assert p.data.flat[j] == pytest.approx(expected, rel=1e-12, abs=1e-15)
