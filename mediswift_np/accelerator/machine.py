"""The dataflow machine: a 2-D mesh of processing elements (PEs) with local SRAM.

MediSwift pre-trains on a Cerebras CS-2 because its wafer-scale engine (WSE-2) turns
unstructured weight sparsity into wall-clock savings (paper Sec. 3.2, App. B, Fig. 3).
This module names every number the emulator uses. Each field of :class:`Machine` says
where its default comes from; the ones marked *assumption* are not published and were
chosen to be plausible and easy to reason about -- change them and watch the report.

Published figures used (WSE-2):
  * 850,000 cores and 3.4 million floating-point units, i.e. 4 per core; each fabric
    message has 38 bits (James 2021, "Scaling Up and Out: Training Massive Models on
    Cerebras Systems using Weight Streaming", Cerebras blog).
  * 48 KB of SRAM per core, 1.1 GHz clock (Lie 2022a, "Cerebras Architecture Deep Dive",
    Hot Chips 34; 40 GB on-chip SRAM / 850,000 cores is about 48 KB).

Does not handle: power, defects and spare cores, the off-wafer I/O, the instruction
stream, SRAM bank conflicts, or any precision other than "a value is ``value_bytes``
wide". It is a cost model for teaching, not a simulator of the real chip.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields, replace

from ..errors import UserError


class AcceleratorError(UserError):
    """Impossible machine parameters or a layer that cannot be mapped."""


@dataclass(frozen=True)
class Machine:
    """Parameters of one wafer-scale dataflow machine (defaults: WSE-2-like).

    Example:
        >>> m = Machine()
        >>> m.sram_bytes_per_pe, m.macs_per_cycle
        (49152, 4)
        >>> Machine(macs_per_cycle=8).macs_per_cycle
        8
    """

    # --- the processing element (PE)
    n_pes: int = 850_000  # WSE-2 cores (James 2021)
    sram_bytes_per_pe: int = 48 * 1024  # 48 KB local SRAM per core (Lie 2022a)
    macs_per_cycle: int = 4  # FP16 multiply-accumulates per PE per cycle: 3.4M FPUs / 850k cores (James 2021)
    clock_hz: float = 1.1e9  # core clock (Lie 2022a)
    # --- storage formats (assumptions: FP16 weights/activations, FP32 accumulation, 16-bit indices)
    value_bytes: int = 2  # one weight or activation value (FP16)
    index_bytes: int = 2  # row index stored with every nonzero weight (addresses tiles up to 65,536 rows)
    pointer_bytes: int = 2  # one column pointer per tile column (compressed sparse columns)
    accumulator_bytes: int = 4  # one FP32 partial sum; each PE keeps two buffers of them (see mapping)
    # --- the sparse kernel (assumption: decoding a nonzero's row index costs 1/8 of its MAC, 1/4 cycle)
    metadata_cycles_per_nonzero: float = 1.0 / 32.0  # extra cycles per (nonzero, token)
    # --- the fabric (assumptions; James 2021 gives 38-bit messages, we take 32 bits as payload)
    message_bits: int = 32  # payload per fabric message: a 16-bit value + a 16-bit index fit in one
    hop_latency_cycles: int = 1  # cycles for a message to move one PE along the mesh
    link_messages_per_cycle: int = 1  # messages one link delivers per cycle

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise AcceleratorError(f"machine parameter {f.name} must be a finite number, got {value!r}")
            if f.name == "metadata_cycles_per_nonzero":
                if value < 0:
                    raise AcceleratorError(f"machine parameter {f.name} must be >= 0, got {value!r}")
            elif f.name == "hop_latency_cycles":
                if value < 0 or int(value) != value:
                    raise AcceleratorError(f"machine parameter {f.name} must be an integer >= 0, got {value!r}")
            elif f.name == "clock_hz":
                if value <= 0:
                    raise AcceleratorError(f"machine parameter {f.name} must be positive, got {value!r}")
            elif value <= 0 or int(value) != value:
                raise AcceleratorError(f"machine parameter {f.name} must be a positive integer, got {value!r}")

    def messages_for(self, n_bytes: int) -> int:
        """Fabric messages needed to carry ``n_bytes`` of payload.

        Example:
            >>> m = Machine()
            >>> m.messages_for(m.value_bytes + m.index_bytes)  # 16-bit value + 16-bit index
            1
        """
        return -(-8 * n_bytes // self.message_bits)  # ceil(bits / message_bits)

    def seconds(self, cycles: float) -> float:
        """Wall-clock seconds of ``cycles`` at ``clock_hz``."""
        return cycles / self.clock_hz

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "Machine":
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)


WSE2 = Machine()  # the defaults above


@dataclass(frozen=True)
class SIMDMachine:
    """A dense SIMD (GPU-like) machine: fixed matrix tiles, zeros are multiplied.

    Defaults follow an NVIDIA A100 (NVIDIA A100 Tensor Core GPU Architecture whitepaper,
    2020): 108 SMs x 4 Tensor Cores, each 256 dense FP16 FMA per clock, 1.41 GHz boost
    clock (108 * 4 * 256 * 2 * 1.41e9 = 312 TFLOP/s). One Tensor Core instruction
    multiplies a ``tile_m x tile_k`` weight tile by a ``tile_k x tile_n`` activation tile
    (the m16n8k16 shape), so it takes 16*8*16 / 256 = 8 cycles.

    ``skip_zero_tiles`` makes the baseline as generous as possible: a tile whose weights
    are all zero is skipped (a block-sparse kernel). With unstructured random sparsity
    such tiles are rare (a 16 x 16 tile is all zero with probability s^256).

    Does not handle: 2:4 structured sparsity (an unstructured random mask does not have
    that pattern), memory bandwidth, caches, kernel launch overheads.
    """

    n_units: int = 108 * 4  # Tensor Cores working in parallel
    tile_m: int = 16  # weight rows (output features) per tile
    tile_k: int = 16  # weight columns (input features) per tile
    tile_n: int = 8  # tokens per tile
    cycles_per_tile_op: int = 8  # 16*8*16 MACs / 256 MAC per cycle
    clock_hz: float = 1.41e9
    skip_zero_tiles: bool = True

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "skip_zero_tiles":
                if not isinstance(value, bool):
                    raise AcceleratorError(f"SIMD parameter skip_zero_tiles must be True or False, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise AcceleratorError(f"SIMD parameter {f.name} must be a finite number, got {value!r}")
            if f.name == "clock_hz":
                if value <= 0:
                    raise AcceleratorError(f"SIMD parameter {f.name} must be positive, got {value!r}")
            elif value <= 0 or int(value) != value:
                raise AcceleratorError(f"SIMD parameter {f.name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "SIMDMachine":
        return replace(self, **changes)


A100_LIKE = SIMDMachine()
