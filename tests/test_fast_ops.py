"""Every speed-layer kernel against its readable twin in the maths layer.

Bit-identical where both compute the same operations in the same order: the linear layer
(but for the tied output layer's transposed weight gradient), the cross-entropy forward
and the GELU forward. Elsewhere the speed layer sums in another order (einsum row sums,
blocked attention) or groups the arithmetic differently (folded AdamW constants, the
factored GELU derivative), so results differ by rounding only.
Stated tolerances: in float64, relative 1e-12 (rounding is ~1e-16 per operation; a wrong
term or factor shows at 1e-3 or more); in float32, what training runs, relative 1e-5
(plus an absolute 1e-6 for values near 0), about a hundred float32 ulps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from mediswift_np import functional as F
from mediswift_np import sparse
from mediswift_np.autograd import Tensor, count_flops
from mediswift_np.config import GPTConfig
from mediswift_np.fast import attention, kernels
from mediswift_np.fast import ops as fast
from mediswift_np.model import GPT
from mediswift_np.optim import AdamW, AdamWConfig, adamw_update

TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
DTYPES = [np.float64, np.float32]


def run(op, arrays, *args, dtype, seed=0, **kwargs) -> list[np.ndarray]:
    """op's output and the gradients of every input, for a random upstream gradient."""
    inputs = [Tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    y = op(*inputs, *args, **kwargs)
    y.backward(np.random.default_rng(seed).standard_normal(y.shape).astype(dtype))
    return [y.data] + [t.grad for t in inputs]


def assert_twins(maths, speed, dtype, exact=False):
    for a, b in zip(maths, speed, strict=True):
        assert a.dtype == b.dtype == dtype
        if exact:
            assert np.array_equal(a, b)
        else:
            np.testing.assert_allclose(b, a, **TOLERANCE[dtype])


@pytest.fixture
def rng():
    return np.random.default_rng(3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_is_bit_identical_and_the_transposed_weight_gradient_agrees(rng, dtype):
    x, w, b = rng.standard_normal((2, 5, 6)), rng.standard_normal((6, 7)), rng.standard_normal(7)
    assert_twins(run(F.linear, [x, w, b], dtype=dtype), run(fast.linear, [x, w, b], dtype=dtype), dtype, exact=True)
    table = rng.standard_normal((7, 6))  # the tied output layer multiplies by wteᵀ, a transposed view
    tied = [lambda x, t: op(x, t.transpose()) for op in (F.linear, fast.linear)]
    maths, speed = (run(op, [x, table], dtype=dtype) for op in tied)
    assert np.array_equal(maths[0], speed[0]) and np.array_equal(maths[1], speed[1])  # y and dx: the same products
    np.testing.assert_allclose(speed[2], maths[2], **TOLERANCE[dtype])  # d table: (gᵀ x)ᵀ instead of xᵀ g


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax(rng, dtype):
    x = rng.standard_normal((3, 4, 9)) * 4
    assert_twins(run(F.softmax, [x], dtype=dtype), run(fast.softmax, [x], dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_forward_is_bit_identical(rng, dtype):
    z, t = rng.standard_normal((3, 5, 11)) * 3, rng.integers(0, 11, (3, 5))
    mask = rng.integers(0, 2, (3, 5))
    maths, speed = (run(op, [z], t, mask, dtype=dtype) for op in (F.cross_entropy, fast.cross_entropy))
    assert np.array_equal(maths[0], speed[0])  # shift, exp, row sum, log, gather: the same operations in order
    np.testing.assert_allclose(speed[1], maths[1], **TOLERANCE[dtype])  # (p - onehot)·w vs p·w - w


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm(rng, dtype):
    x, w, b = rng.standard_normal((2, 6, 16)) * 3 + 1, rng.standard_normal(16), rng.standard_normal(16)
    assert_twins(run(F.layer_norm, [x, w, b], dtype=dtype), run(fast.layer_norm, [x, w, b], dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_forward_is_bit_identical(rng, dtype):
    x = rng.standard_normal((4, 33)) * 3
    maths, speed = run(F.gelu, [x], dtype=dtype), run(fast.gelu, [x], dtype=dtype)
    assert np.array_equal(maths[0], speed[0])  # x·x·x, ·a, + x, ·c, tanh, + 1, ·x, ·½ (exact), in order
    np.testing.assert_allclose(speed[1], maths[1], **TOLERANCE[dtype])  # the derivative, grouped differently


def test_causal_blocks_cover_exactly_the_keys_each_query_may_see(monkeypatch):
    assert attention.causal_blocks(256, 256) == [(0, 128, 128), (128, 256, 256)]
    monkeypatch.setattr(attention, "QUERY_BLOCK", 2)
    assert attention.causal_blocks(3, 5) == [(0, 2, 4), (2, 3, 5)]  # 2 cached keys: row r sees keys 0..r+2
    for T, Tk in [(7, 7), (3, 5), (1, 6)]:
        allowed = ~F.causal_mask(T, Tk)
        for i, j, e in attention.causal_blocks(T, Tk):
            assert allowed[i:j, :e].any(axis=0).all() and not allowed[i:j, e:].any()  # every key left of e is needed, none right


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("block", [1, 2, 3, attention.QUERY_BLOCK])
def test_attention_in_query_blocks_with_cache_padding_and_dropout(rng, monkeypatch, dtype, block):
    monkeypatch.setattr(attention, "QUERY_BLOCK", block)  # 5 queries in blocks of 1, 2 or 3, or one block
    q, k, v = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 7, 4)), rng.standard_normal((2, 3, 7, 4))
    key_mask = np.array([[0, 0, 0, 1, 1, 1, 1], [1] * 7], dtype=bool)  # left padding in row 0; 2 cached keys
    for args in [(), (key_mask,), (None, 0.3)]:
        maths, speed = (run(op, [q, k, v], *args, dtype=dtype, rng=np.random.default_rng(5))  # the same dropout draws
                        for op in (F.causal_self_attention, fast.causal_self_attention))  # fmt: skip
        assert_twins(maths, speed, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_update_over_steps(rng, dtype):
    theta, m, v = rng.standard_normal((6, 5)).astype(dtype), np.zeros((6, 5), dtype), np.zeros((6, 5), dtype)
    twins = [[a.copy() for a in (theta, m, v)] for _ in range(2)]
    for t in range(1, 6):
        g = rng.standard_normal((6, 5)).astype(dtype)
        for update, state in zip((adamw_update, fast.adamw_update), twins):
            update(*state[:1], g, *state[1:], t=t, lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    for a, b in zip(*twins):
        np.testing.assert_allclose(b, a, **TOLERANCE[dtype])
    assert not np.allclose(twins[0][0], theta)  # θ did move


@pytest.mark.parametrize("shape", [(5,), (3, 7), (2, 4, 128)])
def test_row_sum_and_row_dot_agree_with_numpy_reductions(rng, shape):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    np.testing.assert_allclose(kernels._row_sum(a), a.sum(axis=-1, keepdims=True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kernels._row_mean(a), a.mean(axis=-1, keepdims=True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kernels._row_dot(a, b), (a * b).sum(axis=-1, keepdims=True), rtol=1e-12, atol=1e-12)


CFG = GPTConfig(vocab_size=40, n_ctx=16, n_layer=2, n_embd=16, n_head=2)


@pytest.mark.parametrize("sparsity, backend", [(0.0, "dense"), (0.75, "dense"), (0.75, "scipy")])
def test_both_layers_count_the_same_flops(sparsity, backend):
    """Counted (sparse-equivalent) and executed FLOPs of a training step do not depend on the layer."""
    x = np.random.default_rng(1).integers(0, CFG.vocab_size, (3, 16))
    counters = []
    for fast_layer in (False, True):
        model = GPT(CFG, seed=0, fast=fast_layer)
        if sparsity:
            sparse.sparsify(model, sparsity, np.random.default_rng(2))
        with sparse.use_backend(backend), count_flops() as c:
            model(x, np.roll(x, -1, 1))[1].backward()
        counters.append(c)
    assert dict(counters[0].counts) == dict(counters[1].counts)
    assert dict(counters[0].executed) == dict(counters[1].executed)


def test_both_layers_train_the_same_float64_model():
    """Ten AdamW steps of a sparse model in float64: the weights of the two layers agree to 1e-10."""
    runs = []
    for fast_layer in (False, True):
        model = GPT(CFG, seed=1, fast=fast_layer).to_dtype(np.float64)
        sparse.sparsify(model, 0.5, np.random.default_rng(5))
        opt = AdamW(model.named_parameters(), AdamWConfig(lr=1e-2), fast=fast_layer)
        data = np.random.default_rng(6)
        for _ in range(10):
            x = data.integers(0, CFG.vocab_size, (2, 16))
            opt.zero_grad()
            model(x, np.roll(x, -1, 1))[1].backward()
            opt.clip_grad_norm()
            opt.step(1e-2)
        runs.append(model.state_dict())
    for name in runs[0]:
        np.testing.assert_allclose(runs[1][name], runs[0][name], rtol=1e-10, atol=1e-12, err_msg=name)


def speed_layer_imports(tree: ast.AST) -> list[ast.ImportFrom]:
    """The relative imports of the speed layer (``from .fast import ...``, ``from . import fast``) in a syntax tree."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level
            and ("fast" in (node.module or "").split(".") or any(a.name == "fast" for a in node.names))]  # fmt: skip


def test_the_maths_layer_imports_the_speed_layer_in_one_place_only():
    """Imports flow one way: fast/ imports the maths layer; of the maths layer only nn.kernels
    imports fast/, inside the function, so importing the maths layer loads no speed-layer module."""
    package = Path(F.__file__).resolve().parents[1]
    maths = [package / name for name in ("nn.py", "model.py", "optim.py")]
    maths += [*(package / "functional").glob("*.py"), *(package / "sparse").glob("*.py"), *(package / "autograd").glob("*.py")]
    trees = {path.name: ast.parse(path.read_text()) for path in maths}
    assert [name for name, tree in trees.items() for _ in speed_layer_imports(tree)] == ["nn.py"]
    kernels_function = next(n for n in trees["nn.py"].body if isinstance(n, ast.FunctionDef) and n.name == "kernels")
    assert speed_layer_imports(kernels_function)  # the one import sits inside nn.kernels
