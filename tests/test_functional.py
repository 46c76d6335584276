"""The ops of both layers: gradcheck against finite differences (maths layer and speed
layer), equality with the same op composed from primitives, and closed-form properties.
The speed layer's kernels against the maths layer's: tests/test_fast_ops.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mediswift_np.functional as F
from mediswift_np.autograd import Tensor, count_flops, gradcheck
from mediswift_np.nn import kernels


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture(params=[False, True], ids=["maths", "fast"])
def ops(request):
    """The ops of the maths layer (functional) or of the speed layer (fast.ops): same names, same arguments."""
    return kernels(request.param)


def leaf(rng, *shape, scale=1.0):
    return Tensor(rng.standard_normal(shape) * scale, requires_grad=True, dtype=np.float64)


# -- gradchecks ----------------------------------------------------------------------------


def test_linear_gradcheck(rng, ops):
    assert gradcheck(ops.linear, [leaf(rng, 2, 3, 5), leaf(rng, 5, 4), leaf(rng, 4)])
    assert gradcheck(ops.linear, [leaf(rng, 3, 5), leaf(rng, 5, 4)])
    w = leaf(rng, 4, 5)  # a transposed view, as the tied output layer uses wteᵀ
    assert gradcheck(lambda x, w: ops.linear(x, w.transpose()), [leaf(rng, 3, 5), w])


def test_softmax_and_log_softmax_gradcheck(rng, ops):
    x = leaf(rng, 2, 3, 6, scale=3.0)
    assert gradcheck(ops.softmax, [x])
    assert gradcheck(F.log_softmax, [x])


def test_layer_norm_gradcheck(rng, ops):
    assert gradcheck(lambda x, w, b: ops.layer_norm(x, w, b), [leaf(rng, 2, 3, 7), leaf(rng, 7), leaf(rng, 7)])


def test_gelu_gradcheck(rng, ops):
    assert gradcheck(ops.gelu, [leaf(rng, 4, 5, scale=2.0)])


def test_dropout_gradcheck_fixed_seed(rng):
    x = leaf(rng, 4, 6)
    assert gradcheck(lambda x: F.dropout(x, 0.4, np.random.default_rng(3)), [x])


@pytest.mark.parametrize("with_mask", [False, True])
def test_cross_entropy_gradcheck(rng, ops, with_mask):
    logits = leaf(rng, 2, 4, 7, scale=2.0)
    targets = rng.integers(0, 7, size=(2, 4))
    mask = np.array([[0, 1, 1, 0], [1, 1, 0, 0]]) if with_mask else None
    assert gradcheck(lambda z: ops.cross_entropy(z, targets, mask), [logits])


def test_attention_gradcheck_with_cache_padding_and_dropout(rng, ops):
    q, k, v = leaf(rng, 2, 2, 5, 3), leaf(rng, 2, 2, 5, 3), leaf(rng, 2, 2, 5, 3)
    assert gradcheck(ops.causal_self_attention, [q, k, v])
    key_mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=bool)  # left padding in row 0
    assert gradcheck(lambda q, k, v: ops.causal_self_attention(q, k, v, key_mask), [q, k, v])
    assert gradcheck(lambda q, k, v: ops.causal_self_attention(q, k, v, None, 0.3, np.random.default_rng(5)), [q, k, v])
    k, v = leaf(rng, 2, 2, 7, 3), leaf(rng, 2, 2, 7, 3)  # 2 cached keys: query i sits at position i + 2
    assert gradcheck(ops.causal_self_attention, [q, k, v])


# -- fused == composed from primitives ----------------------------------------------------


def test_softmax_matches_primitive_composition(rng, ops):
    x = leaf(rng, 3, 8, scale=4.0)
    e = (x - Tensor(x.data.max(axis=-1, keepdims=True))).exp()
    composed = e / e.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(ops.softmax(x).data, composed.data, rtol=1e-14)
    np.testing.assert_allclose(F.log_softmax(x).data, np.log(composed.data), rtol=1e-13, atol=1e-14)


def test_layer_norm_matches_primitive_composition(rng, ops):
    x, w, b = leaf(rng, 4, 6), leaf(rng, 6), leaf(rng, 6)
    xc = x - x.mean(axis=-1, keepdims=True)
    composed = xc / ((xc * xc).mean(axis=-1, keepdims=True) + 1e-5) ** 0.5 * w + b
    fused = ops.layer_norm(x, w, b, 1e-5)
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12)
    g = rng.standard_normal(fused.shape)
    fused.backward(g)
    fused_grads = [t.grad.copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    composed.backward(g)
    for fg, t in zip(fused_grads, (x, w, b)):
        np.testing.assert_allclose(fg, t.grad, rtol=1e-10, atol=1e-12)


def composed_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q kᵀ/√hs + M) v from primitive ops (matmul, masked_fill) and the softmax op."""
    T, hs = q.shape[-2], q.shape[-1]
    att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hs))  # (B, nh, T, T); the constant takes q's dtype
    att = att.masked_fill(F.causal_mask(T), -np.inf)
    return F.softmax(att) @ v  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, nh, T, hs)


