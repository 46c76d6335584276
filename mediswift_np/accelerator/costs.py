"""From event counts to cycles: the named cost terms of one layer on the mesh.

Both emulators (the element-by-element reference in :mod:`.emulate` and the vectorised
one in :mod:`.fast`) only *count events* per PE -- multiply-accumulates, index reads,
fabric messages, bytes of SRAM. This module turns counts into cycles, so the two
emulators agree exactly whenever their counts agree.

Per PE p (all quantities in cycles):

    compute_p   = macs_p / macs_per_cycle
    metadata_p  = index_reads_p * metadata_cycles_per_nonzero         (sparse kernel only)
    fabric_p    = max(activation msgs_p, partial-sum msgs_p) / link_messages_per_cycle
    stall_p     = max(0, fabric_p - compute_p - metadata_p)          (waiting for the fabric)
    t_p         = compute_p + metadata_p + stall_p

The layer takes

    total = pipeline_fill + max_p t_p + reduction
          = compute + metadata + fabric_stall + load_imbalance + pipeline_fill + reduction

with compute, metadata, fabric_stall the *means* over PEs (perfectly balanced work),
load_imbalance = max_p t_p - mean_p t_p >= 0 (the slowest PE sets the time),
pipeline_fill = (mesh_rows - 1) * hop_latency (activations enter at the top edge and
are broadcast down each mesh column), reduction = (mesh_cols - 1) * hop_latency +
max tile_rows * messages per partial sum / link rate (the last token's partial sums
travel along the mesh row and drain; earlier tokens' reductions overlap with compute).
SRAM capacity is a check, not a time: a tile that does not fit raises
:class:`SRAMCapacityError` unless the ``sram_capacity`` term is switched off, in which
case the report says ``sram_fits: false``.

Every term except ``compute`` can be switched off (``disabled=...``) to see what it costs.

Does not handle: contention between layers, the time to load weights into SRAM, or
SIMD lanes left idle inside one PE (a PE is assumed to pack MACs into full lanes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .machine import AcceleratorError, Machine
from .mapping import Mapping

COST_TERMS = ("compute", "metadata", "fabric_stall", "load_imbalance", "pipeline_fill", "reduction")
SWITCHABLE_TERMS = COST_TERMS[1:] + ("sram_capacity",)


class SRAMCapacityError(AcceleratorError):
    """A PE's tile (plus metadata and buffers) does not fit in its SRAM."""


def check_disabled(disabled) -> frozenset:
    disabled = frozenset(disabled)
    unknown = sorted(disabled - set(SWITCHABLE_TERMS))
    if unknown:
        raise AcceleratorError(f"unknown cost term(s) {', '.join(unknown)}; switchable: {', '.join(SWITCHABLE_TERMS)}")
    return disabled


@dataclass
class PECounts:
    """Events counted on every PE of one layer run; each array is (mesh_rows, mesh_cols)."""

    kernel: str  # "sparse" (compressed, zeros skipped) or "dense" (every weight multiplied)
    batch: int  # B tokens streamed through the layer
    mapping: Mapping
    macs: np.ndarray  # multiply-accumulates performed
    index_reads: np.ndarray  # row indices of nonzeros read (one per sparse MAC)
    activation_messages: np.ndarray  # fabric messages of activations received (from the north)
    partial_sum_messages: np.ndarray  # fabric messages of partial sums received (from the west)
    sram_bytes: np.ndarray  # bytes of SRAM the tile, its metadata and buffers occupy

    def equals(self, other: "PECounts") -> bool:
        """True when every count of every PE is identical."""
        names = ("macs", "index_reads", "activation_messages", "partial_sum_messages", "sram_bytes")
        same_arrays = all(np.array_equal(getattr(self, n), getattr(other, n)) for n in names)
        return same_arrays and (self.kernel, self.batch, self.mapping) == (other.kernel, other.batch, other.mapping)


