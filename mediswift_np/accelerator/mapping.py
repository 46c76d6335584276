"""Mapping a linear layer onto the mesh: tiling and compressed weight storage.

A linear layer computes ``Y = X @ W.T`` with ``W`` of shape (rows, cols) = (out, in) and
``X`` of shape (B, cols), B tokens. On the dataflow machine (paper App. B; Lie 2022a):

  * ``W`` is cut into a ``mesh_rows x mesh_cols`` grid of tiles, one per PE; PE (i, j)
    keeps tile ``W[rows_i, cols_j]`` resident in its SRAM for the whole run.
  * The **sparse kernel** stores a tile compressed by columns: the nonzero values, the
    row index of each, and one pointer per column (compressed sparse columns). The
    indices and pointers are metadata and count against SRAM.
  * The **dense kernel** (the baseline on the same machine) stores every weight, zeros
    included, with no metadata, and multiplies all of them.
  * Activations ``X[:, cols_j]`` are broadcast down mesh column j; partial sums of mesh
    row i are reduced along the row. Each PE keeps two buffers of ``tile_rows`` FP32
    partial sums (one being filled, one being sent) -- they count against SRAM too.

Tiles are as even as possible (sizes differ by at most one, like ``np.array_split``).
:func:`choose_mesh` picks the default mesh: the smallest region in which even a
*fully dense* tile fits in compressed form, so that the dense and every sparse run use
the same mapping and only the stored nonzeros differ.

Does not handle: placing several layers at once, rectangular regions with holes, or
weights that do not fit on the wafer (reported as an error, never silently truncated).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .machine import AcceleratorError, Machine

KERNELS = ("sparse", "dense")


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise a one-line AcceleratorError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise AcceleratorError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_sparsity(sparsity) -> float:
    """Return ``sparsity`` as a float, or raise unless 0 <= s < 1."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) or not 0.0 <= sparsity < 1.0:
        raise AcceleratorError(f"sparsity must be in [0, 1), got {sparsity!r}")
    return float(sparsity)


def check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise AcceleratorError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    return kernel


