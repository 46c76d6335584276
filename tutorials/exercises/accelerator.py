"""Track ``accelerator``: the dataflow machine's speedup, for one sparse layer and for a whole step (unit 08).

Copy this file, ``cp tutorials/exercises/accelerator.py my_accelerator.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check accelerator --file my_accelerator.py

or just ``python my_accelerator.py``. Read the track's preface first, ``accelerator.md`` in
this folder, and tutorial 08 (``tutorials/08_dataflow_accelerator.ipynb``: §1 the machine,
§2 one layer element by element, §3 the Fig. 3 analog, §6 Amdahl's law). Plain Python
and NumPy; the checker compares with the emulator (mediswift_np.accelerator), so look
there only afterwards.
"""

from __future__ import annotations

import numpy as np  # noqa: F401

TRACK = "accelerator"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1


def theoretical_speedup(sparsity: float) -> float:
    """Dense time / sparse time if the work were exactly proportional to the nonzero
    weights (Fig. 3's theoretical curve). E.g. 4.0 at sparsity 0.75."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def load_limited_speedup(mask: np.ndarray, mesh_rows: int, mesh_cols: int) -> float:
    """Speedup of the sparse kernel over the dense kernel on the emulated dataflow machine,
    counting compute only.

    ``mask`` is a (rows, cols) bool array, True where W (out × in) keeps a weight. The
    machine cuts W into a mesh_rows × mesh_cols grid of tiles, one per processing
    element (PE): rows into mesh_rows pieces and cols into mesh_cols pieces, as evenly as
    possible, the first (n % parts) pieces one longer (like np.array_split). Per token, a
    PE running the dense kernel does one multiply-accumulate per weight of its tile,
    zeros included; running the sparse kernel, one per nonzero of its tile. All PEs work
    in parallel and the layer is done when the slowest PE is.

    Check by hand: a 6 × 4 mask on a 2 × 2 mesh has tiles of 3 × 2 = 6 weights; if the
    busiest PE keeps 4 of its 6, the speedup is 6 / 4 = 1.5.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def amdahl_speedup(share: float, matrix_speedup: float) -> float:
    """Speedup of a whole training step when a fraction ``share`` (f) of the dense step's
    time is spent in the sparse matrices and those become ``matrix_speedup`` (k) times
    faster, while the rest of the step (embeddings, attention scores, softmax, logits)
    takes as long as before. E.g. f = 0.5, k = 2 gives 4/3."""
    raise NotImplementedError


if __name__ == "__main__":  # python my_accelerator.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
