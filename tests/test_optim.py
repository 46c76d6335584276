"""AdamW and the learning-rate schedule, against hand-computed values and PyTorch."""

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


def test_one_step_equals_hand_computed_update():
    rng = np.random.default_rng(0)
    w, b = make_params(rng)
    w0, b0 = w.data.copy(), b.data.copy()
    gw, gb = rng.standard_normal((3, 4)), rng.standard_normal(4)
    w.grad, b.grad = gw.copy(), gb.copy()
    cfg = AdamWConfig(grad_clip=None)
    lr = 1e-3
    AdamW([("w", w), ("b", b)], cfg).step(lr)
    for p0, g, p, decay in ((w0, gw, w, True), (b0, gb, b, False)):
        for j in range(p0.size):
            theta, gj = p0.flat[j], g.flat[j]
            m = (1 - 0.9) * gj  # m_1 = (1-β1) g
            v = (1 - 0.95) * gj * gj  # v_1 = (1-β2) g²
            m_hat, v_hat = m / (1 - 0.9), v / (1 - 0.95)
            expected = theta - (lr * 0.1 * theta if decay else 0.0) - lr * m_hat / (math.sqrt(v_hat) + 1e-8)
            assert p.data.flat[j] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_matches_torch_adamw_over_several_steps():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w, b = make_params(rng)
    tw = torch.tensor(w.data.copy(), requires_grad=True)
    tb = torch.tensor(b.data.copy(), requires_grad=True)
    ours = AdamW([("w", w), ("b", b)], AdamWConfig(grad_clip=None))
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


def test_state_dict_round_trip():
    rng = np.random.default_rng(3)
    w, b = make_params(rng)
    opt = AdamW([("w", w), ("b", b)])
    w.grad, b.grad = rng.standard_normal((3, 4)), rng.standard_normal(4)
    opt.step(1e-3)
    w2, b2 = Parameter(w.data.copy(), True), Parameter(b.data.copy())
    opt2 = AdamW([("w", w2), ("b", b2)])
    opt2.load_state_dict(opt.state_dict())
    g = (rng.standard_normal((3, 4)), rng.standard_normal(4))
    for o, (pw, pb) in ((opt, (w, b)), (opt2, (w2, b2))):
        pw.grad, pb.grad = g[0].copy(), g[1].copy()
        o.step(1e-3)
    np.testing.assert_array_equal(w.data, w2.data)
    assert opt2.t == 2
