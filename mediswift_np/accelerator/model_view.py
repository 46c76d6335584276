"""Whole-model view: emulated cycles of one training step of a GPT, dense vs sparse.

Fig. 3 is one matrix. A training step also runs the parts MediSwift keeps dense
(Sec. 3.3): embeddings, attention scores K Q^T, softmax, softmax . V and the final
logits. Only the six matrices of each block (query, key, value, attention output, MLP
fc, MLP proj) are sparse. So even a perfect 1/(1-s) on those six cannot make the whole
step 1/(1-s) faster -- Amdahl's law:

    step speedup = 1 / ((1 - f) + f / k)

with f the share of the dense step spent in the six matrices and k their own speedup.
This module emulates every term of Hoffmann et al. (2022, App. F) -- the same terms as
:mod:`mediswift_np.flops` -- on one region of the mesh, so the emulated wall-clock
saving can be put next to the analytic FLOP saving (MediSwift Table 6).

How each forward term runs (the whole model shares one region of ``region`` PEs, by
default as many as its largest matrix needs; each op is laid out on it with near-square
tiles by :func:`op_mapping`):

    embeddings          dense kernel, W = token embedding^T (d x V), T tokens (one-hot matmul)
    attention.qkv       sparse kernel, three (d x d) matrices, T tokens
    attention.logits    dense kernel, W = K of one head (S x hs), S query tokens, per head & sequence
    attention.softmax   elementwise: 3 h S^2 FLOPs spread over the region, macs_per_cycle per PE
    attention.values    dense kernel, W = V^T of one head (hs x S), S tokens, per head & sequence
    attention.output    sparse kernel, (d x d), T tokens
    mlp                 sparse kernel, fc (d_ff x d) and proj (d x d_ff), T tokens
    final_logits        dense kernel, W = token embedding (V x d), T tokens

Training = forward + backward, with backward = 2 x forward for every term but the
input embedding (1 x, its weight gradient only) -- the convention of
:func:`mediswift_np.flops.training_flops_by_term`; the backward products are not
emulated separately (assumption: on this machine each backward product costs what the
forward product costs). Ops run one after another.

Does not handle: LayerNorms, GELU, residual adds, the loss and the optimizer step (not
in Hoffmann's count either), pipelining several layers at once, or weight streaming
from off-wafer memory (the SRAM check is off for the whole-model view: a region sized
for the largest matrix holds one op's weights at a time).
"""

from __future__ import annotations

import numpy as np

from .. import flops as flop_counter
from ..config import GPTConfig
from .costs import cycle_report
from .fast import count_events
from .machine import Machine
from .mapping import Mapping, check_positive_int, check_sparsity, choose_mesh, nnz_per_pe

MODEL_VIEW_SPARSITIES = (0.0, 0.5, 0.75)  # the paper's pre-training levels (Sec. 3.3, Table 6)


def sparse_matrix_shapes(cfg: GPTConfig) -> dict[str, tuple[int, int]]:
    """(rows, cols) = (out, in) of the six sparsified matrices of one block (MediSwift Sec. 3.3):
    :func:`mediswift_np.flops.sparsified_matrix_shapes` gives (in, out), as ``x @ W`` uses them."""
    return {name: (n_out, n_in) for name, (n_in, n_out) in flop_counter.sparsified_matrix_shapes(cfg).items()}


def model_region(cfg: GPTConfig, machine: Machine) -> int:
    """The default region size in PEs: what the model's largest matrix needs (:func:`choose_mesh`)."""
    shapes = list(sparse_matrix_shapes(cfg).values()) + [(cfg.vocab_size, cfg.n_embd)]
    rows, cols = max(shapes, key=lambda rc: rc[0] * rc[1])
    return choose_mesh(rows, cols, machine).n_pes


