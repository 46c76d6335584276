"""The dense SIMD (GPU-like) baseline: fixed tiles, so unstructured zeros save nothing.

A GPU's matrix units multiply fixed-size tiles: one instruction takes a ``tile_m x
tile_k`` block of W and a ``tile_k x tile_n`` block of X^T and does all tile_m*tile_k*tile_n
MACs, whether the weights are zero or not. The best a kernel can do with a mask is
to skip tiles whose weights are *all* zero (block sparsity). Under MediSwift's
unstructured random mask (Sec. 3.3) a tile of K = tile_m * tile_k weights is all zero
with probability s^K -- at s = 0.9 and K = 256 that is 2e-12 -- so the SIMD machine
runs ~1x faster however sparse the layer is, while the dataflow machine
(:mod:`.costs`) approaches 1/(1-s).

    tile_ops = (occupied weight tiles) * ceil(B / tile_n)
    cycles   = ceil(tile_ops / n_units) * cycles_per_tile_op

Does not handle: 2:4 structured sparsity, memory bandwidth, caches, occupancy or
launch overheads -- the baseline is deliberately generous to the GPU.
"""

from __future__ import annotations

import math

import numpy as np

from .machine import AcceleratorError, SIMDMachine
from .mapping import check_positive_int


def tile_occupancy(weight: np.ndarray, simd: SIMDMachine) -> np.ndarray:
    """(ceil(rows/tile_m), ceil(cols/tile_k)) bool: does the weight tile hold a nonzero?

    Example:
        >>> w = np.zeros((32, 16)); w[20, 3] = 1.0
        >>> tile_occupancy(w, SIMDMachine()).tolist()
        [[False], [True]]
    """
    return occupancy_of_rows(weight != 0, simd.tile_k, simd.tile_m)


def occupancy_of_rows(nonzero: np.ndarray, tile_k: int, tile_m: int) -> np.ndarray:
    """Group a (rows, cols) bool array into (tile_m x tile_k) tiles; any nonzero per tile."""
    return merge_tile_rows(row_tile_occupancy(nonzero, tile_k), tile_m)


def merge_tile_rows(row_occupancy: np.ndarray, tile_m: int) -> np.ndarray:
    """(rows, n_k) per-row occupancy -> (n_m, n_k): a tile is occupied if any of its tile_m rows is."""
    return np.logical_or.reduceat(row_occupancy, np.arange(0, row_occupancy.shape[0], tile_m), axis=0)  # (n_m, n_k)


def row_tile_occupancy(nonzero: np.ndarray, tile_k: int) -> np.ndarray:
    """(rows, ceil(cols/tile_k)) bool: does row r hold a nonzero in column tile k?"""
    rows, cols = nonzero.shape
    if nonzero.dtype == np.bool_ and tile_k % 8 == 0 and cols % tile_k == 0 and nonzero.flags.c_contiguous:
        # Fast path: 8 bools are one uint64 word; a tile row is nonzero iff the OR of its words is.
        words = nonzero.view(np.uint64).reshape(rows, cols // tile_k, tile_k // 8)  # (rows, n_k, words)
        acc = words[:, :, 0].copy()
        for w in range(1, tile_k // 8):
            acc |= words[:, :, w]
        return acc != 0
    return np.logical_or.reduceat(nonzero, np.arange(0, cols, tile_k), axis=1)  # (rows, n_k)


def simd_tile_ops(n_tiles: int, batch: int, simd: SIMDMachine) -> int:
    """Tile instructions for ``n_tiles`` weight tiles and ``batch`` tokens."""
    return int(n_tiles) * math.ceil(check_positive_int("batch", batch) / simd.tile_n)


def simd_cycles(n_tiles: int, batch: int, simd: SIMDMachine) -> int:
    """Cycles when ``n_units`` matrix units share the tile instructions evenly."""
    return math.ceil(simd_tile_ops(n_tiles, batch, simd) / simd.n_units) * simd.cycles_per_tile_op


def simd_report(occupancy: np.ndarray, batch: int, simd: SIMDMachine) -> dict:
    """Dense vs masked cycles on the SIMD machine for one layer (the contrast to Fig. 3)."""
    all_tiles = int(occupancy.size)
    used = int(occupancy.sum()) if simd.skip_zero_tiles else all_tiles
    dense, sparse = simd_cycles(all_tiles, batch, simd), simd_cycles(used, batch, simd)
    return {
        "dense_cycles": dense,
        "sparse_cycles": sparse,
        "speedup": dense / sparse if sparse else None,  # None: every weight tile is empty
        "weight_tiles": all_tiles,
        "occupied_tiles": used,
        "seconds": sparse / simd.clock_hz,
    }


def simd_emulate(x: np.ndarray, weight: np.ndarray, simd: SIMDMachine):
    """Reference: compute X @ W.T tile by tile, multiplying zeros; return (Y, tile_ops).

    Example:
        >>> w = np.ones((16, 16)); x = np.ones((3, 16))
        >>> y, ops = simd_emulate(x, w, SIMDMachine())
        >>> float(y[0, 0]), ops
        (16.0, 1)
    """
    x, weight = np.asarray(x), np.asarray(weight)
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise AcceleratorError(f"shapes do not match: x {x.shape}, weight {weight.shape}")
    B, (rows, cols) = x.shape[0], weight.shape
    y = np.zeros((B, rows), dtype=np.result_type(x, weight))
    tile_ops = 0
    for m0 in range(0, rows, simd.tile_m):
        for k0 in range(0, cols, simd.tile_k):
            w_tile = weight[m0 : m0 + simd.tile_m, k0 : k0 + simd.tile_k]  # (tile_m, tile_k)
            if simd.skip_zero_tiles and not np.any(w_tile):
                continue
            for n0 in range(0, B, simd.tile_n):
                x_tile = x[n0 : n0 + simd.tile_n, k0 : k0 + simd.tile_k]  # (tile_n, tile_k)
                y[n0 : n0 + simd.tile_n, m0 : m0 + simd.tile_m] += x_tile @ w_tile.T  # every MAC, zeros too
                tile_ops += 1
    return y, tile_ops