def test_attention_matches_primitive_composition_values_and_grads(rng, ops):
    q, k, v = leaf(rng, 2, 3, 7, 4), leaf(rng, 2, 3, 7, 4), leaf(rng, 2, 3, 7, 4)
    g = rng.standard_normal((2, 3, 7, 4))
    results = []
    for f in (ops.causal_self_attention, composed_attention):
        for t in (q, k, v):
            t.grad = None
        y = f(q, k, v)
        y.backward(g)
        results.append([y.data] + [t.grad.copy() for t in (q, k, v)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_cross_entropy_matches_log_softmax_pick(rng, ops):
    logits = leaf(rng, 5, 9, scale=3.0)
    t = rng.integers(0, 9, 5)
    mask = np.array([1, 0, 1, 1, 0])
    ls = F.log_softmax(logits).data
    expected = -(ls[np.arange(5), t] * mask).sum() / mask.sum()
    assert ops.cross_entropy(logits, t, mask).item() == pytest.approx(expected, rel=1e-13)


def test_cross_entropy_uniform_logits_is_log_v(rng):
    z = Tensor(np.zeros((3, 50)))
    assert F.cross_entropy(z, np.array([0, 7, 49])).item() == pytest.approx(math.log(50), rel=1e-6)


def test_cross_entropy_is_stable_for_huge_logits(ops):
    z = Tensor(np.array([[1e4, 0.0, -1e4]], dtype=np.float32), requires_grad=True)
    loss = ops.cross_entropy(z, np.array([2]))
    assert loss.item() == pytest.approx(2e4, rel=1e-6)  # finite, not inf
    loss.backward()
    np.testing.assert_allclose(z.grad, [[1.0, 0.0, -1.0]], atol=1e-6)


def test_cross_entropy_empty_mask_is_an_error(ops):
    with pytest.raises(ValueError, match="no tokens"):
        ops.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 1]), np.array([0, 0]))


# -- closed-form properties ------------------------------------------------------------------


def test_softmax_rows_sum_to_one_and_fully_masked_rows_are_zero(rng, ops):
    x = rng.standard_normal((4, 6)) * 30
    x[2] = -np.inf  # a fully masked row
    x[3, :3] = -np.inf
    y = ops.softmax(Tensor(x)).data
    assert not np.isnan(y).any()
    np.testing.assert_allclose(y[[0, 1, 3]].sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(y[2], 0.0)
    np.testing.assert_array_equal(y[3, :3], 0.0)


def test_attention_fully_masked_query_rows_give_zeros_not_nan(rng, ops):
    q = Tensor(rng.standard_normal((1, 1, 4, 2)))
    key_mask = np.array([[0, 0, 1, 1]], dtype=bool)  # positions 0, 1 are padding
    y = ops.causal_self_attention(q, q, q, key_mask).data
    assert not np.isnan(y).any()
    np.testing.assert_array_equal(y[0, 0, :2], 0.0)  # padded queries see nothing


def test_layer_norm_output_has_mean_zero_variance_one(rng, ops):
    x = Tensor(rng.standard_normal((5, 64)) * 7 + 3)
    y = ops.layer_norm(x, Tensor(np.ones(64)), Tensor(np.zeros(64)), eps=0.0).data
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-12)


