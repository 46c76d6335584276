"""Benchmark: how long the Fig. 3 sweep of the accelerator emulator takes.

Times, side by side in one run (median of ``--repeats`` runs each):

  1. the full Fig. 3 sweep of the 12288 x 12288 GPT-3 matrix at 8 sparsities, counting
     cycles for both kernels and the SIMD baseline and verifying the first token's
     12288 outputs against NumPy at every sparsity (what ``--sweep`` does);
  2. the same sweep counting cycles only (no result check);
  3. the element-by-element reference emulator vs the vectorised one on a small layer
     (same counts, same bits), to show why the big sweep needs the fast path.

Target: the sweep in under a minute on a 2-core machine.

    python benchmarks/bench_accelerator.py [--repeats 3] [--batch 8]
"""

from __future__ import annotations

import argparse

import numpy as np

from mediswift_np.accelerator.__main__ import format_layer_table
from mediswift_np.accelerator.emulate import emulate_layer
from mediswift_np.accelerator.fast import emulate_fast
from mediswift_np.accelerator.machine import Machine
from mediswift_np.accelerator.mapping import Mapping
from mediswift_np.accelerator.sweep import FIG3_SPARSITIES, GPT3_D_MODEL, run_layers, synthetic_layer
from timing import median_seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args()
    n = GPT3_D_MODEL

    def sweep(verify):
        return run_layers(n, n, FIG3_SPARSITIES, args.batch, rng=np.random.default_rng(0), verify_tokens=verify)

    t_verified, reports = median_seconds(lambda: sweep(1), args.repeats)
    t_cycles, _ = median_seconds(lambda: sweep(0), args.repeats)
    print(format_layer_table(reports))
    print()
    print(f"Fig. 3 sweep, {n}x{n}, {len(FIG3_SPARSITIES)} sparsities, batch {args.batch}, median of {args.repeats}:")
    print(f"  with result check (1 token)  {t_verified:7.2f} s")
    print(f"  cycles only                  {t_cycles:7.2f} s")
    print(f"  target (one minute)          {60.0:7.2f} s  -> {'met' if t_verified < 60 else 'NOT met'}")

    mapping = Mapping(96, 96, 4, 4)
    x, w = synthetic_layer(mapping, 0.5, 4, np.random.default_rng(0))
    t_ref, (y_ref, c_ref) = median_seconds(lambda: emulate_layer(x, w, mapping, Machine()), args.repeats)
    t_fast, (y_fast, c_fast) = median_seconds(lambda: emulate_fast(x, w, mapping, Machine()), args.repeats)
    assert np.array_equal(y_ref, y_fast) and c_ref.equals(c_fast)
    print(f"96x96 layer, s=0.5, batch 4, mesh 4x4: reference {t_ref * 1e3:8.1f} ms, vectorised {t_fast * 1e3:6.2f} ms "
          f"({t_ref / t_fast:.0f}x), identical counts and bits")


if __name__ == "__main__":
    main()
