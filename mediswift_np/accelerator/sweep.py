"""One sparse layer on both machines, and the Fig. 3 sparsity sweep.

MediSwift Fig. 3 plots the measured speedup of a GPT-3 12k x 12k matmul on the CS-2
against the theoretical 1 / (1 - s). :func:`run_layers` reproduces that experiment on
the emulated machine for any (rows x cols) layer, streaming the weight matrix one
mesh row (a band of ``tile_rows`` rows) at a time so that a 151M-weight matrix never
has to exist in memory at once:

  * mask: every weight gets a random priority u ~ U[0, 1) (float32) and is kept when
    u >= s -- an unstructured random mask (MediSwift Sec. 3.3, random pruning) with
    keep probability 1 - s. The masks of a sweep are nested (one u for all s).
  * values: ``"integer"`` draws nonzero weights from {-8..-1, 1..8} and activations from
    {-8..8} as float64: every product and every partial sum is then an exact integer,
    so any summation order gives the same bits and ``max_abs_error`` must be exactly 0
    -- a nonzero error can only be a routing bug. ``"normal"`` draws N(0, 1) values; then
    the error is rounding, bounded by gamma_n sum|x||w| (Higham 2002, Eq. 3.5).
  * counts: nonzeros per PE -> :func:`.fast.count_events` -> :func:`.costs.cycle_report`,
    for the sparse kernel and for the dense kernel on the same mapping.
  * result: the first ``verify_tokens`` tokens are computed in the emulator's exact
    summation order (:func:`.fast.mesh_row_output`, proven bitwise equal to the
    element-by-element emulator by the tests) and compared with NumPy's ``X @ W.T``
    for every output row of the layer.
  * the SIMD baseline counts occupied weight tiles (:mod:`.simd`).

Does not handle: masks other than uniform random (no structured or learned masks).
"""

from __future__ import annotations

import numpy as np

from .costs import check_disabled, cycle_report
from .fast import count_events, mesh_row_output
from .machine import A100_LIKE, AcceleratorError, Machine, SIMDMachine
from .mapping import Mapping, check_positive_int, check_sparsity, choose_mesh
from .simd import merge_tile_rows, row_tile_occupancy, simd_report

VALUE_KINDS = ("integer", "normal")
FIG3_SPARSITIES = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.97, 0.99)  # paper Fig. 3 levels and beyond
GPT3_D_MODEL = 12288  # GPT-3 175B d_model: the "12k x 12k" matrix of Fig. 3


def draw_values(rng: np.random.Generator, shape, kind: str, nonzero: bool) -> np.ndarray:
    """Random float64 values: small integers (exact arithmetic) or N(0, 1)."""
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind != "integer":
        raise AcceleratorError(f"values must be one of {', '.join(VALUE_KINDS)}, got {kind!r}")
    if not nonzero:
        return rng.integers(-8, 9, size=shape, dtype=np.int8).astype(np.float64)
    v = rng.integers(-8, 8, size=shape, dtype=np.int8)  # {-8..7}
    v[v >= 0] += 1  # {-8..-1, 1..8}: a kept weight is never zero
    return v.astype(np.float64)


def layer_bands(mapping: Mapping, tokens: int, rng: np.random.Generator, values: str = "integer"):
    """The synthetic layer, one mesh row at a time: returns (x, bands).

    ``x`` is (tokens, cols); ``bands`` yields (i, priority, band_values) for mesh row i,
    both (tile_rows_i, cols): the mask at sparsity s is ``priority >= s`` and the weights
    are ``band_values * mask`` (``band_values`` is None when ``tokens`` is 0).
    Three child generators (mask, weights, activations) keep each stream independent of
    how many tokens are verified.
    """
    mask_rng, weight_rng, x_rng = (np.random.default_rng(s) for s in rng.integers(0, 2**63, size=3))
    x = draw_values(x_rng, (tokens, mapping.cols), values, nonzero=False)
    rb = mapping.row_bounds

    def bands():
        for i in range(mapping.mesh_rows):
            priority = mask_rng.random((rb[i + 1] - rb[i], mapping.cols), dtype=np.float32)  # (r_i, cols)
            band_values = draw_values(weight_rng, priority.shape, values, nonzero=True) if tokens else None
            yield i, priority, band_values

    return x, bands()


def synthetic_layer(mapping: Mapping, sparsity: float, tokens: int, rng: np.random.Generator, values: str = "integer"):
    """The whole (x, W) that :func:`run_layers` streams, materialised (small layers only).

    Example:
        >>> x, w = synthetic_layer(Mapping(4, 6, 2, 3), 0.5, 2, np.random.default_rng(0))
        >>> x.shape, w.shape
        ((2, 6), (4, 6))
    """
    s = check_sparsity(sparsity)
    x, bands = layer_bands(mapping, check_positive_int("tokens", tokens), rng, values)
    weight = np.concatenate([band * (priority >= np.float32(s)) for _, priority, band in bands], axis=0)
    return x, weight


