"""The autograd engine: every primitive op against central finite differences (float64),
gradient accumulation on reused nodes, the backward-twice rule, no_grad, dtypes, and
FLOP counting."""

from __future__ import annotations

import numpy as np
import pytest

from mediswift_np.autograd import Tensor, concat, count_flops, embedding, flop_scope, gradcheck, masked_fill, no_grad


def leaf(rng, *shape, positive=False):
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return Tensor(a, requires_grad=True, dtype=np.float64)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# -- every op passes gradcheck ---------------------------------------------------------

BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 1), (4,)), ((2, 3, 4), (1, 4)), ((4,), (2, 3, 4))]


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_broadcasting_binary_ops(rng, op, sa, sb):
    a, b = leaf(rng, *sa), leaf(rng, *sb, positive=(op == "div"))
    f = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b}[op]
    assert gradcheck(f, [a, b])


def test_scalar_operands_and_reflected_ops(rng):
    a = leaf(rng, 2, 3, positive=True)
    assert gradcheck(lambda a: 2.0 * a - 1.0 + 3.0 / a - a / 4.0 + (1.0 - a), [a])


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_batched_and_broadcast(rng, sa, sb):
    assert gradcheck(lambda a, b: a @ b, [leaf(rng, *sa), leaf(rng, *sb)])


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "neg", "pow2", "pow_half", "pow_neg"])
def test_unary_ops(rng, name):
    a = leaf(rng, 3, 4, positive=name in ("log", "pow_half", "pow_neg"))
    f = {
        "exp": lambda a: a.exp(),
        "log": lambda a: a.log(),
        "tanh": lambda a: a.tanh(),
        "neg": lambda a: -a,
        "pow2": lambda a: a**2,
        "pow_half": lambda a: a**0.5,
        "pow_neg": lambda a: a**-1.5,
    }[name]
    assert gradcheck(f, [a])


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (-1, True), ((0, 2), False), (1, True)])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_reductions(rng, op, axis, keepdims):
    a = leaf(rng, 2, 3, 4)
    assert gradcheck(lambda a: getattr(a, op)(axis=axis, keepdims=keepdims), [a])


def test_reshape_transpose_permute(rng):
    a = leaf(rng, 2, 3, 4)
    assert gradcheck(lambda a: a.reshape(6, 4), [a])
    assert gradcheck(lambda a: a.reshape((4, 6)).transpose(), [a])
    assert gradcheck(lambda a: a.transpose(-1, -2), [a])
    assert gradcheck(lambda a: a.permute(2, 0, 1) * Tensor(np.arange(24.0).reshape(4, 2, 3)), [a])


def test_indexing_basic_and_advanced(rng):
    a = leaf(rng, 4, 5)
    assert gradcheck(lambda a: a[1:3, ::2], [a])
    assert gradcheck(lambda a: a[2], [a])
    # advanced indexing with a repeated row: its gradient must be the sum of both uses
    assert gradcheck(lambda a: a[np.array([0, 2, 0, 3])], [a])


def test_embedding_repeated_ids_add(rng):
    w = leaf(rng, 6, 3)
    ids = np.array([[1, 4, 1], [1, 0, 5]])
    assert gradcheck(lambda w: embedding(w, ids), [w])
    w.grad = None  # gradcheck leaves its own gradient behind
    out = embedding(w, ids)
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(w.grad[1], [3.0, 3.0, 3.0])  # id 1 appears three times
    np.testing.assert_array_equal(w.grad[2], [0.0, 0.0, 0.0])  # id 2 never appears


def test_concat(rng):
    a, b, c = leaf(rng, 2, 3), leaf(rng, 4, 3), leaf(rng, 1, 3)
    assert gradcheck(lambda a, b, c: concat([a, b, c], axis=0), [a, b, c])
    x, y = leaf(rng, 2, 3, 1), leaf(rng, 2, 3, 2)
    assert gradcheck(lambda x, y: concat([x, y], axis=-1), [x, y])


def test_masked_fill(rng):
    a = leaf(rng, 3, 4)
    mask = np.array([[True, False, False, True]])
    assert gradcheck(lambda a: masked_fill(a, mask, 7.0) * a, [a])
    out = masked_fill(a, mask, -5.0)
    assert np.all(out.data[:, 0] == -5.0) and np.all(out.data[:, 1] == a.data[:, 1])


def test_composite_expression(rng):
    a, b = leaf(rng, 3, 4), leaf(rng, 4, 2)
    assert gradcheck(lambda a, b: ((a @ b).tanh() * 3.0 + (a.exp().mean(axis=1, keepdims=True))).sum(axis=0), [a, b])


# -- graph semantics ---------------------------------------------------------------------


