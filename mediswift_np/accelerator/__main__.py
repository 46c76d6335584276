"""Command line: ``python -m mediswift_np.accelerator``.

    --rows R --cols C --sparsity S [--batch B]   one layer: dense vs sparse cycles, speedup,
                                                 cost terms, SIMD baseline, max_abs_error
    --sweep [--sparsities 0,0.5,...]             the Fig. 3 table (default: the 12288 x 12288
                                                 GPT-3 matrix at 0 ... 0.99)
    --model tiny                                 the whole-model (Amdahl) view of a training step

Every machine parameter is a flag (``--sram-bytes-per-pe``, ``--macs-per-cycle``, ...;
SIMD ones prefixed ``--simd-``); ``--disable TERM`` switches a cost term off. With
``--json`` the last stdout line is one JSON object.

Result check: a single run computes every output of the first ``--verify-tokens``
tokens (default: all B) in the emulator's own summation order, vectorised, and compares
with NumPy; ``--sweep`` verifies the first token by default to stay fast.

Does not handle: reading real weights (layers are synthetic; see :mod:`.sweep`).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..cli import (
    ArgumentParser,
    add_config_flags,
    add_output_flags,
    given_config_values,
)
from ..config import get_preset
from ..errors import UserError, print_json, run_cli
from .costs import COST_TERMS, SWITCHABLE_TERMS
from .machine import Machine, SIMDMachine
from .mapping import Mapping, check_positive_int, choose_mesh
from .model_view import MODEL_VIEW_SPARSITIES, amdahl_table, model_region
from .sweep import FIG3_SPARSITIES, GPT3_D_MODEL, VALUE_KINDS, run_layers

SHORT = {
    "compute": "compute",
    "metadata": "meta",
    "fabric_stall": "stall",
    "load_imbalance": "imbal",
    "pipeline_fill": "fill",
    "reduction": "reduce",
}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m mediswift_np.accelerator",
        description="Emulate a linear layer (or a whole GPT training step) on a wafer-scale dataflow machine "
        "and on a dense SIMD machine: measured vs theoretical sparse speedup (MediSwift Fig. 3).",
    )
    p.add_argument("--rows", type=int, default=GPT3_D_MODEL, help="weight rows = output features (default 12288)")
    p.add_argument("--cols", type=int, default=GPT3_D_MODEL, help="weight cols = input features (default 12288)")
    p.add_argument("--sparsity", type=float, default=0.75, help="fraction of masked weights, in [0, 1) (default 0.75)")
    p.add_argument("--batch", type=int, default=8, help="tokens streamed through the layer (default 8)")
    p.add_argument("--sweep", action="store_true", help="run the Fig. 3 sparsity sweep instead of one sparsity")
    p.add_argument("--sparsities", type=str, default=None, help="comma-separated sparsities for --sweep / --model")
    p.add_argument("--mesh-rows", type=int, default=None, help="PE rows of the mesh (default: smallest that fits)")
    p.add_argument("--mesh-cols", type=int, default=None, help="PE cols of the mesh (default: smallest that fits)")
    p.add_argument("--values", choices=VALUE_KINDS, default="integer", help="synthetic values (integer: exact sums)")
    p.add_argument("--verify-tokens", type=int, default=None, help="tokens checked against NumPy (default: all; sweep: 1)")
    p.add_argument("--disable", action="append", default=[], choices=SWITCHABLE_TERMS, metavar="TERM",
                   help=f"switch a cost term off (repeatable): {', '.join(SWITCHABLE_TERMS)}")
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic layer (default 0)")
    p.add_argument("--model", type=str, default=None, help="whole-model view for a preset (e.g. tiny)")
    p.add_argument("--seq-len", type=int, default=None, help="tokens per sequence for --model (default n_ctx)")
    p.add_argument("--batch-seqs", type=int, default=1, help="sequences per training step for --model (default 1)")
    add_output_flags(p)
    for cls, prefix in ((Machine, ""), (SIMDMachine, "simd-")):
        add_config_flags(p, cls, prefix=prefix, title=f"{cls.__name__} parameters (see mediswift_np/accelerator/machine.py)")
    return p


def _parse_sparsities(text: str | None, default) -> list[float]:
    if text is None:
        return list(default)
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--sparsities must be comma-separated numbers, got {text!r}") from None


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_layer_table(reports: list[dict]) -> str:
    """The Fig. 3 table: one line per sparsity, the sparse kernel's cost terms in cycles."""
    r0 = reports[0]
    head = (
        f"{r0['rows']}x{r0['cols']} layer, batch {r0['batch']} tokens, mesh {r0['mesh'][0]}x{r0['mesh'][1]} PEs, "
        f"dense kernel {r0['dense_cycles']:.0f} cycles\n"
        f"{'s':>5} {'theory':>7} {'measured':>8} {'SIMD':>6} {'sparse cyc':>11} "
        + " ".join(f"{SHORT[t]:>8}" for t in COST_TERMS)
        + f" {'SRAM B':>7} {'max_err':>8}"
    )
    lines = [head]
    for r in reports:
        t = r["sparse"]["terms"]
        err = "-" if r["max_abs_error"] is None else f"{r['max_abs_error']:.1e}"
        lines.append(
            f"{r['sparsity']:>5.2f} {r['theoretical_speedup']:>7.2f} {r['speedup']:>8.2f} {_num(r['simd']['speedup']):>6} "
            f"{r['sparse_cycles']:>11.0f} " + " ".join(f"{t[n]:>8.0f}" for n in COST_TERMS)
            + f" {r['sparse']['sram_bytes_max']:>7d} {err:>8}"
        )
    return "\n".join(lines)


