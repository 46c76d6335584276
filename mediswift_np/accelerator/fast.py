"""Vectorised emulation: the same counts and the same result as :mod:`.emulate`, fast.

The reference emulator walks every activation message and every nonzero in Python;
that is readable but far too slow for a 12288 x 12288 GPT-3 matrix (151M weights).
Here the counts come in closed form from the number of nonzeros per PE, and the result
is computed with NumPy in *the same summation order* as the reference, so both
functions give identical counts and a bitwise identical result (tests/test_accelerator.py
joins them on small matrices).

Counts per PE (i, j) with tile r_i x c_j, n_ij nonzeros, B tokens:

    macs                 = B * n_ij            (sparse: only nonzeros)  |  B * r_i * c_j  (dense)
    index_reads          = B * n_ij            (sparse)                 |  0              (dense)
    activation_messages  = B * c_j * messages(value + index)
    partial_sum_messages = B * r_i * messages(FP32)  for j > 0, else 0   (reduction along the row)

Summation order (both emulators): inside a PE, for each token, the partial sum of tile
row r accumulates over the tile's columns left to right, starting from 0.0; then the
partial sums of a mesh row are added left to right, ((p_0 + p_1) + p_2) + ... Adding
the zero products the sparse kernel skips never changes a finite float sum (x + 0.0 ==
x, and a sum starting at +0.0 never becomes -0.0), so the dense loop below reproduces
the sparse kernel's bits.

Does not handle: non-finite inputs (inf * 0 is nan, so skipping zeros would matter).
"""

from __future__ import annotations

import numpy as np

from .costs import PECounts
from .machine import AcceleratorError, Machine
from .mapping import Mapping, check_kernel, check_layer, check_positive_int, nnz_per_pe, sram_bytes


def count_events(nnz: np.ndarray, mapping: Mapping, batch: int, kernel: str, machine: Machine) -> PECounts:
    """Per-PE event counts from the nonzeros per PE, in closed form (see module docstring).

    Example:
        >>> m = Mapping(4, 4, 2, 2)
        >>> c = count_events(np.array([[1, 2], [3, 4]]), m, batch=3, kernel="sparse", machine=Machine())
        >>> c.macs.tolist(), c.partial_sum_messages.tolist()
        ([[3, 6], [9, 12]], [[0, 6], [0, 6]])
    """
    check_kernel(kernel)
    batch = check_positive_int("batch", batch)
    nnz = np.asarray(nnz, dtype=np.int64)
    if nnz.shape != (mapping.mesh_rows, mapping.mesh_cols):
        raise AcceleratorError(f"nnz has shape {nnz.shape}, expected the mesh shape {(mapping.mesh_rows, mapping.mesh_cols)}")
    r = mapping.tile_rows[:, None]  # (Pr, 1)
    c = mapping.tile_cols[None, :]  # (1, Pc)
    tile = r * c  # (Pr, Pc)
    if np.any(nnz < 0) or np.any(nnz > tile):
        raise AcceleratorError("nnz per PE must be between 0 and the tile size")
    stored = nnz if kernel == "sparse" else tile
    macs = batch * stored
    index_reads = macs if kernel == "sparse" else np.zeros_like(macs)
    shape = tile.shape
    act = np.broadcast_to(batch * c * machine.messages_for(machine.value_bytes + machine.index_bytes), shape)
    west = (np.arange(mapping.mesh_cols) > 0)[None, :]  # PEs with a west neighbour receive partial sums
    psum = batch * r * machine.messages_for(machine.accumulator_bytes) * west
    return PECounts(
        kernel=kernel,
        batch=batch,
        mapping=mapping,
        macs=macs.astype(np.int64),
        index_reads=index_reads.astype(np.int64),
        activation_messages=act.astype(np.int64),
        partial_sum_messages=psum.astype(np.int64),
        sram_bytes=np.broadcast_to(sram_bytes(kernel, stored, r, c, machine), shape).astype(np.int64),
    )


def mesh_row_output(x: np.ndarray, weight_rows: np.ndarray, col_bounds: np.ndarray) -> np.ndarray:
    """Outputs of one mesh row (a band of W's rows) in the emulator's summation order.

    Args:
        x: (B, cols) activations.
        weight_rows: (r, cols) the band of W held by one mesh row (zeros where masked).
        col_bounds: (Pc + 1,) column offsets of the mesh columns.
    Returns:
        (B, r) outputs, bitwise equal to the reference emulator's.
    """
    B = x.shape[0]
    r = weight_rows.shape[0]
    widths = np.diff(col_bounds)
    Pc, t = len(widths), int(widths.max())
    dtype = np.result_type(x, weight_rows)
    if np.all(widths == t):  # even tiles: (cols,) -> (Pc, t) is a free reshape
        xp = x.astype(dtype, copy=False).reshape(B, Pc, t)  # (B, Pc, t)
        wp = weight_rows.astype(dtype, copy=False).reshape(r, Pc, t)  # (r, Pc, t)
    else:  # pad every tile to t columns with zeros (zeros do not change the sums, see docstring)
        xp = np.zeros((B, Pc, t), dtype=dtype)
        wp = np.zeros((r, Pc, t), dtype=dtype)
        for j in range(Pc):
            lo, hi = col_bounds[j], col_bounds[j + 1]
            xp[:, j, : hi - lo] = x[:, lo:hi]
            wp[:, j, : hi - lo] = weight_rows[:, lo:hi]
    xt = np.ascontiguousarray(xp.transpose(2, 0, 1))  # (t, B, Pc): column k of every tile is contiguous
    wt = np.ascontiguousarray(wp.transpose(2, 0, 1))  # (t, r, Pc)
    partial = np.zeros((B, r, Pc), dtype=dtype)  # every PE's partial sums at once
    product = np.empty_like(partial)
    for k in range(t):  # tile columns left to right, as each PE does
        np.multiply(xt[k][:, None, :], wt[k][None, :, :], out=product)  # (B, 1, Pc) * (1, r, Pc) -> (B, r, Pc)
        partial += product
    out = np.zeros((B, r), dtype=dtype)
    for j in range(Pc):  # the chain reduction along the mesh row
        out += partial[:, :, j]
    return out


def layer_output(x: np.ndarray, weight: np.ndarray, mapping: Mapping) -> np.ndarray:
    """``x @ weight.T`` computed in the emulator's summation order, (B, rows)."""
    rb, cb = mapping.row_bounds, mapping.col_bounds
    return np.concatenate([mesh_row_output(x, weight[rb[i] : rb[i + 1]], cb) for i in range(mapping.mesh_rows)], axis=1)


def emulate_fast(x: np.ndarray, weight: np.ndarray, mapping: Mapping, machine: Machine, kernel: str = "sparse"):
    """The vectorised twin of :func:`.emulate.emulate_layer`: returns (Y, PECounts)."""
    x, weight = check_layer(x, weight, mapping)
    counts = count_events(nnz_per_pe(weight, mapping), mapping, x.shape[0], kernel, machine)
    return layer_output(x, weight, mapping), counts
