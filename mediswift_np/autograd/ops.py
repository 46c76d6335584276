"""Primitive differentiable ops, each with its forward and backward side by side.

Every backward docstring states the derivative it implements. Broadcasting binary ops
return gradients summed back to each input's shape (``unbroadcast``). The functions at
the bottom of the file attach these ops to ``Tensor`` as operators and methods, so
``a @ b``, ``a * 2``, ``x.sum(-1)``, ``x[idx]`` and ``x.transpose(0, 2, 1, 3)`` all
build the graph.

FLOP counts (see counter.py) are written next to the arithmetic they count.

Does not handle: 1-D matmul operands (use explicit 2-D shapes), integer powers of
negative numbers with fractional exponents, advanced-index assignment.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .engine import Function, Tensor, as_tensor, unbroadcast


class _Broadcasting(Function):
    """Base for binary ops that broadcast: ``reduce`` sums a gradient back to a shape,
    counting one add per element folded away."""

    def reduce(self, g: np.ndarray, shape) -> np.ndarray:
        out = unbroadcast(g, shape)
        self.count(g.size - out.size, "reduction")
        return out


class Add(_Broadcasting):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        out = a + b
        self.count(out.size, "elementwise")  # one add per element
        return out

    def backward(self, g):
        """d(a+b)/da = 1, d(a+b)/db = 1 (then undo broadcasting)."""
        sa, sb = self.shapes
        ga = self.reduce(g, sa) if self.needs_grad[0] else None
        gb = self.reduce(g, sb) if self.needs_grad[1] else None
        return ga, gb


class Sub(_Broadcasting):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        out = a - b
        self.count(out.size, "elementwise")
        return out

    def backward(self, g):
        """d(a-b)/da = 1, d(a-b)/db = -1."""
        sa, sb = self.shapes
        ga = self.reduce(g, sa) if self.needs_grad[0] else None
        gb = -self.reduce(g, sb) if self.needs_grad[1] else None
        self.count(g.size * self.needs_grad[1], "elementwise")  # the negation
        return ga, gb


class Mul(_Broadcasting):
    def forward(self, a, b):
        self.a, self.b = a, b
        out = a * b
        self.count(out.size, "elementwise")
        return out

    def backward(self, g):
        """d(a*b)/da = b, d(a*b)/db = a."""
        ga = self.reduce(g * self.b, self.a.shape) if self.needs_grad[0] else None
        gb = self.reduce(g * self.a, self.b.shape) if self.needs_grad[1] else None
        self.count(g.size * (self.needs_grad[0] + self.needs_grad[1]), "elementwise")
        return ga, gb


class Div(_Broadcasting):
    def forward(self, a, b):
        self.a, self.b = a, b
        out = a / b
        self.count(out.size, "elementwise")
        return out

    def backward(self, g):
        """d(a/b)/da = 1/b, d(a/b)/db = -a/b^2."""
        ga = self.reduce(g / self.b, self.a.shape) if self.needs_grad[0] else None
        gb = self.reduce(-g * self.a / (self.b * self.b), self.b.shape) if self.needs_grad[1] else None
        self.count(g.size * (self.needs_grad[0] + 4 * self.needs_grad[1]), "elementwise")  # g/b ; -g*a/(b*b)
        return ga, gb


class Neg(Function):
    def forward(self, a):
        self.count(a.size, "elementwise")
        return -a

    def backward(self, g):
        """d(-a)/da = -1."""
        self.count(g.size, "elementwise")
        return (-g,)


class Pow(Function):
    def forward(self, a, exponent: float):
        self.a, self.p = a, exponent
        out = a**exponent
        self.count(out.size, "elementwise")
        return out

    def backward(self, g):
        """d(a^p)/da = p * a^(p-1)."""
        self.count(3 * g.size, "elementwise")  # a**(p-1), *p, *g
        return (g * (self.p * self.a ** (self.p - 1)),)


class Exp(Function):
    def forward(self, a):
        self.out = np.exp(a)
        self.count(a.size, "elementwise")
        return self.out

    def backward(self, g):
        """d(e^a)/da = e^a (reuse the forward output)."""
        self.count(g.size, "elementwise")
        return (g * self.out,)


class Log(Function):
    def forward(self, a):
        self.a = a
        self.count(a.size, "elementwise")
        return np.log(a)

    def backward(self, g):
        """d(log a)/da = 1/a."""
        self.count(g.size, "elementwise")
        return (g / self.a,)


class Tanh(Function):
    def forward(self, a):
        self.out = np.tanh(a)
        self.count(a.size, "elementwise")
        return self.out

    def backward(self, g):
        """d(tanh a)/da = 1 - tanh(a)^2."""
        self.count(3 * g.size, "elementwise")  # y*y, 1-, *g
        return (g * (1 - self.out * self.out),)


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        self.count(a.size, "reduction")
        return np.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(self, g):
        """d(sum a)/da_i = 1: broadcast the gradient back over the summed axes."""
        if self.axis is not None and not self.keepdims:
            g = np.expand_dims(g, self.axis)
        return (np.broadcast_to(g, self.shape).copy(),)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        out = np.asarray(a.mean(axis=axis, keepdims=keepdims))
        self.n = a.size // max(out.size, 1)
        self.count(a.size + out.size, "reduction")  # sums, then one divide per output
        return out

    def backward(self, g):
        """d(mean a)/da_i = 1/n for each of the n averaged elements."""
        if self.axis is not None and not self.keepdims:
            g = np.expand_dims(g, self.axis)
        self.count(int(np.prod(self.shape)), "elementwise")
        return (np.broadcast_to(g / np.asarray(self.n, dtype=g.dtype), self.shape).copy(),)


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        """A reshape moves no values: reshape the gradient back."""
        return (g.reshape(self.shape),)


class Permute(Function):
    def forward(self, a, axes):
        self.axes = axes
        return a.transpose(axes)

    def backward(self, g):
        """Undo the permutation with its inverse."""
        return (g.transpose(np.argsort(self.axes)),)


class GetItem(Function):
    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        """Scatter the gradient back to the selected positions; repeated positions add."""
        out = np.zeros(self.shape, dtype=self.dtype)
        if _is_basic_index(self.index):
            out[self.index] = g  # slices/ints select each element at most once
        else:
            np.add.at(out, self.index, g)
            self.count(g.size, "reduction")
        return (out,)


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class Embedding(Function):
    """Row lookup ``weight[ids]`` -- the input embedding (a gather, 0 FLOPs forward).

    With an ``extra`` table of P rows (soft-prompt vectors), ids V..V+P-1 read its rows,
    as if it were appended to ``weight`` -- without copying the (V, C) table each call.
    """

    def forward(self, weight, ids, extra=None):
        self.ids, self.shape = ids, weight.shape
        if extra is None:
            return weight[ids]  # (B, T) ids -> (B, T, C)
        V = weight.shape[0]
        self.virtual, self.extra_shape = ids >= V, extra.shape
        out = np.empty(ids.shape + weight.shape[1:], dtype=weight.dtype)  # (B, T, C)
        out[~self.virtual] = weight[ids[~self.virtual]]
        out[self.virtual] = extra[ids[self.virtual] - V]
        return out

    def backward(self, g):
        """d(weight[ids])/d weight: each id's row receives the sum of its positions' gradients."""
        C = self.shape[1]
        dw = np.zeros(self.shape, dtype=g.dtype)
        self.count(g.size, "scatter_add")
        if len(self.needs_grad) == 2:
            np.add.at(dw, self.ids.reshape(-1), g.reshape(-1, C))  # repeated ids add
            return dw, None
        real = ~self.virtual
        np.add.at(dw, self.ids[real], g[real])
        dextra = np.zeros(self.extra_shape, dtype=g.dtype)
        np.add.at(dextra, self.ids[self.virtual] - self.shape[0], g[self.virtual])
        return dw, None, dextra


class MatMul(Function):
    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError("matmul needs operands with at least 2 dimensions")
        self.a, self.b = a, b
        out = a @ b
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        self.flops = 2 * m * n * k * (out.size // (m * n))  # 2·m·n·k per matrix in the batch
        self.count(self.flops, "matmul")
        return out

    def backward(self, g):
        """For C = A B: dA = G B^T and dB = A^T G (summed over broadcast batch dims)."""
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(g @ np.swapaxes(self.b, -1, -2), self.a.shape)
            self.count(self.flops, "matmul")
        if self.needs_grad[1]:
            gb = unbroadcast(np.swapaxes(self.a, -1, -2) @ g, self.b.shape)
            self.count(self.flops, "matmul")
        return ga, gb


class Concat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, g):
        """Each input gets back its own slice of the gradient."""
        return tuple(np.split(g, self.splits, axis=self.axis))


class MaskedFill(Function):
    def forward(self, a, mask, value: float):
        self.mask = np.broadcast_to(mask, a.shape)
        return np.where(self.mask, np.asarray(value, dtype=a.dtype), a)

    def backward(self, g):
        """Filled positions no longer depend on a: their gradient is 0; others pass through."""
        return np.where(self.mask, np.zeros((), dtype=g.dtype), g), None


# -- user-facing functions ---------------------------------------------------------------


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return MatMul.apply(a, as_tensor(b, a))


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Concatenate along ``axis`` (used to insert soft-prompt embeddings)."""
    return Concat.apply(*tensors, axis=axis)