def rounding_bound(x: np.ndarray, weight: np.ndarray) -> float:
    """max over outputs of gamma_n * sum_k |x_k||w_k|, gamma_n = n u / (1 - n u) (Higham 2002, Eq. 3.5)."""
    n, u = x.shape[1], np.finfo(np.float64).eps / 2
    return float((n * u / (1 - n * u)) * (np.abs(x) @ np.abs(weight).T).max())


def run_layers(
    rows: int,
    cols: int,
    sparsities,
    batch: int,
    machine: Machine = Machine(),
    mapping: Mapping | None = None,
    simd: SIMDMachine = A100_LIKE,
    rng: np.random.Generator | None = None,
    values: str = "integer",
    verify_tokens: int | None = None,
    disabled=frozenset(),
    progress=None,
) -> list[dict]:
    """Emulate a (rows x cols) layer at each sparsity; one report dict per sparsity.

    ``verify_tokens`` (default: all ``batch``) tokens are checked against NumPy; 0
    skips the check (``max_abs_error`` is then None). ``progress`` is an optional
    callable receiving the number of mesh rows done (for a tqdm bar).

    Example:
        >>> r = run_layers(96, 96, [0.5], batch=2, rng=np.random.default_rng(0))[0]
        >>> r["max_abs_error"], r["theoretical_speedup"]
        (0.0, 2.0)
    """
    rows, cols, batch = (check_positive_int(n, v) for n, v in (("rows", rows), ("cols", cols), ("batch", batch)))
    sparsities = [check_sparsity(s) for s in sparsities]
    disabled = check_disabled(disabled)
    if values not in VALUE_KINDS:
        raise AcceleratorError(f"values must be one of {', '.join(VALUE_KINDS)}, got {values!r}")
    if mapping is None:
        mapping = choose_mesh(rows, cols, machine)
    elif (mapping.rows, mapping.cols) != (rows, cols):
        raise AcceleratorError(f"mapping is for a {mapping.rows}x{mapping.cols} matrix, not {rows}x{cols}")
    verify_tokens = batch if verify_tokens is None else int(verify_tokens)
    if not 0 <= verify_tokens <= batch:
        raise AcceleratorError(f"verify_tokens must be in [0, batch={batch}], got {verify_tokens}")
    rb, cb = mapping.row_bounds, mapping.col_bounds
    n = len(sparsities)
    nnz = np.zeros((n, mapping.mesh_rows, mapping.mesh_cols), dtype=np.int64)
    kept = np.zeros(n, dtype=np.int64)
    occupancy_rows = np.zeros((n, rows, -(-cols // simd.tile_k)), dtype=bool)  # per row: SIMD k-tiles touched
    max_err = np.zeros(n)
    bound = np.zeros(n)
    x, bands = layer_bands(mapping, verify_tokens, np.random.default_rng(0) if rng is None else rng, values)
    for i, priority, band_values in bands:  # one band of W (one mesh row of PEs) at a time
        for k, s in enumerate(sparsities):
            keep = priority >= np.float32(s)  # MediSwift Sec. 3.3: unstructured random mask, keep prob. 1 - s
            nnz[k, i] = np.add.reduceat(keep.sum(axis=0, dtype=np.int64), cb[:-1])  # (Pc,) nonzeros per PE
            kept[k] += int(nnz[k, i].sum())
            occupancy_rows[k, rb[i] : rb[i + 1]] = row_tile_occupancy(keep, simd.tile_k)
            if verify_tokens:
                band = band_values * keep  # (r_i, cols) the masked weights of this mesh row
                emulated = mesh_row_output(x, band, cb)  # (verify_tokens, r_i), the emulator's order
                reference = x @ band.T  # NumPy (BLAS)
                max_err[k] = max(max_err[k], float(np.abs(emulated - reference).max()))
                if values == "normal":
                    bound[k] = max(bound[k], rounding_bound(x, band))
        if progress is not None:
            progress(1)

    dense_report = cycle_report(count_events(nnz[0], mapping, batch, "dense", machine), machine, disabled)
    reports = []
    for k, s in enumerate(sparsities):
        sparse_report = cycle_report(count_events(nnz[k], mapping, batch, "sparse", machine), machine, disabled)
        occupancy = merge_tile_rows(occupancy_rows[k], simd.tile_m)
        reports.append(
            {
                "rows": rows,
                "cols": cols,
                "batch": batch,
                "sparsity": s,
                "mask_sparsity": 1.0 - kept[k] / (rows * cols),
                "mesh": [mapping.mesh_rows, mapping.mesh_cols],
                "dense_cycles": dense_report.total_cycles,
                "sparse_cycles": sparse_report.total_cycles,
                "speedup": dense_report.total_cycles / sparse_report.total_cycles,
                "theoretical_speedup": 1.0 / (1.0 - s),  # Fig. 3's theoretical line
                "max_abs_error": float(max_err[k]) if verify_tokens else None,
                "rounding_bound": float(bound[k]) if values == "normal" and verify_tokens else 0.0,
                "verified_tokens": verify_tokens,
                "values": values,
                "sparse": sparse_report.to_dict(),
                "dense": dense_report.to_dict(),
                "simd": simd_report(occupancy, batch, simd),
            }
        )
    return reports

