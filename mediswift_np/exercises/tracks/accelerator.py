"""Track ``accelerator``: the dataflow machine's speedup for a mask, and for a whole step (App. B, Fig. 3).

The student writes (template ``tutorials/exercises/accelerator.py``; preface
``accelerator.md`` beside it; unit 08):

    1  theoretical_speedup(sparsity)                      1/(1 − s), Fig. 3's dashed line
    2  load_limited_speedup(mask, mesh_rows, mesh_cols)   largest tile / busiest PE
    3  amdahl_speedup(share, matrix_speedup)              1/((1 − f) + f/k) for a whole step

On the emulated wafer-scale machine (:mod:`mediswift_np.accelerator`) each PE holds one
tile of W and does one multiply-accumulate per stored nonzero and token; the layer
finishes when the slowest PE does. With metadata, fabric stall, pipeline fill and
reduction switched off (only compute and load imbalance remain), a layer takes
max_p macs_p / macs_per_cycle cycles, so

    speedup = dense cycles / sparse cycles = (largest tile r_i·c_j) / (most nonzeros on one PE)

-- a number a student can work out by hand for a small mask. Exercise 2's reference is
the emulator: the element-by-element :func:`~mediswift_np.accelerator.emulate.emulate_layer`
for small masks, the closed-form :func:`~mediswift_np.accelerator.fast.count_events` for
larger ones, both through :func:`~mediswift_np.accelerator.costs.cycle_report`.
The theoretical speedup 1/(1 − s) is the balanced limit (every PE as busy as the mean).
Exercise 3's reference is Amdahl's law, the closed form
:func:`mediswift_np.accelerator.model_view.amdahl_table` applies to emulated cycles.

Does not handle: the other cost terms (metadata, fabric, fill, reduction); tutorial 08
§5 switches them on one at a time. Masks are never all zero (the speedup would be
infinite).
"""

from __future__ import annotations

import numpy as np

from ...accelerator.costs import cycle_report
from ...accelerator.emulate import emulate_layer
from ...accelerator.fast import count_events
from ...accelerator.machine import WSE2, Machine
from ...accelerator.mapping import Mapping, nnz_per_pe, tile_bounds
from ..spec import Case, Exercise, Mistake, Task, Track

COMPUTE_ONLY = frozenset({"metadata", "fabric_stall", "pipeline_fill", "reduction", "sram_capacity"})
ELEMENTWISE_LIMIT = 2_000  # masks up to this many weights run through the element-by-element emulator


def random_sparsity(rng: np.random.Generator) -> float:
    return round(float(rng.uniform(0.05, 0.95)), 4)  # 4 decimals: printed exactly in the report


def emulated_speedup(mask: np.ndarray, mesh_rows: int, mesh_cols: int, machine: Machine = WSE2) -> float:
    """Dense / sparse cycles of ``mask`` on a mesh_rows × mesh_cols mesh, compute term only."""
    rows, cols = mask.shape
    mapping = Mapping(rows, cols, mesh_rows, mesh_cols)
    cycles = {}
    for kernel in ("dense", "sparse"):
        if mask.size <= ELEMENTWISE_LIMIT:  # the slow, obvious emulator: every activation, every nonzero
            _, counts = emulate_layer(np.ones((1, cols)), mask.astype(np.float64), mapping, machine, kernel)
        else:
            counts = count_events(nnz_per_pe(mask, mapping), mapping, 1, kernel, machine)
        cycles[kernel] = cycle_report(counts, machine, COMPUTE_ONLY).total_cycles
    return cycles["dense"] / cycles["sparse"]


