"""Static random masks (paper Sec. 2.1, 3.3): which matrices, drawn how, and how sparse the model is.

Sparse pre-training replaces θ by m ⊙ θ (Eq. 1) for a binary mask m drawn uniformly at
random once, at initialisation ("random pruning"), with the same sparsity s in every
layer. Six matrices per block are sparsified -- query, key, value, attention output,
MLP intermediate (fc) and MLP output projection; embeddings, LayerNorms and biases stay
dense. In GPT-2's layout query, key and value share one ``c_attn`` matrix (C, 3C), so
its mask is three independent (C, C) masks side by side: ``SPARSIFIED`` is the one table
of which parameter holds which of the six.

``densify`` removes the masks for fine-tuning (Sec. 2.2.1); the reactivated weights
start at exactly 0 because that is what they are.

Does not handle: structured (N:M, block) sparsity, per-layer sparsity schedules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..flops import check_sparsity  # the one "0 <= s < 1" rule

# The six sparsified matrices of a block (Sec. 3.3), by the parameter (name suffix) that
# holds them side by side: c_attn is query | key | value, each (C, C).
SPARSIFIED = {
    "attn.c_attn.weight": ("query", "key", "value"),
    "attn.c_proj.weight": ("attention_output",),
    "mlp.c_fc.weight": ("mlp_fc",),
    "mlp.c_proj.weight": ("mlp_proj",),
}


def sparsified_parts(name: str) -> tuple[str, ...]:
    """The sparsified matrices parameter ``name`` holds side by side, or () for a dense one.

    Example: sparsified_parts("transformer.h.0.attn.c_attn.weight") == ("query", "key", "value")
    """
    return next((parts for suffix, parts in SPARSIFIED.items() if name.endswith(suffix)), ())


def random_mask(shape: tuple[int, int], sparsity: float, rng: np.random.Generator) -> np.ndarray:
    """A bool mask with exactly round((1-s)·numel) True entries, uniformly at random."""
    numel = shape[0] * shape[1]
    keep = round((1.0 - sparsity) * numel)
    mask = np.zeros(numel, dtype=bool)
    mask[rng.choice(numel, size=keep, replace=False)] = True
    return mask.reshape(shape)


def sparsify(model, sparsity: float, rng: np.random.Generator) -> "SparsityReport":
    """Draw one static random mask per sparsified matrix and zero the pruned weights."""
    check_sparsity(sparsity)
    for name, p in model.named_parameters():
        parts = sparsified_parts(name)
        if not parts:
            continue
        rows, cols = p.shape
        width = cols // len(parts)  # c_attn: query | key | value, each (C, C)
        p.mask = np.concatenate([random_mask((rows, width), sparsity, rng) for _ in parts], axis=1)
        p.data[~p.mask] = 0.0  # m ⊙ θ: pruned weights are exactly (+)0 from the start
    return sparsity_report(model)


def densify(model) -> None:
    """Remove every mask (dense fine-tuning, Sec. 2.2.1); pruned weights restart from 0."""
    for _, p in model.named_parameters():
        p.mask = None


@dataclass(frozen=True)
class SparsityReport:
    """Per-matrix and overall sparsity: S = Σ_l s_l N_l / N (Sec. 2.1)."""

    matrices: tuple[tuple[str, int, int], ...]  # (name, numel N_l, nonzeros)
    total_params: int  # N: every parameter of the model

    @property
    def pruned(self) -> int:
        return sum(n - nnz for _, n, nnz in self.matrices)

    @property
    def overall_sparsity(self) -> float:
        return self.pruned / self.total_params  # Σ s_l N_l / N

    @property
    def sparsified_fraction(self) -> float:
        """Sparsity measured over the sparsified matrices only (= s for uniform masks)."""
        n = sum(n for _, n, _ in self.matrices)
        return self.pruned / n if n else 0.0

    @property
    def active_params_with_embeddings(self) -> int:
        """Unmasked parameters of the whole model, embeddings, biases and LayerNorms included:
        N - Σ_l s_l N_l, counted from the drawn masks. (``flops.n_active_non_embedding_params``
        is the analytic count without the embeddings, Table 6's "params" column.)"""
        return self.total_params - self.pruned

    def table(self) -> str:
        lines = [f"{'matrix':<44}{'N_l':>12}{'nonzeros':>12}{'s_l':>8}"]
        for name, n, nnz in self.matrices:
            lines.append(f"{name:<44}{n:>12,}{nnz:>12,}{1 - nnz / n:>8.4f}")
        lines.append(f"overall S = {self.overall_sparsity:.4f} of {self.total_params:,} parameters; active (embeddings included) {self.active_params_with_embeddings:,}")
        return "\n".join(lines)


def sparsity_report(model) -> SparsityReport:
    rows, total = [], 0
    for name, p in model.named_parameters():
        total += p.size
        if p.mask is None:
            continue
        parts = sparsified_parts(name)
        block = name.rsplit(".", 3)[0]  # transformer.h.0.attn.c_attn.weight -> transformer.h.0
        for part, mask in zip(parts, np.split(p.mask, len(parts), axis=1)):
            rows.append((f"{block}.{part}", mask.size, int(mask.sum())))
    return SparsityReport(tuple(rows), total)