@dataclass
class CycleReport:
    """The cycles of one layer run, split into named terms that add up to ``total_cycles``."""

    kernel: str
    batch: int
    mesh: tuple[int, int]
    terms: dict[str, float]  # COST_TERMS -> cycles (0.0 when switched off)
    total_cycles: float
    seconds: float
    macs: int  # summed over PEs
    pe_time_max: float  # max_p t_p
    pe_time_mean: float  # mean_p t_p
    sram_bytes_max: int
    sram_bytes_per_pe: int
    sram_fits: bool
    disabled: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "kernel": self.kernel,
            "batch": self.batch,
            "mesh": list(self.mesh),
            "total_cycles": self.total_cycles,
            "seconds": self.seconds,
            "terms": dict(self.terms),
            "macs": self.macs,
            "pe_time_max": self.pe_time_max,
            "pe_time_mean": self.pe_time_mean,
            "sram_bytes_max": self.sram_bytes_max,
            "sram_bytes_per_pe": self.sram_bytes_per_pe,
            "sram_fits": self.sram_fits,
            "disabled": list(self.disabled),
        }


def per_pe_times(counts: PECounts, machine: Machine, disabled=frozenset()) -> dict[str, np.ndarray]:
    """The per-PE cycle arrays compute_p, metadata_p, stall_p, t_p (see the module docstring)."""
    disabled = check_disabled(disabled)
    compute = counts.macs / machine.macs_per_cycle
    metadata = counts.index_reads * machine.metadata_cycles_per_nonzero
    if "metadata" in disabled:
        metadata = np.zeros_like(compute)
    busy = compute + metadata
    fabric = np.maximum(counts.activation_messages, counts.partial_sum_messages) / machine.link_messages_per_cycle
    stall = np.maximum(0.0, fabric - busy)
    if "fabric_stall" in disabled:
        stall = np.zeros_like(compute)
    return {"compute": compute, "metadata": metadata, "stall": stall, "time": busy + stall}


def cycle_report(counts: PECounts, machine: Machine, disabled=frozenset()) -> CycleReport:
    """Turn per-PE event counts into the named cost terms and their total.

    Example:
        >>> from mediswift_np.accelerator.fast import count_events
        >>> m = Mapping(8, 8, 2, 2)
        >>> c = count_events(np.full((2, 2), 16), m, batch=1, kernel="sparse", machine=Machine())
        >>> r = cycle_report(c, Machine(), disabled={"metadata"})
        >>> r.terms["compute"], r.terms["load_imbalance"], r.terms["pipeline_fill"], r.terms["reduction"]
        (4.0, 0.0, 1.0, 5.0)
    """
    disabled = check_disabled(disabled)
    per_pe = per_pe_times(counts, machine, disabled)
    t = per_pe["time"]
    mapping = counts.mapping
    hop = machine.hop_latency_cycles
    terms = {
        "compute": float(per_pe["compute"].mean()),
        "metadata": float(per_pe["metadata"].mean()),
        "fabric_stall": float(per_pe["stall"].mean()),
        "load_imbalance": float(t.max() - t.mean()),  # the slowest PE sets the time
        "pipeline_fill": float((mapping.mesh_rows - 1) * hop),  # broadcast down the mesh column
        # last token: partial sums hop along the mesh row, then tile_rows values drain at link rate
        "reduction": float(
            (mapping.mesh_cols - 1) * hop
            + int(mapping.tile_rows.max()) * machine.messages_for(machine.accumulator_bytes) / machine.link_messages_per_cycle
        ),
    }
    for name in disabled & set(COST_TERMS):
        terms[name] = 0.0
    sram_max = int(counts.sram_bytes.max())
    fits = sram_max <= machine.sram_bytes_per_pe
    if not fits and "sram_capacity" not in disabled:
        i, j = np.unravel_index(int(np.argmax(counts.sram_bytes)), counts.sram_bytes.shape)
        raise SRAMCapacityError(
            f"{counts.kernel} tile of PE ({i}, {j}) needs {sram_max} bytes but sram_bytes_per_pe is "
            f"{machine.sram_bytes_per_pe} (use a bigger mesh or a sparser layer)"
        )
    total = sum(terms.values())
    return CycleReport(
        kernel=counts.kernel,
        batch=counts.batch,
        mesh=(mapping.mesh_rows, mapping.mesh_cols),
        terms=terms,
        total_cycles=total,
        seconds=machine.seconds(total),
        macs=int(counts.macs.sum()),
        pe_time_max=float(t.max()),
        pe_time_mean=float(t.mean()),
        sram_bytes_max=sram_max,
        sram_bytes_per_pe=machine.sram_bytes_per_pe,
        sram_fits=fits,
        disabled=sorted(disabled),
    )
