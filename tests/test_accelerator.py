"""Tests of the dataflow-accelerator emulator: results, counts and cycles in closed form.

Exactness: with integer-valued float64 inputs every product and partial sum is an exact
integer, so any summation order (the emulator's, BLAS's) gives the same bits -- the
emulator must equal NumPy's X @ W.T *bitwise*. With random floats the emulator's fixed
order differs from BLAS by rounding only, bounded by gamma_n sum|x||w| (Higham 2002,
Eq. 3.5); and the vectorised emulator reproduces the reference's order bitwise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mediswift_np.accelerator.costs import COST_TERMS, SRAMCapacityError, cycle_report
from mediswift_np.accelerator.emulate import emulate_layer
from mediswift_np.accelerator.fast import count_events, emulate_fast
from mediswift_np.accelerator.machine import AcceleratorError, Machine, SIMDMachine
from mediswift_np.accelerator.mapping import (
    Mapping,
    choose_mesh,
    compress_tile,
    max_tile_side,
    nnz_per_pe,
    sram_bytes,
    tile_bounds,
)
from mediswift_np.accelerator.simd import occupancy_of_rows, simd_emulate, simd_report, tile_occupancy
from mediswift_np.accelerator.sweep import rounding_bound, run_layers, synthetic_layer
from mediswift_np.errors import UserError

M = Machine()
SHAPES = [(13, 17, 3, 4), (16, 16, 2, 2), (7, 5, 1, 1), (9, 20, 4, 3)]  # rows, cols, mesh_rows, mesh_cols


def int_layer(rng, rows, cols, batch, sparsity):
    """Integer-valued float64 X and masked W (exact arithmetic in any order)."""
    w = rng.integers(-8, 9, size=(rows, cols)).astype(np.float64) * (rng.random((rows, cols)) >= sparsity)
    x = rng.integers(-8, 9, size=(batch, cols)).astype(np.float64)
    return x, w


def balanced_weight(rng, mapping, per_tile_keep):
    """A mask with exactly ``per_tile_keep`` nonzeros in every tile (perfectly balanced)."""
    w = np.zeros((mapping.rows, mapping.cols))
    rb, cb = mapping.row_bounds, mapping.col_bounds
    for i in range(mapping.mesh_rows):
        for j in range(mapping.mesh_cols):
            r, c = rb[i + 1] - rb[i], cb[j + 1] - cb[j]
            flat = np.zeros(r * c)
            flat[rng.choice(r * c, per_tile_keep, replace=False)] = rng.integers(1, 9, per_tile_keep)
            w[rb[i] : rb[i + 1], cb[j] : cb[j + 1]] = flat.reshape(r, c)
    return w


# ----------------------------------------------------------------------------- machine and mapping


def test_machine_defaults_are_the_documented_wse2_figures():
    assert M.sram_bytes_per_pe == 48 * 1024  # Lie 2022a
    assert M.macs_per_cycle * M.n_pes == 3_400_000  # James 2021: 3.4M FPUs on 850k cores
    assert M.messages_for(M.value_bytes + M.index_bytes) == 1  # 16-bit value + 16-bit index in 32 bits
    assert M.messages_for(5) == 2  # 40 bits need two 32-bit messages
    assert M.seconds(1.1e9) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [{"sram_bytes_per_pe": -1}, {"macs_per_cycle": 0}, {"macs_per_cycle": 2.5},
                                 {"metadata_cycles_per_nonzero": -0.1}, {"clock_hz": 0.0}, {"hop_latency_cycles": -1}])
def test_bad_machine_parameters_raise_user_errors(bad):
    with pytest.raises(UserError):
        Machine(**bad)


def test_bad_simd_parameters_raise_user_errors():
    with pytest.raises(UserError):
        SIMDMachine(tile_m=0)
    with pytest.raises(UserError):
        SIMDMachine(skip_zero_tiles="yes")


@pytest.mark.parametrize("n,parts", [(10, 4), (12288, 128), (7, 7), (100, 3)])
def test_tile_bounds_split_like_numpy(n, parts):
    sizes = np.diff(tile_bounds(n, parts))
    assert sizes.tolist() == [len(a) for a in np.array_split(np.arange(n), parts)]


def test_mapping_rejects_bad_shapes():
    for args in [(0, 4, 1, 1), (-3, 4, 1, 1), (4, 4, 5, 1), (4, 4, 1, 0)]:
        with pytest.raises(AcceleratorError):
            Mapping(*args)


def test_compress_tile_matches_scipy_csc():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(1)
    tile = rng.standard_normal((9, 7)) * (rng.random((9, 7)) > 0.6)
    t = compress_tile(tile)
    ref = scipy_sparse.csc_matrix(tile)
    ref.sort_indices()
    assert t.col_ptr.tolist() == ref.indptr.tolist()
    assert t.row_index.tolist() == ref.indices.tolist()
    assert np.array_equal(t.values, ref.data)
    assert t.nnz == np.count_nonzero(tile)


def test_sram_bytes_closed_form_and_largest_tile():
    # sparse: nnz (2 + 2) + (cols + 1) 2 + 2 rows 4;  dense: rows cols 2 + 2 rows 4
    assert sram_bytes("sparse", 100, 20, 30, M) == 100 * 4 + 31 * 2 + 2 * 20 * 4
    assert sram_bytes("dense", 0, 20, 30, M) == 20 * 30 * 2 + 2 * 20 * 4
    t = max_tile_side(M)
    assert sram_bytes("sparse", t * t, t, t, M) <= M.sram_bytes_per_pe < sram_bytes("sparse", (t + 1) ** 2, t + 1, t + 1, M)


def test_choose_mesh_gpt3_layer_and_machine_limit():
    m = choose_mesh(12288, 12288, M)
    assert (m.mesh_rows, m.mesh_cols) == (128, 128)  # 96 x 96 tiles, the smallest even split with t <= 109
    assert sram_bytes("sparse", 96 * 96, 96, 96, M) <= M.sram_bytes_per_pe
    with pytest.raises(AcceleratorError, match="n_pes"):
        choose_mesh(12288, 12288, M.with_(n_pes=1000))


# ----------------------------------------------------------------------------- results


@pytest.mark.parametrize("kernel", ["sparse", "dense"])
@pytest.mark.parametrize("shape", SHAPES)
def test_reference_emulator_equals_numpy_bitwise_on_integer_data(shape, kernel):
    rows, cols, pr, pc = shape
    x, w = int_layer(np.random.default_rng(rows * cols), rows, cols, 3, 0.6)
    y, _ = emulate_layer(x, w, Mapping(rows, cols, pr, pc), M, kernel)
    assert np.array_equal(y, x @ w.T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kernel", ["sparse", "dense"])
@pytest.mark.parametrize("shape", SHAPES)
def test_fast_emulator_equals_reference_bitwise_and_counts(shape, kernel, dtype):
    rows, cols, pr, pc = shape
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((rows, cols)) * (rng.random((rows, cols)) > 0.5)).astype(dtype)
    x = rng.standard_normal((4, cols)).astype(dtype)
    mapping = Mapping(rows, cols, pr, pc)
    y_ref, c_ref = emulate_layer(x, w, mapping, M, kernel)
    y_fast, c_fast = emulate_fast(x, w, mapping, M, kernel)
    assert np.array_equal(y_ref, y_fast)  # same summation order -> same bits
    assert c_ref.equals(c_fast)
    assert cycle_report(c_ref, M).to_dict() == cycle_report(c_fast, M).to_dict()


def test_float_result_is_within_the_rounding_bound():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 40))
    w = rng.standard_normal((30, 40)) * (rng.random((30, 40)) > 0.5)
    y, _ = emulate_layer(x, w, Mapping(30, 40, 3, 4), M)
    assert np.abs(y - x @ w.T).max() <= rounding_bound(x, w)


def test_counts_follow_the_stored_weights():
    x, w = int_layer(np.random.default_rng(5), 12, 10, 3, 0.7)
    mapping = Mapping(12, 10, 3, 2)
    _, sparse = emulate_layer(x, w, mapping, M, "sparse")
    _, dense = emulate_layer(x, w, mapping, M, "dense")
    assert sparse.macs.sum() == 3 * np.count_nonzero(w)  # zeros cost nothing
    assert sparse.index_reads.sum() == sparse.macs.sum()  # one index per sparse MAC
    assert dense.macs.sum() == 3 * 12 * 10 and dense.index_reads.sum() == 0  # zeros multiplied, no metadata
    assert np.array_equal(sparse.macs, 3 * nnz_per_pe(w, mapping))
    assert sparse.activation_messages.sum() == 3 * 10 * mapping.mesh_rows  # each column broadcast to every mesh row
    assert sparse.partial_sum_messages.sum() == 3 * 12 * (mapping.mesh_cols - 1)  # chain reduction


# ----------------------------------------------------------------------------- cycles in closed form


@pytest.mark.parametrize("sparsity", [0.5, 0.75])
def test_uniform_nnz_gives_dense_times_one_minus_s_plus_fixed_overheads(sparsity):
    mapping = Mapping(48, 48, 3, 3)  # 16 x 16 tiles
    B, keep = 4, round((1 - sparsity) * 256)
    w = balanced_weight(np.random.default_rng(0), mapping, keep)
    x = np.ones((B, 48))
    off = {"metadata"}
    sparse = cycle_report(emulate_layer(x, w, mapping, M, "sparse")[1], M, off)
    dense = cycle_report(emulate_layer(x, w, mapping, M, "dense")[1], M, off)
    fixed = dense.terms["pipeline_fill"] + dense.terms["reduction"]
    assert fixed == (3 - 1) * 1 + (3 - 1) * 1 + 16  # (Pr-1) hops; (Pc-1) hops + 16 partial sums drained
    assert sparse.terms["load_imbalance"] == 0.0 and sparse.terms["fabric_stall"] == 0.0
    assert sparse.total_cycles == (dense.total_cycles - fixed) * (1 - sparsity) + fixed
    with_meta = cycle_report(emulate_layer(x, w, mapping, M, "sparse")[1], M)
    assert with_meta.terms["metadata"] == B * keep * M.metadata_cycles_per_nonzero
    assert with_meta.total_cycles == sparse.total_cycles + B * keep * M.metadata_cycles_per_nonzero


def test_fabric_stall_when_too_few_nonzeros_per_activation():
    mapping = Mapping(32, 32, 2, 2)  # 16 x 16 tiles, 16 activation messages per token per PE
    w = balanced_weight(np.random.default_rng(0), mapping, 16)  # s = 0.9375
    B = 2
    report = cycle_report(count_events(nnz_per_pe(w, mapping), mapping, B, "sparse", M), M)
    busy = B * 16 * (1 / M.macs_per_cycle + M.metadata_cycles_per_nonzero)
    assert report.terms["fabric_stall"] == B * 16 - busy  # waiting for activations, not computing
    assert report.total_cycles == B * 16 + report.terms["pipeline_fill"] + report.terms["reduction"]


def test_load_imbalance_is_the_slowest_pe_minus_the_mean():
    rng = np.random.default_rng(11)
    mapping = Mapping(64, 64, 4, 4)
    for s in (0.1, 0.5, 0.8):
        w = rng.integers(1, 9, (64, 64)) * (rng.random((64, 64)) >= s)
        nnz = nnz_per_pe(w, mapping)
        report = cycle_report(count_events(nnz, mapping, 3, "sparse", M), M, {"fabric_stall"})
        per_nonzero = 3 * (1 / M.macs_per_cycle + M.metadata_cycles_per_nonzero)
        assert report.terms["load_imbalance"] >= 0
        assert report.terms["load_imbalance"] == pytest.approx((nnz.max() - nnz.mean()) * per_nonzero, rel=1e-12)
    balanced = balanced_weight(rng, mapping, 100)
    report = cycle_report(count_events(nnz_per_pe(balanced, mapping), mapping, 3, "sparse", M), M)
    assert report.terms["load_imbalance"] == 0.0


def test_imbalance_is_never_negative_on_random_layers():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=40, deadline=None)
    @hypothesis.given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 6), st.integers(1, 6),
                      st.floats(0, 0.99), st.integers(1, 5), st.integers(0, 2**31))
    def check(rows, cols, pr, pc, s, batch, seed):
        mapping = Mapping(rows, cols, min(pr, rows), min(pc, cols))
        w = np.random.default_rng(seed).random((rows, cols)) >= s
        for kernel in ("sparse", "dense"):
            r = cycle_report(count_events(nnz_per_pe(w, mapping), mapping, batch, kernel, M), M)
            assert r.terms["load_imbalance"] >= 0
            assert r.total_cycles == pytest.approx(r.terms["pipeline_fill"] + r.pe_time_max + r.terms["reduction"])

    check()


@pytest.mark.parametrize("term", ["metadata", "fabric_stall", "load_imbalance", "pipeline_fill", "reduction"])
def test_each_term_switches_off_alone(term):
    rng = np.random.default_rng(2)
    mapping = Mapping(40, 40, 4, 4)
    w = rng.random((40, 40)) >= 0.95
    counts = count_events(nnz_per_pe(w, mapping), mapping, 4, "sparse", M)
    on, off = cycle_report(counts, M), cycle_report(counts, M, {term})
    assert off.terms[term] == 0.0
    assert set(on.terms) == set(COST_TERMS) and sum(off.terms.values()) == off.total_cycles
    assert off.total_cycles <= on.total_cycles
    if term in ("pipeline_fill", "reduction", "load_imbalance"):  # independent of the others
        assert on.total_cycles - off.total_cycles == pytest.approx(on.terms[term])


def test_sram_capacity_is_reported_not_silently_accepted():
    mapping = Mapping(200, 200, 1, 1)
    counts = count_events(np.array([[40000]]), mapping, 1, "sparse", M)
    with pytest.raises(SRAMCapacityError, match="PE \\(0, 0\\) needs 162002 bytes"):
        cycle_report(counts, M)
    report = cycle_report(counts, M, {"sram_capacity"})
    assert not report.sram_fits and report.sram_bytes_max == 40000 * 4 + 201 * 2 + 2 * 200 * 4


def test_unknown_term_is_a_user_error():
    counts = count_events(np.array([[1]]), Mapping(1, 1, 1, 1), 1, "sparse", M)
    with pytest.raises(UserError, match="unknown cost term"):
        cycle_report(counts, M, {"compute"})


# ----------------------------------------------------------------------------- SIMD baseline


def test_simd_emulator_multiplies_zeros_and_equals_numpy():
    simd = SIMDMachine()
    x, w = int_layer(np.random.default_rng(4), 40, 36, 11, 0.8)
    y, ops = simd_emulate(x, w, simd)
    assert np.array_equal(y, x @ w.T)
    occupancy = tile_occupancy(w, simd)
    assert occupancy.shape == (3, 3)
    assert ops == occupancy.sum() * math.ceil(11 / simd.tile_n)


def test_simd_occupancy_fast_path_equals_reduceat():
    rng = np.random.default_rng(6)
    nz = rng.random((50, 64)) > 0.97
    fast = occupancy_of_rows(nz, 16, 16)  # uint64 words
    slow = occupancy_of_rows(np.asfortranarray(nz), 16, 16)  # not C-contiguous -> reduceat
    assert np.array_equal(fast, slow)
    assert np.array_equal(fast, np.array([[nz[m:m + 16, k:k + 16].any() for k in range(0, 64, 16)] for m in range(0, 50, 16)]))


def test_simd_gets_about_nothing_from_unstructured_sparsity_but_all_from_blocks():
    simd = SIMDMachine()
    rng = np.random.default_rng(8)
    random_mask = rng.random((512, 512)) >= 0.9  # P(a 16x16 tile is empty) = 0.9**256 ~ 2e-12
    assert simd_report(tile_occupancy(random_mask, simd), 64, simd)["speedup"] == 1.0
    block_mask = np.kron(rng.random((32, 32)) >= 0.75, np.ones((16, 16), dtype=bool))  # whole tiles pruned
    r = simd_report(tile_occupancy(block_mask, simd), 64, simd)
    assert r["occupied_tiles"] == block_mask[::16, ::16].sum()
    assert r["sparse_cycles"] == math.ceil(r["occupied_tiles"] * 8 / simd.n_units) * simd.cycles_per_tile_op


# ----------------------------------------------------------------------------- the streamed sweep


def test_streamed_layer_equals_the_reference_emulator():
    mapping = Mapping(30, 44, 3, 4)
    x, w = synthetic_layer(mapping, 0.6, 3, np.random.default_rng(21))
    r = run_layers(30, 44, [0.6], 3, M, mapping, rng=np.random.default_rng(21))[0]
    y, counts = emulate_layer(x, w, mapping, M, "sparse")
    assert np.array_equal(y, x @ w.T) and r["max_abs_error"] == 0.0
    assert r["sparse"] == cycle_report(counts, M).to_dict()
    assert r["dense"] == cycle_report(emulate_layer(x, w, mapping, M, "dense")[1], M).to_dict()
    assert r["simd"] == simd_report(tile_occupancy(w, SIMDMachine()), 3, SIMDMachine())
    assert r["mask_sparsity"] == 1 - np.count_nonzero(w) / w.size


def test_sweep_rows_equal_single_runs_and_normal_values_stay_within_bound():
    rs = run_layers(64, 80, [0.0, 0.5, 0.9], 2, rng=np.random.default_rng(1), values="normal")
    single = run_layers(64, 80, [0.5], 2, rng=np.random.default_rng(1), values="normal")[0]
    assert rs[1] == single  # nested masks: the sweep's row is the single run
    for r in rs:
        assert 0 <= r["max_abs_error"] <= r["rounding_bound"]
        sigma = math.sqrt(r["sparsity"] * (1 - r["sparsity"]) / (64 * 80))
        assert abs(r["mask_sparsity"] - r["sparsity"]) <= 5 * sigma + 1e-12


def test_measured_speedup_is_below_theoretical_and_rises_with_sparsity():
    rs = run_layers(256, 256, [0.25, 0.5, 0.75, 0.9], 4, verify_tokens=1, rng=np.random.default_rng(0))
    speedups = [r["speedup"] for r in rs]
    assert speedups == sorted(speedups)
    for r in rs:
        assert 1.0 < r["speedup"] < r["theoretical_speedup"]
        assert r["simd"]["speedup"] == 1.0


def test_bad_layer_arguments_are_user_errors():
    for kwargs in [dict(rows=-1), dict(batch=0), dict(sparsities=[1.0]), dict(sparsities=[-0.1]), dict(values="x")]:
        args = dict(rows=8, cols=8, sparsities=[0.5], batch=1) | kwargs
        with pytest.raises(UserError):
            run_layers(**args)


def test_docstring_examples_hold():
    import doctest
    import importlib

    for name in ("machine", "mapping", "costs", "fast", "emulate", "simd", "sweep", "model_view"):
        module = importlib.import_module(f"mediswift_np.accelerator.{name}")
        assert doctest.testmod(module).failed == 0, name
