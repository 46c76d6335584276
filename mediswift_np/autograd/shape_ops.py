"""Ops that move values without arithmetic: reshape, permute, indexing, embedding lookup,
concatenation and masked fill, each with its forward and backward side by side.

Their backward passes route the gradient back to where each value came from (0 FLOPs,
except the scatter-adds of repeated indices). ops.py attaches ``reshape``, ``transpose``,
``permute``, ``[...]`` and ``masked_fill`` to ``Tensor``.

Does not handle: advanced-index assignment.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .engine import Function, Tensor


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


def transpose_tensor(self: Tensor, *axes) -> Tensor:
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


def reshape_tensor(self: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(self, shape=shape)
