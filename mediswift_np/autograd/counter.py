"""Counting floating-point operations: the algorithm's work and what the CPU executed.

Wrap any computation in ``count_flops()`` and every op adds what it computes to the
counter, split by *scope* (a label the model sets, e.g. ``"attention.qkv"``), *kind*
(``"matmul"``, ``"softmax"``, ...) and *phase* (``"forward"`` / ``"backward"``)::

    with count_flops() as flops:
        loss = model(x, y)
        loss.backward()
    flops.total()                          # all FLOPs of one training step (sparse-equivalent)
    flops.total(executed=True)             # what the CPU actually ran for it
    flops.total(kind="matmul", phase="forward")
    flops.by("scope")                      # {"attention.qkv": ..., "mlp": ..., ...}

Every record carries two numbers (MediSwift App. B: FLOP savings are not time savings):

- **sparse-equivalent** (``counts``, the default of ``total``/``by``): the work of the
  algorithm, what a machine that skips zeros would do. A masked product is 2·nnz·N.
- **executed** (``executed``, ``total(executed=True)``): the arithmetic the CPU really
  ran. On the default dense path a masked product runs as a full BLAS GEMM, 2·in·out·N,
  after an elementwise W ⊙ m (in·out multiplies, sparse-equivalent 0). sparse/linear.py
  documents both numbers for each path.

Every op of the dense engine executes exactly what it counts, so ``record(n, ...)``
without ``executed=`` adds ``n`` to both; only the masked layers (sparse/linear.py) pass a
different executed count.

Counting rules (one FLOP = one scalar add, multiply, divide or transcendental):

- dense matmul ``(m, k) @ (k, n)``: ``2·m·n·k`` (a multiply and an add per term); its
  backward costs ``2·m·n·k`` for each input that needs a gradient.
- sparse products (CSR with ``nnz`` stored weights times ``n`` dense columns): ``2·nnz·n``
  sparse-equivalent, whatever path runs them (executed: see sparse/linear.py).
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
    """FLOPs recorded per (scope, kind, phase): ``counts`` sparse-equivalent, ``executed`` run.

    A key appears in a dict only if its number is nonzero there: the W ⊙ m of the dense
    masked path (kind ``"mask"``) is in ``executed`` only.
    """

    def __init__(self):
        self.counts: dict[tuple[str, str, str], int] = defaultdict(int)  # the algorithm's work
        self.executed: dict[tuple[str, str, str], int] = defaultdict(int)  # what the CPU ran

    def add(self, n: int, kind: str, scope: str, phase: str, executed: int | None = None) -> None:
        """Add ``n`` sparse-equivalent FLOPs and ``executed`` executed ones (default: ``n``)."""
        n, executed = int(n), int(n if executed is None else executed)
        if n:
            self.counts[(scope, kind, phase)] += n
        if executed:
            self.executed[(scope, kind, phase)] += executed

    def _table(self, executed: bool) -> dict[tuple[str, str, str], int]:
        return self.executed if executed else self.counts

    def total(self, scope: str | None = None, kind: str | None = None, phase: str | None = None, executed: bool = False) -> int:
        """Sum of FLOPs matching the given filters. ``scope`` matches itself and its sub-scopes.
        Sparse-equivalent FLOPs, or with ``executed=True`` the executed ones."""
        return sum(
            n
            for (s, k, p), n in self._table(executed).items()
            if (scope is None or s == scope or s.startswith(scope + "."))
            and (kind is None or k == kind)
            and (phase is None or p == phase)
        )

    def by(self, field: str, executed: bool = False, **filters) -> dict[str, int]:
        """Totals grouped by ``"scope"``, ``"kind"`` or ``"phase"``, optionally filtered."""
        index = {"scope": 0, "kind": 1, "phase": 2}[field]
        out: dict[str, int] = defaultdict(int)
        for key, n in self._table(executed).items():
            s, k, p = key
            if all(v is None or {"scope": s, "kind": k, "phase": p}[f] == v for f, v in filters.items()):
                out[key[index]] += n
        return dict(sorted(out.items()))

    def table(self, executed: bool = False) -> str:
        """A readable per-scope, per-kind table (forward / backward / total)."""
        counts = self._table(executed)
        rows = sorted({(s, k) for s, k, _ in counts})
        lines = [f"{'scope':<24}{'kind':<16}{'forward':>16}{'backward':>16}{'total':>16}"]
        for s, k in rows:
            f, b = counts.get((s, k, "forward"), 0), counts.get((s, k, "backward"), 0)
            lines.append(f"{s:<24}{k:<16}{f:>16,}{b:>16,}{f + b:>16,}")
        fwd, bwd = self.total(phase="forward", executed=executed), self.total(phase="backward", executed=executed)
        lines.append(f"{'total':<40}{fwd:>16,}{bwd:>16,}{fwd + bwd:>16,}")
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


def record(n: int, kind: str, scope: str, sub: str | None = None, executed: int | None = None) -> None:
    """Add ``n`` FLOPs of ``kind`` under ``scope`` (+ optional sub-scope) to every active counter.

    ``n`` is the sparse-equivalent count; ``executed`` what the CPU ran, if it differs from ``n``.
    """
    if not _active or (n == 0 and not executed):
        return
    if sub:
        scope = f"{scope}.{sub}" if scope else sub
    for c in _active:
        c.add(n, kind, scope, _phase[0], executed)


@contextmanager
def backward_phase() -> Iterator[None]:
    previous = _phase[0]
    _phase[0] = "backward"
    try:
        yield
    finally:
        _phase[0] = previous
