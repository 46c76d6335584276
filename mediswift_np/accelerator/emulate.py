"""The reference emulator: every activation message and every nonzero, one at a time.

This is the slow, obvious path (STYLE habit 8). It runs ``Y = X @ W.T`` on the mesh
the way the dataflow machine does (paper App. B; Lie 2022a) and counts events per PE:

  1. Load: PE (i, j) stores its tile of W -- compressed (values + row indices + column
     pointers) for the sparse kernel, every weight for the dense kernel.
  2. Stream: for each token b, the activations X[b, cols_j] arrive at the PEs of mesh
     column j one message at a time (value + column index). An arriving activation
     *triggers* work only where it meets a stored nonzero: the PE reads each nonzero's
     row index (metadata) and does acc[b, row] += x * w. Zeros cost nothing -- they
     are not stored, so no instruction ever touches them (dataflow triggering).
     The dense kernel multiplies every weight of the column, zeros included.
  3. Reduce: along mesh row i, PE (i, 0) sends its partial sums east; each next PE
     receives them, adds its own, and forwards; the last PE holds Y[:, rows_i].

The counts go to :func:`.costs.cycle_report`; :mod:`.fast` computes the same counts
and result vectorised. Use this module only on small matrices (Python loops).

Does not handle: timing of individual messages (the cost model works on totals per
PE), activation sparsity (zero activations are sent and processed like any other).
"""

from __future__ import annotations

import numpy as np

from .costs import PECounts
from .machine import Machine
from .mapping import Mapping, check_kernel, check_layer, compress_tile, sram_bytes


def emulate_layer(x: np.ndarray, weight: np.ndarray, mapping: Mapping, machine: Machine, kernel: str = "sparse"):
    """Run X @ W.T element by element on the mesh; return (Y, PECounts).

    Example:
        >>> w = np.array([[1.0, 0.0], [0.0, 2.0]]); x = np.array([[3.0, 4.0]])
        >>> y, counts = emulate_layer(x, w, Mapping(2, 2, 1, 2), Machine())
        >>> y.tolist(), counts.macs.tolist()
        ([[3.0, 8.0]], [[1, 1]])
    """
    check_kernel(kernel)
    x, weight = check_layer(x, weight, mapping)
    B = x.shape[0]
    Pr, Pc = mapping.mesh_rows, mapping.mesh_cols
    rb, cb = mapping.row_bounds, mapping.col_bounds
    dtype = np.result_type(x, weight)
    activation_message = machine.messages_for(machine.value_bytes + machine.index_bytes)
    partial_sum_message = machine.messages_for(machine.accumulator_bytes)

    macs = np.zeros((Pr, Pc), dtype=np.int64)
    index_reads = np.zeros((Pr, Pc), dtype=np.int64)
    activation_messages = np.zeros((Pr, Pc), dtype=np.int64)
    partial_sum_messages = np.zeros((Pr, Pc), dtype=np.int64)
    sram = np.zeros((Pr, Pc), dtype=np.int64)
    partial = {}  # (i, j) -> (B, tile_rows) partial sums of PE (i, j)

    for i in range(Pr):
        for j in range(Pc):
            tile = weight[rb[i] : rb[i + 1], cb[j] : cb[j + 1]]
            n_rows, n_cols = tile.shape
            # 1. load the tile into SRAM
            if kernel == "sparse":
                stored = compress_tile(tile)
                sram[i, j] = sram_bytes("sparse", stored.nnz, n_rows, n_cols, machine)
            else:
                sram[i, j] = sram_bytes("dense", n_rows * n_cols, n_rows, n_cols, machine)
            # 2. stream the activations through it
            acc = np.zeros((B, n_rows), dtype=dtype)
            for b in range(B):
                for c in range(n_cols):
                    a = x[b, cb[j] + c]  # one activation message arrives (value + column index)
                    activation_messages[i, j] += activation_message
                    if kernel == "sparse":
                        for k in range(stored.col_ptr[c], stored.col_ptr[c + 1]):  # only stored nonzeros
                            r = stored.row_index[k]  # metadata: where this nonzero's product goes
                            index_reads[i, j] += 1
                            acc[b, r] += a * stored.values[k]
                            macs[i, j] += 1
                    else:
                        for r in range(n_rows):  # every weight, zeros included
                            acc[b, r] += a * tile[r, c]
                            macs[i, j] += 1
            partial[i, j] = acc

    # 3. reduce partial sums along each mesh row, west to east
    y = np.empty((B, mapping.rows), dtype=dtype)
    for i in range(Pr):
        running = partial[i, 0].copy()
        for j in range(1, Pc):
            mine = partial[i, j]
            for b in range(B):
                for r in range(running.shape[1]):
                    partial_sum_messages[i, j] += partial_sum_message  # received from PE (i, j - 1)
                    running[b, r] = running[b, r] + mine[b, r]
        y[:, rb[i] : rb[i + 1]] = running

    counts = PECounts(kernel, B, mapping, macs, index_reads, activation_messages, partial_sum_messages, sram)
    return y, counts