def split_last_gets_rest(n: int, parts: int) -> np.ndarray:
    """A different (wrong here) tiling: equal tiles of n // parts, the remainder in the last one."""
    bounds = np.arange(parts + 1) * (n // parts)
    bounds[-1] = n
    return bounds


def largest_tile(row_bounds, col_bounds) -> int:
    """Weights in the biggest tile of a tiling: the dense kernel's slowest PE."""
    return int(np.diff(row_bounds).max() * np.diff(col_bounds).max())


def max_nonzeros(mask: np.ndarray, row_bounds, col_bounds) -> int:
    """Nonzeros on the busiest PE of a tiling: the sparse kernel's slowest PE."""
    return max(int(mask[row_bounds[i]:row_bounds[i + 1], col_bounds[j]:col_bounds[j + 1]].sum())
               for i in range(len(row_bounds) - 1) for j in range(len(col_bounds) - 1))  # fmt: skip


def theoretical_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for s in (0.75, 0.5, 0.0, 0.9, 0.95, random_sparsity(rng)):
        cases.append(Case(f"sparsity={s}", (s,), 1 / (1 - s), {
            "one_minus_s": 1 - s,
            "one_over_s": 1 / s if s else None,
            "one_plus_s": 1 + s,
        }))  # fmt: skip
    return cases


def skewed_mask(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Sparsity 0.9 everywhere except a dense-ish (s = 0.3) top-left corner: one PE does far more work."""
    mask = rng.random((rows, cols)) >= 0.9
    mask[: rows // 3, : cols // 3] = rng.random((rows // 3, cols // 3)) >= 0.3
    return mask


def load_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [(rng.random((12, 12)) >= 0.75, 2, 2, "random at s=0.75"),
              (skewed_mask(rng, 30, 24), 3, 4, "s=0.9 except a denser top-left corner"),
              (rng.random((17, 23)) >= 0.5, 3, 4, "random at s=0.5"),
              (rng.random((10, 9)) >= 0.6, 1, 1, "random at s=0.6")]  # fmt: skip
    for _ in range(4):
        rows, cols = int(rng.integers(8, 65)), int(rng.integers(8, 65))
        s = random_sparsity(rng)
        mesh_rows, mesh_cols = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        inputs.append((rng.random((rows, cols)) >= s, mesh_rows, mesh_cols, f"random at s={s}"))
    inputs.append((skewed_mask(rng, 96, 96), 4, 4, "s=0.9 except a denser top-left corner"))
    cases = []
    for mask, mr, mc, words in inputs:
        mask[rng.integers(mask.shape[0]), rng.integers(mask.shape[1])] = True  # never all zero
        rows, cols = mask.shape
        rb, cb = tile_bounds(rows, mr), tile_bounds(cols, mc)
        largest, busiest = largest_tile(rb, cb), max_nonzeros(mask, rb, cb)
        last_rb, last_cb = split_last_gets_rest(rows, mr), split_last_gets_rest(cols, mc)
        swapped_ok = mc <= rows and mr <= cols
        sw_rb, sw_cb = (tile_bounds(rows, mc), tile_bounds(cols, mr)) if swapped_ok else (None, None)
        label = (f"mask=<{rows}×{cols} bool, {int(mask.sum())} nonzeros, {words}>, "
                 f"mesh_rows={mr}, mesh_cols={mc}")  # fmt: skip
        cases.append(Case(label, (mask, mr, mc), emulated_speedup(mask, mr, mc), {
            "balanced": mask.size / mask.sum(),
            "mean_dense_tile": mask.size / (mr * mc) / busiest,
            "inverted": busiest / largest,
            "remainder_in_last_tile": largest_tile(last_rb, last_cb) / max_nonzeros(mask, last_rb, last_cb),
            "swapped_mesh": largest_tile(sw_rb, sw_cb) / max_nonzeros(mask, sw_rb, sw_cb) if swapped_ok else None,
        }))  # fmt: skip
    return cases


def speedup_note(module) -> str:
    rng = np.random.default_rng(7)
    mask = rng.random((96, 96)) >= 0.9
    mine = module.load_limited_speedup(mask.copy(), 8, 8)
    return ("a 96 × 96 random mask at s = 0.9 on an 8 × 8 mesh: theoretical 10.00×, "
            f"load-limited {mine:.2f}× (your functions). A random mask leaves some PE more than its share: one reason "
            "a measured speedup falls below 1/(1 − s) (Fig. 3); tutorial 08 §5 shows the other cost terms.")


READ = "tutorials/exercises/accelerator.md; tutorials/08_dataflow_accelerator.ipynb §1–3 and §5; paper App. B"

THEORETICAL = Exercise(1, "the theoretical speedup of a sparse layer", f"{READ} and Fig. 3", (
    Task("theoretical_speedup",
         "theoretical speedup = dense work / sparse work = 1 / (1 − s) (Fig. 3's dashed line).",
         theoretical_cases, (
             Mistake("one_minus_s", "1 − s is the fraction of work left; speedup = dense time / sparse time = 1/(1 − "
                                    "s)."),
             Mistake("one_over_s", "s is the pruned fraction; the remaining work is (1 − s) of the dense work, so the"
                                   " speedup is 1/(1 − s)."),
             Mistake("one_plus_s", "speedup = dense time / sparse time = 1/(1 − s), e.g. 4× at s = 0.75."),
         )),
))  # fmt: skip

LOAD = Exercise(2, "the emulator's speedup for a given mask: the slowest PE sets the time", READ, (
    Task("load_limited_speedup",
         "cut the rows of W into mesh_rows tiles and the columns into mesh_cols tiles like np.array_split; "
         "speedup = (largest tile, rows × cols) / (most nonzeros in any one tile): the slowest PE sets the time.",
         load_cases, (
             Mistake("balanced", "mask.size / nonzeros is 1/(1 − s), the speedup if every PE had the same work. Each "
                                 "PE works through its own tile and the layer waits for the slowest: divide the "
                                 "largest tile by the most nonzeros on any one PE."),
             Mistake("mean_dense_tile", "the dense kernel also waits for its slowest PE: use the largest tile (r_max "
                                        "× c_max), not the mean tile size."),
             Mistake("inverted", "speedup = dense cycles / sparse cycles = largest tile / most nonzeros per PE (≥ 1)."),
             Mistake("remainder_in_last_tile", "tiles are cut like np.array_split: "
                                               "the FIRST n % p tiles get one extra row or column, not the last tile "
                                               "the whole remainder."),
             Mistake("swapped_mesh", "mesh_rows cuts the rows of W (its output features, axis 0) and mesh_cols its "
                                     "columns (axis 1)."),
         )),
), on_pass=speedup_note, points=2)  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def amdahl_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [(0.570, 3.646, "the tiny GPT at s=0.75 (tutorial 08 §6)"), (0.9, 4.0, ""), (0.5, 2.0, ""), (1.0, 10.0, ""),
              (0.0, 4.0, ""), (0.3, 1.0, "")]  # fmt: skip
    inputs += [(round(float(rng.uniform(0.05, 0.95)), 4), round(float(rng.uniform(1.0, 20.0)), 4), "") for _ in range(3)]
    cases = []
    for f, k, words in inputs:
        label = f"share={f}, matrix_speedup={k}" + (f" ({words})" if words else "")
        cases.append(Case(label, (f, k), 1.0 / ((1.0 - f) + f / k), {
            "matrix_speedup_only": float(k) if f not in (1.0,) else None,
            "share_over_speedup": (k / f if f else None) if f != 1.0 else None,
            "weighted_mean_of_speedups": (1.0 - f) + f * k if f not in (0.0, 1.0) and k != 1.0 else None,
        }))  # fmt: skip
    return cases



def amdahl_note(module) -> str:
    tiny = module.amdahl_speedup(0.570, module.theoretical_speedup(0.75))
    return (f"even a perfect 4x on the six matrices makes a tiny GPT's step only {tiny:.2f}x faster (f = 0.57): the "
            "dense parts stay, which is why Table 6 reports 2-2.5x fewer FLOPs at 75%, not 4x.")


AMDAHL = Exercise(3, "Amdahl's law: a whole training step", "tutorials/08_dataflow_accelerator.ipynb §6 (the whole "
                  "model: Amdahl's law); tutorials/exercises/accelerator.md §3", (
    Task("amdahl_speedup",
         "step speedup = 1 / ((1 − f) + f/k): the dense share 1 − f takes as long as before, the share f in the "
         "six matrices k times less.",
         amdahl_cases, (
             Mistake("matrix_speedup_only", "the six matrices get k times faster, but the rest of the step (a share "
                                            "1 − f: embeddings, attention scores, logits) does not: time = (1 − f) + "
                                            "f/k of the dense step."),
             Mistake("share_over_speedup", "that is k/f; the new time is (1 − f) + f/k (in units of the dense step), "
                                           "and the speedup is its inverse."),
             Mistake("weighted_mean_of_speedups", "times add, speedups do not: the new time is (1 − f) + f/k, so the "
                                                  "speedup is 1/((1 − f) + f/k), not (1 − f) + f·k."),
         )),
), on_pass=amdahl_note)  # fmt: skip

TRACK = Track("accelerator", "the dataflow accelerator's speedup: a sparse layer's mask, then a whole step",
              "tutorials/08_dataflow_accelerator.ipynb", (THEORETICAL, LOAD, AMDAHL))
