"""Modules and parameters: the bookkeeping layer between ops and the model.

A ``Module`` finds its parameters by walking its attributes (sub-modules, lists of
modules, and ``Parameter`` objects) in the order they were assigned, which gives
dotted names like ``transformer.h.0.attn.c_attn.weight`` -- the names of a Hugging Face
GPT-2 checkpoint. ``state_dict`` returns copies of those arrays; ``load_state_dict``
checks names, shapes and dtypes before touching anything.

Layers here: Linear (GPT-2 "Conv1D" layout, weight (in, out)), Embedding, LayerNorm,
GELU, Dropout. Each forward calls one op of :mod:`mediswift_np.functional` (a masked
weight: :func:`mediswift_np.sparse.masked_linear`).

Two layers, one switch. A module's ``fast`` flag (off by default; ``GPT(cfg, fast=True)``
or ``model.use_fast()`` turns it on for a whole model) picks where its ops come from:
``kernels(fast)`` returns the maths layer, ``functional``, or the speed layer's twins,
``mediswift_np.fast.ops`` -- the same functions under the same names, computed block by
block on all cores. It is the one place the maths layer imports the speed layer, as
nanoGPT's ``if self.flash:`` is the one place its model picks fused attention.

Does not handle: buffers other than parameters and masks, hooks, devices.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from . import functional as F
from . import sparse
from .autograd import Tensor, embedding
from .errors import UserError


class Parameter(Tensor):
    """A leaf tensor that a module owns and an optimizer updates.

    ``mask`` (None or a bool array of the same shape) marks a statically sparse weight:
    False entries are pruned and stay exactly zero (paper Sec. 2.1, Eq. 1: m ⊙ θ).
    """

    __slots__ = ("mask", "weight_decay", "_layout")

    def __init__(self, data, weight_decay: bool = False):
        super().__init__(data, requires_grad=True)
        self.mask: np.ndarray | None = None
        self._layout = None  # cached index arrays of the mask (sparse.layout_of)
        self.weight_decay = weight_decay  # AdamW parameter group (see optim.py)


def kernels(fast: bool):
    """The ops a module runs: ``functional`` (the maths layer), or with ``fast`` the speed layer's twins."""
    if fast:
        from .fast import ops  # here, not at the top: the speed layer imports the maths layer, never the reverse

        return ops
    return F


class Module:
    training: bool = True
    fast: bool = False  # run the speed layer's twins of the ops (see kernels)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in definition order, each parameter once."""
        seen: set[int] = set()
        for name, p in self._walk(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            full = f"{prefix}{name}"
            if isinstance(value, Parameter):
                yield full, value
            elif isinstance(value, Module):
                yield from value._walk(full + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator["Module"]:
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def use_fast(self, on: bool = True) -> "Module":
        """Run this module and all of its sub-modules on the speed layer (``on``) or the maths layer."""
        for m in self.modules():
            m.fast = on
        return self

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter array, keyed by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into the parameters after checking every name, shape and dtype."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        unexpected = [n for n in state if n not in params]
        if strict and (missing or unexpected):
            raise UserError(f"state dict mismatch: missing {missing[:3]}, unexpected {unexpected[:3]}")
        for name, p in params.items():
            if name not in state:
                continue
            a = np.asarray(state[name])
            if a.shape != p.shape:
                raise UserError(f"state dict: {name} has shape {a.shape}, model expects {p.shape}")
            if not np.issubdtype(a.dtype, np.floating):
                raise UserError(f"state dict: {name} has dtype {a.dtype}, expected floating point")
        for name, p in params.items():
            if name in state:
                p.data = np.array(state[name], dtype=p.dtype)  # a fresh copy in the parameter's dtype

    def to_dtype(self, dtype) -> "Module":
        """Cast every parameter (e.g. to float64 for gradient checks)."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        return self


class ModuleList(Module):
    """An indexable list of modules, named ``0``, ``1``, ... in parameter names."""

    def __init__(self, modules):
        for i, m in enumerate(modules):
            setattr(self, str(i), m)
        self._n = len(modules)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Module:
        return getattr(self, str(range(self._n)[i]))

    def __iter__(self) -> Iterator[Module]:
        return (self[i] for i in range(self._n))


class Linear(Module):
    """y = x W + b with W of shape (in, out): GPT-2's Conv1D layout (so HF weights copy 1:1)."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, std: float = 0.02, bias: bool = True, dtype=np.float32):
        self.weight = Parameter((rng.standard_normal((n_in, n_out)) * std).astype(dtype), weight_decay=True)
        self.bias = Parameter(np.zeros(n_out, dtype=dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.weight.mask is not None:  # a statically sparse weight (see sparse/linear.py)
            return sparse.masked_linear(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)


class Embedding(Module):
    """A lookup table of ``num`` rows of size ``dim``."""

    def __init__(self, num: int, dim: int, rng: np.random.Generator, std: float = 0.02, dtype=np.float32):
        self.weight = Parameter((rng.standard_normal((num, dim)) * std).astype(dtype))

    def forward(self, ids) -> Tensor:
        return embedding(self.weight, ids)


class LayerNorm(Module):
    def __init__(self, dim: int, eps: float = 1e-5, dtype=np.float32):
        self.weight = Parameter(np.ones(dim, dtype=dtype))
        self.bias = Parameter(np.zeros(dim, dtype=dtype))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return kernels(self.fast).layer_norm(x, self.weight, self.bias, self.eps)


class GELU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return kernels(self.fast).gelu(x)


class Dropout(Module):
    """Inverted dropout; draws from ``self.rng`` (set by the owning model) in training mode."""

    def __init__(self, p: float, rng: np.random.Generator | None = None):
        self.p = p
        self.rng = rng

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.rng, self.training)