def op_mapping(rows: int, cols: int, region_pes: int) -> Mapping:
    """Lay a (rows x cols) op out on at most ``region_pes`` PEs with near-square tiles.

    Square tiles balance a PE's work (tile_rows * tile_cols MACs per token) against the
    activations it must receive (tile_cols messages per token), so no op is starved by
    the fabric merely because of the region's shape.

    Example:
        >>> m = op_mapping(128, 128, 38)
        >>> (m.mesh_rows, m.mesh_cols)
        (6, 6)
    """
    mesh_rows = int(min(rows, max(1, round((region_pes * rows / cols) ** 0.5))))
    mesh_cols = int(min(cols, max(1, region_pes // mesh_rows)))
    return Mapping(rows, cols, mesh_rows, mesh_cols)


def _dense_cycles(rows: int, cols: int, tokens: int, region, machine: Machine, disabled) -> float:
    mapping = op_mapping(rows, cols, region)
    nnz = mapping.tile_sizes()  # unused by the dense kernel, but a valid count
    counts = count_events(nnz, mapping, tokens, "dense", machine)
    return cycle_report(counts, machine, disabled | {"sram_capacity"}).total_cycles


def _sparse_cycles(weight_keep: np.ndarray, tokens: int, region, machine: Machine, disabled) -> float:
    mapping = op_mapping(*weight_keep.shape, region)
    counts = count_events(nnz_per_pe(weight_keep, mapping), mapping, tokens, "sparse", machine)
    return cycle_report(counts, machine, disabled | {"sram_capacity"}).total_cycles


def draw_priorities(cfg: GPTConfig, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """One U[0, 1) priority per weight of the six matrices of every block; the mask at
    sparsity s keeps u >= s (nested masks, as in :mod:`.sweep`)."""
    return [{name: rng.random(shape) for name, shape in sparse_matrix_shapes(cfg).items()} for _ in range(cfg.n_layer)]


def training_step_cycles(
    cfg: GPTConfig,
    sparsity: float,
    seq_len: int | None = None,
    batch_seqs: int = 1,
    machine: Machine = Machine(),
    region: int | None = None,
    priorities: list[dict[str, np.ndarray]] | None = None,
    rng: np.random.Generator | None = None,
    disabled=frozenset(),
) -> dict[str, float]:
    """Emulated cycles of one training step, by Hoffmann term (whole model, all layers).

    Example:
        >>> from mediswift_np.config import PRESETS
        >>> c = training_step_cycles(PRESETS["tiny"], 0.5, rng=np.random.default_rng(0))
        >>> sorted(c) == sorted(flop_counter.TERM_NAMES)
        True
    """
    s = check_sparsity(sparsity)
    S = flop_counter.check_seq_len(cfg, cfg.n_ctx if seq_len is None else seq_len)
    B = check_positive_int("batch_seqs", batch_seqs)
    T = B * S  # tokens per step
    region = model_region(cfg, machine) if region is None else region
    if priorities is None:
        priorities = draw_priorities(cfg, np.random.default_rng(0) if rng is None else rng)
    disabled = frozenset(disabled)
    d, V, h, hs = cfg.n_embd, cfg.vocab_size, cfg.n_head, cfg.d_head

    def sparse(layer: dict, name: str) -> float:
        return _sparse_cycles(layer[name] >= s, T, region, machine, disabled)  # keep u >= s: MediSwift Sec. 3.3

    softmax_flops = flop_counter.flops_attention_softmax(cfg, S) * B
    forward = {
        "embeddings": _dense_cycles(d, V, T, region, machine, disabled),
        "attention.qkv": sum(sparse(layer, n) for layer in priorities for n in ("query", "key", "value")),
        "attention.logits": cfg.n_layer * B * h * _dense_cycles(S, hs, S, region, machine, disabled),
        "attention.softmax": cfg.n_layer * softmax_flops / (region * machine.macs_per_cycle),
        "attention.values": cfg.n_layer * B * h * _dense_cycles(hs, S, S, region, machine, disabled),
        "attention.output": sum(sparse(layer, "attention_output") for layer in priorities),
        "mlp": sum(sparse(layer, "mlp_fc") + sparse(layer, "mlp_proj") for layer in priorities),
        "final_logits": _dense_cycles(V, d, T, region, machine, disabled),
    }
    backward = {k: flop_counter.BACKWARD_FACTOR for k in forward}  # Hoffmann et al. App. F
    backward["embeddings"] = flop_counter.PAPER_EMBEDDING_BACKWARD_FACTOR  # weight gradient only
    return {k: (1.0 + backward[k]) * v for k, v in forward.items()}


def amdahl_table(
    cfg: GPTConfig,
    sparsities=MODEL_VIEW_SPARSITIES,
    seq_len: int | None = None,
    batch_seqs: int = 1,
    machine: Machine = Machine(),
    region: int | None = None,
    rng: np.random.Generator | None = None,
    disabled=frozenset(),
) -> list[dict]:
    """One row per sparsity: emulated step speedup vs the sparsified matrices' own speedup,
    the theoretical 1/(1-s) and the analytic FLOP saving (MediSwift Table 6).

    Example:
        >>> from mediswift_np.config import PRESETS
        >>> rows = amdahl_table(PRESETS["tiny"], rng=np.random.default_rng(0))
        >>> all(r["step_speedup"] < r["theoretical_matrix_speedup"] for r in rows[1:])
        True
    """
    S = cfg.n_ctx if seq_len is None else seq_len
    region = model_region(cfg, machine) if region is None else region
    priorities = draw_priorities(cfg, np.random.default_rng(0) if rng is None else rng)
    sparsities = [check_sparsity(s) for s in sparsities]
    if 0.0 not in sparsities:
        sparsities = [0.0] + sparsities
    by_s = {s: training_step_cycles(cfg, s, S, batch_seqs, machine, region, priorities, disabled=disabled) for s in sparsities}
    dense = by_s[0.0]
    dense_total = sum(dense.values())
    dense_sparse_part = sum(dense[t] for t in flop_counter.SPARSIFIED_TERMS)
    f = dense_sparse_part / dense_total  # share of the dense step in the six matrices
    flop_shares = flop_counter.training_flop_shares(cfg, S, 0.0)
    flop_f = sum(flop_shares[t] for t in flop_counter.SPARSIFIED_TERMS)  # the same share, in analytic FLOPs
    rows = []
    for s, cycles in by_s.items():
        total = sum(cycles.values())
        sparse_part = sum(cycles[t] for t in flop_counter.SPARSIFIED_TERMS)
        k = dense_sparse_part / sparse_part  # the six matrices' own emulated speedup
        rows.append(
            {
                "sparsity": s,
                "step_cycles": total,
                "step_seconds": machine.seconds(total),
                "step_speedup": dense_total / total,  # emulated wall-clock saving
                "matrix_speedup": k,
                "theoretical_matrix_speedup": 1.0 / (1.0 - s),
                "sparse_share_dense": f,
                "amdahl_speedup": 1.0 / ((1.0 - f) + f / k),  # Amdahl's law with the emulated f and k
                "flop_saving": flop_counter.flop_savings(cfg, S, s),  # analytic, Hoffmann App. F / Table 6
                "flop_share_sparse": flop_f,
                "cycles_by_term": cycles,
            }
        )
    return rows
