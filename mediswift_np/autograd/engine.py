"""The reverse-mode autodiff core: ``Tensor``, ``Function`` and ``backward``.

A ``Tensor`` wraps a NumPy array (``.data``) and, if it was produced by an op while
gradients were enabled, remembers that op (``._ctx``, a ``Function`` instance holding
its parent tensors and whatever the forward pass saved). ``loss.backward()`` sorts the
graph topologically and walks it from the output back to the leaves, calling each op's
``backward`` (its local chain rule) and *adding* the results into the parents'
``.grad`` -- adding is what makes a tensor used twice (``a + a``, ``a * a``) receive the
sum of both contributions.

Rules worth knowing:

- Gradients of *leaves* (tensors created by the user, e.g. parameters) accumulate with
  ``+=`` across ``backward()`` calls. Zero them (``t.grad = None``, or
  ``Module.zero_grad()``) before each step.
- Gradients of *intermediate* tensors are freed as soon as they have been passed on
  (call ``t.retain_grad()`` to keep one for inspection). The graph itself is kept, so
  calling ``backward()`` twice on the same output adds the same gradients twice.
- Inside ``with no_grad():`` ops record nothing (inference, evaluation, optimizer steps).
- Dtypes are never changed silently: float32 inputs give float32 results (training);
  build tensors from float64 arrays for gradient checks. Python lists and scalars
  become float32 by default.

Does not handle: higher-order gradients (backward is plain NumPy, not itself
differentiable), in-place ops on tensors that are part of a graph, or devices.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from . import counter

_grad_enabled = [True]
DEFAULT_FLOAT = np.float32


@contextmanager
def no_grad() -> Iterator[None]:
    """Disable graph recording inside the block."""
    previous = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = previous


def is_grad_enabled() -> bool:
    return _grad_enabled[0]


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype, copy=False)
    a = np.asarray(data, dtype=dtype)
    if dtype is None and a.dtype == np.float64:
        a = a.astype(DEFAULT_FLOAT)  # lists and Python floats default to float32
    return a


class Tensor:
    """An n-dimensional array that can record the ops applied to it."""

    __array_priority__ = 100  # make `ndarray * Tensor` call Tensor.__rmul__
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retain", "name", "__weakref__")

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        self.data: np.ndarray = _as_array(data, dtype)
        if requires_grad and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"only floating-point tensors can require gradients, got {self.data.dtype}")
        self.requires_grad = requires_grad
        self.grad: np.ndarray | None = None
        self._ctx: Function | None = None
        self._retain = False
        self.name = name

    # -- basic properties -------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    size = property(lambda self: self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, threshold=8, edgeitems=2)}, dtype={self.dtype}{extra})"

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same data, cut off from the graph."""
        return Tensor(self.data)

    def retain_grad(self) -> "Tensor":
        """Keep this intermediate tensor's ``.grad`` after ``backward()``."""
        self._retain = True
        return self

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    # -- reverse mode -------------------------------------------------------------------
    def backward(self, grad: np.ndarray | None = None) -> None:
        """Accumulate d(self)/d(leaf) (times ``grad``) into every leaf's ``.grad``.

        ``grad`` defaults to 1 and may only be omitted for a single-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError("backward() without an upstream gradient needs a single-element tensor")
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"upstream gradient has shape {grad.shape}, expected {self.shape}")

        order = self._topological_order()
        grads: dict[int, np.ndarray] = {id(self): grad}  # pending gradients of this pass
        with counter.backward_phase():
            for t in reversed(order):
                g = grads.pop(id(t), None)
                if g is None:
                    continue
                if t._ctx is None or t._retain:  # leaves (and retained tensors) keep their gradient
                    t.grad = g if t.grad is None else t.grad + g
                if t._ctx is None:
                    continue
                ctx = t._ctx
                parent_grads = ctx.backward(g)
                if not isinstance(parent_grads, tuple):
                    parent_grads = (parent_grads,)
                for p, pg in zip(ctx.parents, parent_grads):
                    if pg is None or not p.requires_grad:
                        continue
                    if pg.shape != p.shape:  # every op must return parent-shaped gradients
                        raise RuntimeError(f"{type(ctx).__name__}.backward returned shape {pg.shape} for input {p.shape}")
                    previous = grads.get(id(p))
                    grads[id(p)] = pg if previous is None else previous + pg  # `+`, never in place

    def _topological_order(self) -> list["Tensor"]:
        """Tensors reachable from self, every tensor after all of its inputs (iterative DFS)."""
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            t, expanded = stack.pop()
            if expanded:
                order.append(t)
                continue
            if id(t) in visited:
                continue
            visited.add(id(t))
            stack.append((t, True))
            if t._ctx is not None:
                for p in t._ctx.parents:
                    if p.requires_grad and id(p) not in visited:
                        stack.append((p, False))
        return order


class Function:
    """One differentiable op: ``forward`` on arrays, ``backward`` = its chain rule.

    Subclasses implement ``forward(self, *arrays, **params) -> ndarray`` (saving on
    ``self`` whatever backward needs) and ``backward(self, grad) -> tuple`` returning
    one gradient (or None) per tensor input, each of that input's shape.
    ``self.needs_grad[i]`` says whether input i wants a gradient, so forward and
    backward can skip work. ``self.count(n, kind)`` records FLOPs (see counter).
    """

    parents: tuple[Tensor, ...] = ()

    def __init__(self, needs_grad: tuple[bool, ...]):
        self.needs_grad = needs_grad
        self.scope = counter.current_scope()

    @classmethod
    def apply(cls, *inputs: Tensor, **params) -> Tensor:
        record = _grad_enabled[0]
        needs = tuple(record and t.requires_grad for t in inputs)
        fn = cls(needs)
        out = Tensor(fn.forward(*(t.data for t in inputs), **params))
        if any(needs):
            out.requires_grad = True
            out._ctx = fn
            fn.parents = inputs
        return out

    def count(self, n: int, kind: str, sub: str | None = None) -> None:
        counter.record(n, kind, self.scope, sub)

    def forward(self, *arrays: np.ndarray, **params) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:  # pragma: no cover - interface
        raise NotImplementedError


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Shorthand for ``Tensor(data, requires_grad, dtype)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; constants take ``like``'s dtype (so float64 graphs stay float64)."""
    if isinstance(x, Tensor):
        return x
    return Tensor(np.asarray(x, dtype=like.dtype if like is not None else None))


def unbroadcast(grad: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting.

    Example: x of shape (3, 1) added to y of shape (4,) gives (3, 4); x's gradient is
    grad.sum(axis=1, keepdims=True) and y's is grad.sum(axis=0).
    """
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    return out.reshape(shape)
