"""The speed layer's pool: rows() visits every row exactly once, and every kernel that runs
through it is bit-identical to one call on the whole array (the same ufuncs in the same
order on each element), at any thread count."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mediswift_np.autograd import Tensor
from mediswift_np.fast import adamw, attention, kernels, ops
from mediswift_np.fast import pool


@pytest.fixture
def split_small(monkeypatch):
    """Split even small test arrays, into blocks of a few rows, on 3 threads."""
    monkeypatch.setattr(pool, "MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(pool, "BLOCK_BYTES", 256)
    monkeypatch.setenv("MEDISWIFT_NUM_THREADS", "3")


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_row_blocks_worked_example_and_partition():
    assert pool.row_blocks(5, 256 * 1024) == [(0, 2), (2, 4), (4, 5)]
    for n, row_bytes in [(1, 4), (7, 100), (1000, 4096), (5, 10**9)]:
        blocks = pool.row_blocks(n, row_bytes)
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(blocks, blocks[1:]))  # no gaps, no overlap


def test_num_threads_env_override(monkeypatch):
    monkeypatch.setenv("MEDISWIFT_NUM_THREADS", "3")
    assert pool.num_threads() == 3
    monkeypatch.setenv("MEDISWIFT_NUM_THREADS", "0")
    assert pool.num_threads() == 1
    monkeypatch.delenv("MEDISWIFT_NUM_THREADS")
    assert pool.num_threads() >= 1


def test_rows_visits_every_row_once_on_several_threads(split_small, monkeypatch):
    monkeypatch.setattr(pool, "BLOCK_BYTES", 16)  # 2 rows of int64 per block: 25 blocks
    seen, names = np.zeros(50, dtype=np.int64), set()

    def mark(idx, out, offset):
        names.add(threading.current_thread().name)
        out += idx + offset  # each block writes only its own rows
        time.sleep(0.002)  # releases the GIL, like a ufunc: the other threads take blocks meanwhile

    idx = np.arange(50)
    pool.rows(mark, idx, seen, offset=1)
    np.testing.assert_array_equal(seen, np.arange(50) + 1)
    assert len(names) >= 2


def test_small_arrays_run_as_one_call(monkeypatch):
    monkeypatch.setenv("MEDISWIFT_NUM_THREADS", "4")
    calls = []
    pool.rows(lambda x: calls.append(x.shape), np.zeros((10, 10)))
    assert calls == [(10, 10)]


def test_rows_checks_shapes_and_reraises_worker_errors(split_small):
    with pytest.raises(ValueError, match="first dimension"):
        pool.rows(lambda a, b: None, np.zeros((4, 2)), np.zeros((5, 2)))

    def fail_on_late_rows(x):
        if x[0, 0] >= 30:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pool.rows(fail_on_late_rows, np.arange(80.0).reshape(40, 2))


def _blocked_sum_in_child(queue):
    x = np.arange(40.0).reshape(20, 2)
    y = np.empty_like(x)
    pool.rows(np.multiply, x, x, y)  # np.multiply(x_block, x_block, y_block)
    queue.put(float(y.sum()))


def test_rows_works_in_a_forked_child(split_small):
    mp = pytest.importorskip("multiprocessing")
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    pool.rows(lambda x: None, np.zeros((20, 2)))  # the parent's pool exists before the fork
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_blocked_sum_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == float((np.arange(40.0) ** 2).sum())


# -- every user of rows(): threaded == one call on the whole array, bit for bit ------------


def _both(fn, inputs, outputs, shared, monkeypatch):
    """Outputs of fn on the whole arrays, and of pool.rows(fn) on blocks, 3 threads."""
    whole = [np.full_like(o, np.nan) for o in outputs]
    fn(*inputs, *whole, **shared)
    blocked = [np.full_like(o, np.nan) for o in outputs]
    monkeypatch.setattr(pool, "MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(pool, "BLOCK_BYTES", 512)
    monkeypatch.setenv("MEDISWIFT_NUM_THREADS", "3")
    pool.rows(fn, *inputs, *blocked, **shared)
    return whole, blocked


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_functions_bit_identical_when_threaded(rng, monkeypatch, dtype):
    N, C, V = 37, 24, 19
    x = rng.standard_normal((N, C)).astype(dtype) * 3
    g = rng.standard_normal((N, C)).astype(dtype)
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    y = np.empty_like(x)
    kernels._softmax_rows(x, y)
    t = np.tanh(x)
    z, tgt = rng.standard_normal((N, V)).astype(dtype) * 4, rng.integers(0, V, N)
    p = np.empty_like(z)
    kernels._cross_entropy_rows(z, tgt, p, np.empty(N, dtype))
    xhat, rstd = np.empty_like(x), np.empty((N, 1), dtype)
    kernels._layer_norm_rows(x, xhat, rstd, np.empty_like(x), weight=w, bias=b, eps=1e-5)
    cases = [  # (function, inputs, outputs, shared)
        (kernels._softmax_rows, [x], [np.empty_like(x)], {}),
        (kernels._softmax_backward_rows, [y, g], [np.empty_like(x)], {}),
        (kernels._gelu_rows, [x], [np.empty_like(x), np.empty_like(x)], {}),
        (kernels._gelu_backward_rows, [x, t, g], [np.empty_like(x)], {}),
        (kernels._layer_norm_rows, [x], [np.empty_like(x), np.empty((N, 1), dtype), np.empty_like(x)], dict(weight=w, bias=b, eps=1e-5)),
        (kernels._layer_norm_backward_rows, [g, xhat, rstd], [np.empty_like(x)], dict(weight=w)),
        (kernels._cross_entropy_rows, [z, tgt], [np.empty_like(z), np.empty(N, dtype)], {}),
        (kernels._cross_entropy_backward_rows, [p, tgt, rng.random(N).astype(dtype)], [np.empty_like(z)], {}),
    ]
    for fn, inputs, outputs, shared in cases:
        whole, blocked = _both(fn, inputs, outputs, shared, monkeypatch)
        for a, c in zip(whole, blocked):
            assert np.array_equal(a, c), fn.__name__


def _attention(qs, k, v, blocked, *rest):  # rest: (p, y) or (keep, p, y, P ⊙ keep): inputs first, outputs last
    if len(rest) == 2:
        attention._attention_rows(qs, k, v, blocked, *rest)
    else:
        keep, p, y, pd = rest
        attention._attention_rows(qs, k, v, blocked, p, y, keep, pd)


def _attention_backward(g, qs, k, v, p, pd, y, *rest, scale):  # rest: [keep,] dq, dk, dv
    *keep, dq, dk, dv = rest
    attention._attention_backward_rows(g, qs, k, v, p, pd, y, dq, dk, dv, *keep, scale=scale)


@pytest.mark.parametrize("dropout", [False, True])
def test_attention_block_functions_bit_identical_when_threaded(rng, monkeypatch, dropout):
    monkeypatch.setattr(attention, "QUERY_BLOCK", 4)  # query blocks 0:4, 4:8, 8:9: the skipped scores stay NaN
    H, T, hs = 12, 9, 4  # heads (B·nh), time, head size
    qs, k, v, g = (rng.standard_normal((H, T, hs)).astype(np.float32) for _ in range(4))
    blocked = np.broadcast_to(np.triu(np.ones((T, T), bool), 1), (H, T, T))
    keep = [(rng.random((H, T, T)) > 0.3).astype(np.float32) / np.float32(0.7)] if dropout else []
    scores = lambda: np.empty((H, T, T), np.float32)  # noqa: E731
    outputs = [scores(), np.empty_like(qs)] + ([scores()] if dropout else [])  # p, y [, P ⊙ keep]
    whole, threaded = _both(_attention, [qs, k, v, blocked, *keep], outputs, {}, monkeypatch)
    for a, c in zip(whole, threaded):
        assert np.array_equal(a, c, equal_nan=True)
    assert np.isnan(whole[0]).sum() == H * (4 * 5 + 4 * 1)  # never computed: keys 4:9 of rows 0:4, 8:9 of rows 4:8
    p, y, pd = whole[0], whole[1], whole[-1] if dropout else whole[0]
    grads = [np.empty_like(qs) for _ in range(3)]  # dq, dk, dv
    whole, threaded = _both(_attention_backward, [g, qs, k, v, p, pd, y, *keep], grads, dict(scale=np.float32(0.5)), monkeypatch)
    for a, c in zip(whole, threaded):
        assert np.array_equal(a, c) and np.isfinite(a).all()  # finite: backward never read a skipped (NaN) score


def _op_outputs(threads: str, monkeypatch, rng_seed: int = 5):
    """Forward values and gradients of every speed-layer op, float32, at a given thread setting."""
    monkeypatch.setenv("MEDISWIFT_NUM_THREADS", threads)
    rng = np.random.default_rng(rng_seed)
    B, nh, T, hs, C, V = 2, 3, 16, 8, 24, 50
    leaf = lambda *s: Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)  # noqa: E731
    x, w, b = leaf(B, T, C), leaf(C), leaf(C)
    q, k, v = leaf(B, nh, T, hs), leaf(B, nh, T, hs), leaf(B, nh, T, hs)
    z, tgt = leaf(B, T, V), rng.integers(0, V, (B, T))
    key_mask = np.ones((B, T), bool)
    key_mask[1, :3] = False
    outs = [
        ops.gelu(x),
        ops.layer_norm(x, w, b),
        ops.softmax(x),
        ops.causal_self_attention(q, k, v),
        ops.causal_self_attention(q, k, v, key_mask),
        ops.cross_entropy(z, tgt),
    ]
    values = []
    for o in outs:
        o.backward(np.asarray(rng.standard_normal(o.shape), dtype=np.float32))
        values.append(o.data.copy())
    return values + [t.grad for t in (x, w, b, q, k, v, z)]


def test_speed_layer_ops_bit_identical_on_one_and_many_threads(monkeypatch):
    monkeypatch.setattr(pool, "MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(pool, "BLOCK_BYTES", 512)
    one = _op_outputs("1", monkeypatch)
    many = _op_outputs("4", monkeypatch)
    for a, c in zip(one, many):
        assert np.array_equal(a, c)


def test_adamw_update_bit_identical_when_threaded(rng, monkeypatch):
    _adamw_update = adamw._adamw_update_rows
    f = np.float32
    consts = dict(beta1=f(0.9), beta2=f(0.95), one_minus_beta1=f(0.1), one_minus_beta2=f(0.05), decay=f(1 - 2e-4 * 0.1), bc2=f(0.0975), eps=f(1e-8), lr_over_bc1=f(2e-3))
    theta, g, m, v = (rng.standard_normal((37, 24)).astype(f) for _ in range(4))
    v = np.abs(v)
    whole = [a.copy() for a in (theta, g, m, v)]
    _adamw_update(*whole, **consts)
    threaded = [a.copy() for a in (theta, g, m, v)]
    monkeypatch.setattr(pool, "MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(pool, "BLOCK_BYTES", 512)  # 5 rows of 24 float32 per block: 8 blocks
    monkeypatch.setenv("MEDISWIFT_NUM_THREADS", "3")
    pool.rows(_adamw_update, *threaded, **consts)
    for a, b in zip(whole, threaded):
        assert np.array_equal(a, b)
    assert not np.array_equal(whole[0], theta)  # the update did move θ
