"""Primitive differentiable ops, each with its forward and backward side by side.

Every backward docstring states the derivative it implements. Broadcasting binary ops
return gradients summed back to each input's shape (``unbroadcast``). The functions at
the bottom of the file attach these ops, and those of shape_ops.py (reshape, permute,
indexing, ...), to ``Tensor`` as operators and methods, so ``a @ b``, ``a * 2``,
``x.sum(-1)``, ``x[idx]`` and ``x.transpose(0, 2, 1, 3)`` all build the graph.

FLOP counts (see counter.py) are written next to the arithmetic they count.

Does not handle: 1-D matmul operands (use explicit 2-D shapes), integer powers of
negative numbers with fractional exponents.
"""

from __future__ import annotations

import numpy as np

from .engine import Function, Tensor, as_tensor, unbroadcast
from .shape_ops import GetItem, Permute, reshape_tensor, transpose_tensor, masked_fill


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


# -- user-facing functions ---------------------------------------------------------------


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return MatMul.apply(a, as_tensor(b, a))


def _binary(op):
    def method(self, other):
        return op.apply(self, as_tensor(other, self))

    return method


def _reflected(op):
    def method(self, other):
        return op.apply(as_tensor(other, self), self)

    return method


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
Tensor.reshape = reshape_tensor
Tensor.transpose = transpose_tensor
Tensor.permute = lambda self, *axes: Permute.apply(self, axes=tuple(a % self.ndim for a in axes))
Tensor.masked_fill = masked_fill