def test_reused_node_accumulates(rng):
    a = leaf(rng, 3)
    (a + a).backward(np.ones(3))
    np.testing.assert_array_equal(a.grad, 2.0 * np.ones(3))  # d(a+a)/da = 2
    a.grad = None
    (a * a).backward(np.ones(3))
    np.testing.assert_array_equal(a.grad, 2.0 * a.data)  # d(a²)/da = 2a
    a.grad = None
    b = a * 3.0
    (b * b + b).backward(np.ones(3))  # d(9a² + 3a)/da = 18a + 3
    np.testing.assert_allclose(a.grad, 18.0 * a.data + 3.0, rtol=1e-14)


def test_backward_twice_accumulates_leaves_exactly_twice(rng):
    a, b = leaf(rng, 2, 3), leaf(rng, 3)
    y = ((a * b).tanh()).sum()
    y.backward()
    first = a.grad.copy()
    y.backward()  # the graph is kept; leaves accumulate; intermediates start fresh
    np.testing.assert_allclose(a.grad, 2 * first, rtol=1e-15)
    a.grad = None  # zeroing rule: set .grad to None (Module.zero_grad does this)
    y.backward()
    np.testing.assert_allclose(a.grad, first, rtol=1e-15)


def test_intermediate_grads_freed_unless_retained(rng):
    a = leaf(rng, 3)
    h = a * 2.0
    k = (a * 3.0).retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, 2.0 * a.data)  # d(h·k)/dk = h


def test_no_grad_records_nothing(rng):
    a = leaf(rng, 3)
    with no_grad():
        y = (a * a).sum()
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(RuntimeError):
        y.backward()


def test_dtypes_preserved():
    a32 = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    y = (a32 * 2.0 + 1.0).exp().sum()
    assert y.dtype == np.float32
    y.backward()
    assert a32.grad.dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32  # Python floats default to float32
    a64 = Tensor(np.ones(2), requires_grad=True)
    assert (a64 * 3.0).dtype == np.float64
    with pytest.raises(TypeError):
        Tensor(np.arange(3), requires_grad=True)


def test_backward_needs_scalar_or_gradient(rng):
    a = leaf(rng, 3)
    with pytest.raises(RuntimeError):
        (a * 2.0).backward()
    with pytest.raises(ValueError):
        (a * 2.0).backward(np.ones(4))


def test_gradcheck_catches_a_wrong_backward(rng):
    from mediswift_np.autograd import Function

    class BadSquare(Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return (g * self.x,)  # missing the factor 2

    with pytest.raises(AssertionError, match="wrong"):
        gradcheck(lambda x: BadSquare.apply(x), [leaf(rng, 3)])


# -- FLOP counting -------------------------------------------------------------------------


def test_matmul_flops_forward_and_backward():
    a = Tensor(np.ones((3, 5, 7)), requires_grad=True)
    b = Tensor(np.ones((7, 4)), requires_grad=True)
    with count_flops() as c:
        with flop_scope("demo"):
            y = a @ b
        y.backward(np.ones(y.shape))
    assert c.total(kind="matmul", phase="forward") == 2 * 3 * 5 * 4 * 7  # 2·m·n·k per batch matrix
    assert c.total(kind="matmul", phase="backward") == 2 * (2 * 3 * 5 * 4 * 7)  # dA and dB
    assert c.by("scope") == {"demo": c.total()}


def test_backward_counts_only_needed_gradients():
    a = Tensor(np.ones((5, 7)), requires_grad=True)
    b = Tensor(np.ones((7, 4)))  # a constant: no dB product
    with count_flops() as c:
        (a @ b).backward(np.ones((5, 4)))
    assert c.total(kind="matmul", phase="backward") == 2 * 5 * 4 * 7


def test_counting_switches_on_and_off():
    a = Tensor(np.ones((4, 4)))
    with count_flops() as c:
        a @ a
    a @ a  # outside the block: not counted
    with count_flops() as c2:
        pass
    assert c.total() == 2 * 4 * 4 * 4 and c2.total() == 0


def test_elementwise_flop_rules():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    with count_flops() as c:
        y = a * b  # 6 multiplies
        y.backward(np.ones((2, 3)))  # g·b (6), g·a (6), fold 6 -> 3 for b (3 adds)
    assert c.total(phase="forward") == 6
    assert c.total(kind="elementwise", phase="backward") == 12
    assert c.total(kind="reduction", phase="backward") == 3


def test_embedding_with_extra_rows_equals_concatenated_table(rng):
    w, extra = leaf(rng, 5, 3), leaf(rng, 2, 3)
    ids = np.array([[0, 5, 6, 5], [4, 1, 1, 6]])  # 5 and 6 address the extra rows
    assert gradcheck(lambda w, e: embedding(w, ids, e), [w, extra])
    np.testing.assert_array_equal(embedding(w, ids, extra).data, concat([w, extra]).data[ids])
    with pytest.raises(IndexError):
        embedding(w, np.array([[7]]), extra)
