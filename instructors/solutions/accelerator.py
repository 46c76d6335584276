"""Worked solutions to tutorials/exercises/accelerator.py (track ``accelerator``).

Try the exercises first. Written from the machine's description (MediSwift App. B;
tutorial 08), not by calling the emulator -- the checker compares these against it:

    python -m mediswift_np.exercises check accelerator --file instructors/solutions/accelerator.py
"""

from __future__ import annotations

import numpy as np

TRACK = "accelerator"

# ----------------------------------------------------------------------------- exercise 1


def theoretical_speedup(sparsity: float) -> float:
    return 1 / (1 - sparsity)  # the sparse kernel does (1 - s) of the dense work


# ----------------------------------------------------------------------------- exercise 2


def tile_bounds(n: int, parts: int) -> np.ndarray:
    """Where np.array_split cuts n items into ``parts`` pieces: the first n % parts one longer."""
    sizes = [n // parts + (1 if i < n % parts else 0) for i in range(parts)]
    return np.concatenate([[0], np.cumsum(sizes)])


def load_limited_speedup(mask: np.ndarray, mesh_rows: int, mesh_cols: int) -> float:
    rb, cb = tile_bounds(mask.shape[0], mesh_rows), tile_bounds(mask.shape[1], mesh_cols)
    largest_tile = int(np.diff(rb).max()) * int(np.diff(cb).max())  # the slowest dense PE
    busiest = max(int(mask[rb[i]:rb[i + 1], cb[j]:cb[j + 1]].sum())
                  for i in range(mesh_rows) for j in range(mesh_cols))  # the slowest sparse PE
    return largest_tile / busiest


# ----------------------------------------------------------------------------- exercise 3


def amdahl_speedup(share: float, matrix_speedup: float) -> float:
    new_time = (1 - share) + share / matrix_speedup  # in units of the dense step
    return 1 / new_time