def format_single(r: dict) -> str:
    lines = [format_layer_table([r]), ""]
    lines.append("dense kernel terms: " + ", ".join(f"{k} {v:.0f}" for k, v in r["dense"]["terms"].items()))
    s = r["simd"]
    lines.append(
        f"SIMD baseline: {s['occupied_tiles']}/{s['weight_tiles']} weight tiles hold a nonzero -> "
        f"{s['dense_cycles']} vs {s['sparse_cycles']} cycles, speedup {_num(s['speedup'])}"
    )
    lines.append(
        f"result: {r['verified_tokens']} token(s) x {r['rows']} outputs vs NumPy X @ W.T, "
        f"max_abs_error {r['max_abs_error']} ({r['values']} values"
        + (")" if r["values"] == "integer" else f", rounding bound {r['rounding_bound']:.1e})")
    )
    return "\n".join(lines)


def format_model(rows: list[dict], name: str) -> str:
    lines = [
        f"whole-model view: one training step of '{name}' (emulated cycles vs analytic FLOPs)",
        f"{'s':>5} {'step cycles':>12} {'step speedup':>12} {'6-matrix speedup':>16} {'1/(1-s)':>8} "
        f"{'FLOP saving':>11} {'Amdahl':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r['sparsity']:>5.2f} {r['step_cycles']:>12.0f} {r['step_speedup']:>12.3f} {r['matrix_speedup']:>16.3f} "
            f"{r['theoretical_matrix_speedup']:>8.2f} {r['flop_saving']:>11.3f} {r['amdahl_speedup']:>7.3f}"
        )
    f = rows[0]["sparse_share_dense"]
    lines.append(f"the six sparse matrices take {f:.1%} of the dense step's cycles ({rows[0]['flop_share_sparse']:.1%} of its FLOPs)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    machine = Machine(**given_config_values(args, Machine))
    simd = SIMDMachine(**given_config_values(args, SIMDMachine, prefix="simd-"))
    start = time.perf_counter()

    if args.model is not None:
        cfg = get_preset(args.model)
        sparsities = _parse_sparsities(args.sparsities, MODEL_VIEW_SPARSITIES)
        rows = amdahl_table(cfg, sparsities, args.seq_len, args.batch_seqs, machine,
                            rng=np.random.default_rng(args.seed), disabled=args.disable)
        print(format_model(rows, args.model))
        if args.json:
            print_json({"model": args.model, "region_pes": model_region(cfg, machine), "rows": rows,
                        "wall_seconds": time.perf_counter() - start})
        return 0

    rows_, cols_ = check_positive_int("rows", args.rows), check_positive_int("cols", args.cols)
    auto = choose_mesh(rows_, cols_, machine) if None in (args.mesh_rows, args.mesh_cols) else None
    mesh_rows = auto.mesh_rows if args.mesh_rows is None else check_positive_int("mesh_rows", args.mesh_rows)
    mesh_cols = auto.mesh_cols if args.mesh_cols is None else check_positive_int("mesh_cols", args.mesh_cols)
    mapping = Mapping(rows_, cols_, mesh_rows, mesh_cols)
    sparsities = _parse_sparsities(args.sparsities, FIG3_SPARSITIES) if args.sweep else [args.sparsity]
    verify = args.verify_tokens if args.verify_tokens is not None else (min(1, args.batch) if args.sweep else None)
    with tqdm(total=mapping.mesh_rows, desc="mesh rows", unit="row", disable=None) as bar:
        reports = run_layers(rows_, cols_, sparsities, args.batch, machine, mapping, simd,
                             np.random.default_rng(args.seed), args.values, verify, args.disable, progress=bar.update)
    wall = time.perf_counter() - start
    print(format_layer_table(reports) if args.sweep else format_single(reports[0]))
    print(f"({wall:.1f} s)")
    if args.json:
        meta = {"machine": machine.to_dict(), "simd_machine": simd.to_dict(), "wall_seconds": wall}
        print_json({"sweep": reports, **meta} if args.sweep else {**reports[0], **meta})
    return 0


if __name__ == "__main__":
    run_cli(main)