def check_layer(x, weight, mapping: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (B, cols) and ``weight`` (rows, cols) as arrays, or an AcceleratorError unless they fit ``mapping``."""
    x, weight = np.asarray(x), np.asarray(weight)
    if weight.shape != (mapping.rows, mapping.cols) or x.ndim != 2 or x.shape[1] != mapping.cols:
        raise AcceleratorError(f"shapes do not match: x {x.shape}, weight {weight.shape}, mapping {mapping.rows}x{mapping.cols}")
    return x, weight


def tile_bounds(n: int, parts: int) -> np.ndarray:
    """Offsets (parts + 1,) cutting ``n`` items into ``parts`` tiles as evenly as possible.

    The first ``n % parts`` tiles get one extra item, as in ``np.array_split``.

    Example:
        >>> tile_bounds(10, 4).tolist()
        [0, 3, 6, 8, 10]
    """
    sizes = np.full(parts, n // parts, dtype=np.int64)
    sizes[: n % parts] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


@dataclass(frozen=True)
class Mapping:
    """A (rows x cols) weight matrix cut into a (mesh_rows x mesh_cols) grid of tiles.

    Example:
        >>> m = Mapping(rows=12288, cols=12288, mesh_rows=128, mesh_cols=128)
        >>> int(m.tile_rows.max()), int(m.tile_cols.max()), m.n_pes
        (96, 96, 16384)
    """

    rows: int
    cols: int
    mesh_rows: int
    mesh_cols: int

    def __post_init__(self):
        for name in ("rows", "cols", "mesh_rows", "mesh_cols"):
            check_positive_int(name, getattr(self, name))
        if self.mesh_rows > self.rows or self.mesh_cols > self.cols:
            raise AcceleratorError(
                f"mesh {self.mesh_rows}x{self.mesh_cols} has more PEs per side than the {self.rows}x{self.cols} "
                "matrix has rows/cols (a PE would hold an empty tile)"
            )

    @property
    def n_pes(self) -> int:
        return self.mesh_rows * self.mesh_cols

    @property
    def row_bounds(self) -> np.ndarray:
        return tile_bounds(self.rows, self.mesh_rows)

    @property
    def col_bounds(self) -> np.ndarray:
        return tile_bounds(self.cols, self.mesh_cols)

    @property
    def tile_rows(self) -> np.ndarray:
        """(mesh_rows,) rows of W held by each mesh row."""
        return np.diff(self.row_bounds)

    @property
    def tile_cols(self) -> np.ndarray:
        """(mesh_cols,) columns of W held by each mesh column."""
        return np.diff(self.col_bounds)

    def tile_sizes(self) -> np.ndarray:
        """(mesh_rows, mesh_cols) number of weights in each PE's tile."""
        return np.outer(self.tile_rows, self.tile_cols)


def sram_bytes(kernel: str, nnz, tile_rows, tile_cols, machine: Machine):
    """Bytes of SRAM a PE needs for its tile (works elementwise on arrays).

    sparse: nnz (value + index) + (tile_cols + 1) column pointers + 2 partial-sum buffers
    dense:  tile_rows * tile_cols values + 2 partial-sum buffers

    Example:
        >>> int(sram_bytes("sparse", 9216, 96, 96, Machine()))  # a fully dense 96 x 96 tile
        37826
    """
    check_kernel(kernel)
    partial_sums = 2 * np.asarray(tile_rows) * machine.accumulator_bytes  # double-buffered FP32 partial sums
    if kernel == "dense":
        return np.asarray(tile_rows) * np.asarray(tile_cols) * machine.value_bytes + partial_sums
    weights = np.asarray(nnz) * (machine.value_bytes + machine.index_bytes)
    pointers = (np.asarray(tile_cols) + 1) * machine.pointer_bytes
    return weights + pointers + partial_sums


def max_tile_side(machine: Machine) -> int:
    """Largest t such that a fully dense t x t tile fits in SRAM in compressed form.

    Example:
        >>> max_tile_side(Machine())
        109
    """
    t = 1
    if sram_bytes("sparse", 1, 1, 1, machine) > machine.sram_bytes_per_pe:
        raise AcceleratorError(f"a single weight does not fit in sram_bytes_per_pe={machine.sram_bytes_per_pe}")
    while sram_bytes("sparse", (t + 1) ** 2, t + 1, t + 1, machine) <= machine.sram_bytes_per_pe:
        t += 1
    return t


def _mesh_side(n: int, t_max: int) -> int:
    """Fewest tiles along a side of length n with at most t_max each, preferring an exact
    divisor of n (even tiles, no built-in imbalance) if one is within 25% more PEs."""
    fewest = math.ceil(n / t_max)
    for parts in range(fewest, min(n, math.ceil(1.25 * fewest)) + 1):
        if n % parts == 0:
            return parts
    return fewest


def choose_mesh(rows: int, cols: int, machine: Machine) -> Mapping:
    """The default mapping: the smallest mesh whose tiles fit in SRAM even when dense.

    Example:
        >>> m = choose_mesh(12288, 12288, Machine())   # a GPT-3 12k x 12k layer
        >>> (m.mesh_rows, m.mesh_cols)
        (128, 128)
    """
    rows, cols = check_positive_int("rows", rows), check_positive_int("cols", cols)
    t = max_tile_side(machine)
    mapping = Mapping(rows, cols, _mesh_side(rows, t), _mesh_side(cols, t))
    if mapping.n_pes > machine.n_pes:
        raise AcceleratorError(
            f"a {rows}x{cols} layer needs a {mapping.mesh_rows}x{mapping.mesh_cols} mesh "
            f"({mapping.n_pes} PEs) but the machine has n_pes={machine.n_pes}"
        )
    return mapping


@dataclass(frozen=True)
class CompressedTile:
    """One PE's tile in compressed sparse columns: column c's nonzeros are
    ``values[col_ptr[c]:col_ptr[c+1]]`` at rows ``row_index[col_ptr[c]:col_ptr[c+1]]``."""

    n_rows: int
    n_cols: int
    col_ptr: np.ndarray  # (n_cols + 1,)
    row_index: np.ndarray  # (nnz,)
    values: np.ndarray  # (nnz,)

    @property
    def nnz(self) -> int:
        return int(self.col_ptr[-1])


def compress_tile(tile: np.ndarray) -> CompressedTile:
    """Keep only the nonzeros of ``tile`` (column by column, rows increasing).

    Example:
        >>> t = compress_tile(np.array([[0.0, 2.0], [3.0, 0.0]]))
        >>> t.col_ptr.tolist(), t.row_index.tolist(), t.values.tolist()
        ([0, 1, 2], [1, 0], [3.0, 2.0])
    """
    n_rows, n_cols = tile.shape
    col_ptr, row_index, values = [0], [], []
    for c in range(n_cols):
        for r in range(n_rows):
            if tile[r, c] != 0:
                row_index.append(r)
                values.append(tile[r, c])
        col_ptr.append(len(values))
    return CompressedTile(
        n_rows, n_cols, np.array(col_ptr, dtype=np.int64), np.array(row_index, dtype=np.int64),
        np.array(values, dtype=tile.dtype),
    )


def nnz_per_pe(weight: np.ndarray, mapping: Mapping) -> np.ndarray:
    """(mesh_rows, mesh_cols) count of nonzero weights in each PE's tile (vectorised)."""
    nonzero = (weight != 0).astype(np.int64)
    per_row_tile = np.add.reduceat(nonzero, mapping.col_bounds[:-1], axis=1)  # (rows, mesh_cols)
    return np.add.reduceat(per_row_tile, mapping.row_bounds[:-1], axis=0)  # (mesh_rows, mesh_cols)