def test_gelu_matches_the_tanh_formula_and_limits(ops):
    xs = np.array([-6.0, -1.5, -0.1, 0.0, 0.3, 1.0, 4.0])
    y = ops.gelu(Tensor(xs)).data
    expected = [0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))) for x in xs]
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-300)
    # the tanh form stays within 1e-3 of the exact GELU x·Φ(x)
    exact = [x * 0.5 * (1 + math.erf(x / math.sqrt(2))) for x in xs]
    np.testing.assert_allclose(y, exact, atol=1e-3)


def test_dropout_scaling_seeding_and_eval(rng):
    x = Tensor(np.ones((200, 500)))
    y1 = F.dropout(x, 0.25, np.random.default_rng(11)).data
    y2 = F.dropout(x, 0.25, np.random.default_rng(11)).data
    np.testing.assert_array_equal(y1, y2)  # same seed, same mask
    assert set(np.unique(y1)) == {0.0, 1.0 / 0.75}
    kept = (y1 > 0).mean()  # Binomial(1e5, 0.75): std of the mean = √(0.75·0.25/1e5) ≈ 0.0014
    assert abs(kept - 0.75) < 5 * 0.0014
    assert F.dropout(x, 0.25, None, training=False) is x
    assert F.dropout(x, 0.0, None) is x


def test_attention_is_causal(rng, ops):
    q, k, v = (Tensor(rng.standard_normal((1, 2, 6, 4))) for _ in range(3))
    y = ops.causal_self_attention(q, k, v).data
    v2 = v.data.copy()
    v2[:, :, 4:] += 10.0  # change the future
    k2 = k.data.copy()
    k2[:, :, 4:] -= 3.0
    y2 = ops.causal_self_attention(q, Tensor(k2), Tensor(v2)).data
    np.testing.assert_array_equal(y[:, :, :4], y2[:, :, :4])


def test_attention_flops_per_sub_scope(rng, ops):
    B, nh, T, hs = 2, 3, 5, 4
    q, k, v = (Tensor(rng.standard_normal((B, nh, T, hs)), requires_grad=True) for _ in range(3))
    with count_flops() as c:
        y = ops.causal_self_attention(q, k, v)
        y.backward(np.ones(y.shape, dtype=y.dtype))
    mm = 2 * B * nh * T * T * hs  # Hoffmann et al. App. F: 2·S·S·(h·d_head) per sequence
    assert c.total(scope="logits", kind="matmul", phase="forward") == mm
    assert c.total(scope="values", kind="matmul", phase="forward") == mm
    assert c.total(scope="logits", kind="matmul") == 3 * mm  # dq and dk in backward
    assert c.total(scope="values", kind="matmul") == 3 * mm  # dv and dP in backward
    assert c.total(scope="softmax", kind="softmax", phase="forward") == 4 * B * nh * T * T  # x - max, exp, sum, divide
    # backward: dP - D and ·P per score (2), and D = g · y: a product and an add per element of g (2)
    assert c.total(scope="softmax", kind="softmax", phase="backward") == 2 * B * nh * T * T + 2 * B * nh * T * hs
    assert c.total(scope="scale") == 2 * B * nh * T * hs  # q/√hs forward, dq/√hs backward


def test_cross_entropy_backward_twice_accumulates(rng, ops):
    logits = leaf(rng, 4, 6)
    loss = ops.cross_entropy(logits, np.array([0, 5, 2, 2]))
    loss.backward()
    first = logits.grad.copy()
    loss.backward()  # the engine's rule: a second backward adds the same gradient again
    np.testing.assert_allclose(logits.grad, 2 * first, rtol=1e-15)