def embedding(weight: Tensor, ids, extra: Tensor | None = None) -> Tensor:
    """``weight[ids]`` for an integer array ``ids``; the backward adds repeated ids.

    ``extra`` (P, C): rows for ids V..V+P-1, like ``concat([weight, extra])[ids]`` without
    building the concatenated table.
    """
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"embedding ids must be integers, got {ids.dtype}")
    limit = weight.shape[0] + (0 if extra is None else extra.shape[0])
    if ids.size and (ids.min() < 0 or ids.max() >= limit):
        raise IndexError(f"token id outside [0, {limit})")
    if extra is None:
        return Embedding.apply(weight, Tensor(ids))
    return Embedding.apply(weight, Tensor(ids), extra)


def masked_fill(a: Tensor, mask, value: float) -> Tensor:
    """``value`` where ``mask`` is True, ``a`` elsewhere (mask broadcasts to a)."""
    return MaskedFill.apply(a, Tensor(np.asarray(mask, dtype=bool)), value=value)


def _binary(op):
    def method(self, other):
        return op.apply(self, as_tensor(other, self))

    return method


def _reflected(op):
    def method(self, other):
        return op.apply(as_tensor(other, self), self)

    return method


def _transpose(self: Tensor, *axes) -> Tensor:
    """``x.transpose()`` reverses axes; ``x.transpose(1, 0, 2)`` permutes; with two axes
    on a >2-D tensor, ``x.transpose(-1, -2)`` swaps just those two."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    n = self.ndim
    if not axes:
        perm = tuple(reversed(range(n)))
    elif len(axes) == 2 and n != 2:
        perm = list(range(n))
        i, j = axes[0] % n, axes[1] % n
        perm[i], perm[j] = perm[j], perm[i]
        perm = tuple(perm)
    else:
        perm = tuple(a % n for a in axes)
    return Permute.apply(self, axes=perm)


def _reshape(self: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(self, shape=shape)


Tensor.__add__ = _binary(Add)
Tensor.__radd__ = _reflected(Add)
Tensor.__sub__ = _binary(Sub)
Tensor.__rsub__ = _reflected(Sub)
Tensor.__mul__ = _binary(Mul)
Tensor.__rmul__ = _reflected(Mul)
Tensor.__truediv__ = _binary(Div)
Tensor.__rtruediv__ = _reflected(Div)
Tensor.__matmul__ = _binary(MatMul)
Tensor.__rmatmul__ = _reflected(MatMul)
Tensor.__neg__ = lambda self: Neg.apply(self)
Tensor.__pow__ = lambda self, p: Pow.apply(self, exponent=p)
Tensor.__getitem__ = lambda self, index: GetItem.apply(self, index=index.data if isinstance(index, Tensor) else index)
Tensor.exp = lambda self: Exp.apply(self)
Tensor.log = lambda self: Log.apply(self)
Tensor.tanh = lambda self: Tanh.apply(self)
Tensor.sum = lambda self, axis=None, keepdims=False: Sum.apply(self, axis=axis, keepdims=keepdims)
Tensor.mean = lambda self, axis=None, keepdims=False: Mean.apply(self, axis=axis, keepdims=keepdims)
Tensor.reshape = _reshape
Tensor.transpose = _transpose
Tensor.permute = lambda self, *axes: Permute.apply(self, axes=tuple(a % self.ndim for a in axes))
Tensor.masked_fill = masked_fill
