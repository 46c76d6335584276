"""Counting the floating-point operations the engine actually executes.

Wrap any computation in ``count_flops()`` and every op adds what it computes to the
counter, split by *scope* (a label the model sets, e.g. ``"attention.qkv"``), *kind*
(``"matmul"``, ``"softmax"``, ...) and *phase* (``"forward"`` / ``"backward"``)::

    with count_flops() as flops:
        loss = model(x, y)
        loss.backward()
    flops.total()                          # all FLOPs of one training step
    flops.total(kind="matmul", phase="forward")
    flops.by("scope")                      # {"attention.qkv": ..., "mlp": ..., ...}

Counting rules (one FLOP = one scalar add, multiply, divide or transcendental):

- dense matmul ``(m, k) @ (k, n)``: ``2·m·n·k`` (a multiply and an add per term); its
  backward costs ``2·m·n·k`` for each input that needs a gradient.
- sparse products (CSR with ``nnz`` stored weights times ``n`` dense columns): ``2·nnz·n``.
- elementwise ops: the arithmetic written next to each op's code, per element
  (e.g. ``a * b`` is 1; tanh-GELU is 9). Transcendentals (exp, log, tanh, sqrt) count 1.
- reductions (sum, mean, the sums inside softmax/LayerNorm): 1 per input element.
- comparisons, selects, copies, gathers and reshapes: 0 -- they are not arithmetic.
  So an embedding lookup costs 0 forward; its backward scatter-add costs 1 per
  gathered element.

Scopes nest with dots: ``with flop_scope("attention"):`` around an op that counts under
sub-scope ``"logits"`` records ``"attention.logits"``.

Does not handle: memory traffic, which is what actually limits most elementwise ops on
a CPU. FLOPs are a model of work, not of time (see benchmarks/ and the emulator).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

_active: list["FlopCounter"] = []  # counters currently recording (innermost last)
_scopes: list[str] = []  # the flop_scope stack
_phase = ["forward"]  # "backward" while Tensor.backward runs


class FlopCounter:
    """FLOPs recorded per (scope, kind, phase)."""

    def __init__(self):
        self.counts: dict[tuple[str, str, str], int] = defaultdict(int)

    def add(self, n: int, kind: str, scope: str, phase: str) -> None:
        self.counts[(scope, kind, phase)] += int(n)

    def total(self, scope: str | None = None, kind: str | None = None, phase: str | None = None) -> int:
        """Sum of FLOPs matching the given filters. ``scope`` matches itself and its sub-scopes."""
        return sum(
            n
            for (s, k, p), n in self.counts.items()
            if (scope is None or s == scope or s.startswith(scope + "."))
            and (kind is None or k == kind)
            and (phase is None or p == phase)
        )

    def by(self, field: str, **filters) -> dict[str, int]:
        """Totals grouped by ``"scope"``, ``"kind"`` or ``"phase"``, optionally filtered."""
        index = {"scope": 0, "kind": 1, "phase": 2}[field]
        out: dict[str, int] = defaultdict(int)
        for key, n in self.counts.items():
            s, k, p = key
            if all(v is None or {"scope": s, "kind": k, "phase": p}[f] == v for f, v in filters.items()):
                out[key[index]] += n
        return dict(sorted(out.items()))

    def table(self) -> str:
        """A readable per-scope, per-kind table (forward / backward / total)."""
        rows = sorted({(s, k) for s, k, _ in self.counts})
        lines = [f"{'scope':<24}{'kind':<16}{'forward':>16}{'backward':>16}{'total':>16}"]
        for s, k in rows:
            f, b = self.counts.get((s, k, "forward"), 0), self.counts.get((s, k, "backward"), 0)
            lines.append(f"{s:<24}{k:<16}{f:>16,}{b:>16,}{f + b:>16,}")
        lines.append(f"{'total':<40}{self.total(phase='forward'):>16,}{self.total(phase='backward'):>16,}{self.total():>16,}")
        return "\n".join(lines)


@contextmanager
def count_flops() -> Iterator[FlopCounter]:
    """Record the FLOPs of everything computed inside the ``with`` block."""
    counter = FlopCounter()
    _active.append(counter)
    try:
        yield counter
    finally:
        _active.remove(counter)


@contextmanager
def flop_scope(name: str) -> Iterator[None]:
    """Label the FLOPs of ops created inside the block (their backward too)."""
    _scopes.append(name)
    try:
        yield
    finally:
        _scopes.pop()


def current_scope() -> str:
    return ".".join(_scopes)


def record(n: int, kind: str, scope: str, sub: str | None = None) -> None:
    """Add ``n`` FLOPs of ``kind`` under ``scope`` (+ optional sub-scope) to every active counter."""
    if not _active or n == 0:
        return
    if sub:
        scope = f"{scope}.{sub}" if scope else sub
    for c in _active:
        c.add(n, kind, scope, _phase[0])


@contextmanager
def backward_phase() -> Iterator[None]:
    previous = _phase[0]
    _phase[0] = "backward"
    try:
        yield
    finally:
        _phase[0] = previous
