"""Whole-model view: emulated training-step cycles joined with the analytic FLOP counter."""

from __future__ import annotations

import numpy as np
import pytest

from mediswift_np import flops as flop_counter
from mediswift_np.accelerator.machine import Machine
from mediswift_np.accelerator.model_view import (
    amdahl_table,
    draw_priorities,
    model_region,
    op_mapping,
    sparse_matrix_shapes,
    training_step_cycles,
)
from mediswift_np.config import PRESETS

CFG = PRESETS["tiny"]
M = Machine()
ALL_OVERHEADS = {"metadata", "fabric_stall", "load_imbalance", "pipeline_fill", "reduction"}


def test_terms_are_the_flop_counters_terms_and_dense_terms_do_not_change():
    pri = draw_priorities(CFG, np.random.default_rng(0))
    by_s = {s: training_step_cycles(CFG, s, priorities=pri) for s in (0.0, 0.5, 0.75)}
    assert set(by_s[0.0]) == set(flop_counter.TERM_NAMES)
    dense_terms = set(flop_counter.TERM_NAMES) - set(flop_counter.SPARSIFIED_TERMS)
    for s in (0.5, 0.75):
        assert all(by_s[s][t] == by_s[0.0][t] for t in dense_terms)  # Sec. 3.3: these stay dense
        assert all(by_s[s][t] < by_s[0.0][t] for t in flop_counter.SPARSIFIED_TERMS)


def test_without_overheads_cycles_are_flops_over_the_pes_doing_them():
    """compute cycles = MACs / (PEs x macs_per_cycle) = FLOPs / (2 PEs macs_per_cycle), per term."""
    region = model_region(CFG, M)
    S, d, V, hs = CFG.n_ctx, CFG.n_embd, CFG.vocab_size, CFG.d_head
    cycles = training_step_cycles(CFG, 0.0, disabled=ALL_OVERHEADS)
    flops = flop_counter.training_flops_by_term(CFG, S, 0.0)
    pes = {
        "embeddings": op_mapping(d, V, region).n_pes,
        "attention.qkv": op_mapping(d, d, region).n_pes,
        "attention.logits": op_mapping(S, hs, region).n_pes,
        "attention.values": op_mapping(hs, S, region).n_pes,
        "attention.output": op_mapping(d, d, region).n_pes,
        "final_logits": op_mapping(V, d, region).n_pes,
    }
    for term, n in pes.items():
        assert cycles[term] * 2 * n * M.macs_per_cycle == pytest.approx(flops[term], rel=1e-12), term
    assert cycles["attention.softmax"] * region * M.macs_per_cycle == pytest.approx(flops["attention.softmax"], rel=1e-12)


def test_without_overheads_sparse_terms_scale_with_the_kept_weights():
    pri = draw_priorities(CFG, np.random.default_rng(3))
    dense = training_step_cycles(CFG, 0.0, priorities=pri, disabled=ALL_OVERHEADS)
    for s in (0.5, 0.75):
        sparse = training_step_cycles(CFG, s, priorities=pri, disabled=ALL_OVERHEADS)
        kept = sum(np.count_nonzero(layer[n] >= s) for layer in pri for n in ("query", "key", "value"))
        total = CFG.n_layer * 3 * CFG.n_embd**2
        assert sparse["attention.qkv"] == pytest.approx(dense["attention.qkv"] * kept / total, rel=1e-12)


def test_amdahl_wall_clock_saving_is_below_the_sparse_matrix_saving():
    rows = amdahl_table(CFG, rng=np.random.default_rng(0))
    assert [r["sparsity"] for r in rows] == [0.0, 0.5, 0.75]
    assert rows[0]["step_speedup"] == 1.0
    for r in rows[1:]:
        f, k = r["sparse_share_dense"], r["matrix_speedup"]
        assert r["step_speedup"] == pytest.approx(1 / ((1 - f) + f / k), rel=1e-12)  # Amdahl's law, exactly
        assert 1.0 < r["step_speedup"] < r["matrix_speedup"] < r["theoretical_matrix_speedup"]
        assert r["flop_saving"] == pytest.approx(flop_counter.flop_savings(CFG, CFG.n_ctx, r["sparsity"]))
        assert r["flop_saving"] < r["theoretical_matrix_speedup"]  # Amdahl in FLOPs too


def test_sparse_matrix_shapes_are_out_by_in():
    shapes = sparse_matrix_shapes(CFG)
    assert shapes["mlp_fc"] == (CFG.d_ff, CFG.n_embd) and shapes["mlp_proj"] == (CFG.n_embd, CFG.d_ff)
    assert len(shapes) == 6


def test_op_mapping_stays_within_the_region_and_the_matrix():
    for rows, cols, region in [(128, 128, 38), (2048, 128, 38), (32, 128, 38), (3, 500, 10), (1, 1, 5)]:
        m = op_mapping(rows, cols, region)
        assert 1 <= m.n_pes <= region and m.mesh_rows <= rows and m.mesh_cols <= cols
