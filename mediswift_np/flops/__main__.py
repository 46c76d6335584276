"""``python -m mediswift_np.flops``: the analytic FLOP counter on the command line.

    python -m mediswift_np.flops --model xl --sparsity 0.75              # readable per-term table
    python -m mediswift_np.flops --model tiny --sparsity 0.5 --json      # every figure as one JSON object

Prints, for one preset, sparsity and token budget: the forward FLOPs of every term dense
and sparse, each term's share of training, the total training FLOPs dense and sparse,
their ratio (the savings of MediSwift Table 6), the parameter counts and 6ND.
"""

from __future__ import annotations

from typing import Sequence

from ..cli import ArgumentParser, add_output_flags
from ..config import PRESETS, get_preset
from ..errors import print_json, run_cli
from . import (
    HOFFMANN_EMBEDDING_BACKWARD_FACTOR,
    PAPER_EMBEDDING_BACKWARD_FACTOR,
    PER_LAYER_TERMS,
    TERM_NAMES,
    check_positive,
    check_seq_len,
    check_sparsity,
    default_tokens,
    forward_flops_by_term,
    param_counts,
    six_nd,
    training_flop_shares,
    training_flops,
)


def flop_report(model: str, sparsity: float, tokens: float, seq_len: int, embedding_backward_factor: float) -> dict:
    """Everything the CLI prints, as one JSON-ready dict."""
    cfg = get_preset(model)
    fwd_dense = forward_flops_by_term(cfg, seq_len, 0.0)
    fwd_sparse = forward_flops_by_term(cfg, seq_len, sparsity)
    shares = training_flop_shares(cfg, seq_len, sparsity, embedding_backward_factor)
    total = training_flops(cfg, seq_len, sparsity, tokens, embedding_backward_factor)
    dense_total = training_flops(cfg, seq_len, 0.0, tokens, embedding_backward_factor)
    per_seq = training_flops(cfg, seq_len, sparsity, embedding_backward_factor=embedding_backward_factor)
    terms = {
        k: {
            "count": cfg.n_layer if k in PER_LAYER_TERMS else 1,
            "dense_forward_flops": fwd_dense[k],
            "forward_flops": fwd_sparse[k],
            "share_of_training": shares[k],
        }
        for k in TERM_NAMES
    }
    return {
        "model": model,
        "sparsity": sparsity,
        "seq_len": seq_len,
        "tokens": tokens,
        "embedding_backward_factor": embedding_backward_factor,
        "params": param_counts(cfg, sparsity),
        "forward_flops_per_sequence": sum(fwd_sparse.values()),
        "training_flops_per_sequence": per_seq,
        "flops_per_token": per_seq / seq_len,
        "total_flops": total,
        "dense_total_flops": dense_total,
        "savings": dense_total / total,
        "terms": terms,
        "six_nd": six_nd(cfg, tokens, sparsity),
        "six_nd_params": "active_non_embedding",
    }


def format_report(r: dict) -> str:
    """The readable per-term breakdown printed without ``--json``."""
    cfg = get_preset(r["model"])
    s, p = r["sparsity"], r["params"]
    convention = {PAPER_EMBEDDING_BACKWARD_FACTOR: "paper Table 6", HOFFMANN_EMBEDDING_BACKWARD_FACTOR: "Hoffmann"}
    lines = [
        f"model {r['model']}: L={cfg.n_layer} d={cfg.n_embd} h={cfg.n_head} d_head={cfg.d_head} "
        f"V={cfg.vocab_size}; seq_len {r['seq_len']}, tokens {r['tokens']:.4g}, sparsity {s:g}",
        f"embedding backward factor {r['embedding_backward_factor']:g} "
        f"({convention.get(r['embedding_backward_factor'], 'custom')} convention)",
        "",
        f"{'term':<20}{'x':>4}{'dense fwd/seq':>15}{'sparse fwd/seq':>16}{'training share':>16}",
    ]
    for k, t in r["terms"].items():
        lines.append(
            f"{k:<20}{t['count']:>4}{t['dense_forward_flops']:>15.4e}{t['forward_flops']:>16.4e}"
            f"{100 * t['share_of_training']:>15.1f}%"
        )
    dense_fwd = sum(t["dense_forward_flops"] for t in r["terms"].values())
    lines += [
        f"{'forward / sequence':<24}{dense_fwd:>15.4e}{r['forward_flops_per_sequence']:>16.4e}",
        "",
        f"training FLOPs per sequence {r['training_flops_per_sequence']:.4e}, per token {r['flops_per_token']:.4e}",
        f"total training FLOPs: dense {r['dense_total_flops']:.4e}, sparse {r['total_flops']:.4e}, "
        f"savings {r['savings']:.3f}x",
        f"params: total {p['total']:,}, non-embedding {p['non_embedding']:,}, active non-embedding {p['active_non_embedding']:,}",
        f"6ND with N = active non-embedding params: {r['six_nd']:.4e}",
    ]
    return "\n".join(lines)


def _build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m mediswift_np.flops",
        description="Analytic training FLOPs (Hoffmann et al. 2022, App. F) of a dense or sparse GPT preset.",
    )
    parser.add_argument("--model", required=True, choices=list(PRESETS), help="model preset")
    parser.add_argument("--sparsity", type=float, default=0.0, help="weight sparsity s of the six matrices, in [0, 1)")
    parser.add_argument(
        "--tokens", type=float, default=None,
        help="training tokens (default: 104.86e9 for med/large/xl, 20 x total params for tiny/small)",
    )
    parser.add_argument("--seq-len", type=int, default=None, help="sequence length (default: the model's n_ctx)")
    parser.add_argument(
        "--embedding-backward-factor", type=float, default=PAPER_EMBEDDING_BACKWARD_FACTOR,
        help="backward cost of the embedding lookup in units of its forward (1 = paper Table 6, 2 = Hoffmann)",
    )
    add_output_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    sparsity = check_sparsity(args.sparsity)
    cfg = get_preset(args.model)
    seq_len = check_seq_len(cfg, cfg.n_ctx if args.seq_len is None else args.seq_len)
    tokens = default_tokens(args.model) if args.tokens is None else check_positive("tokens", args.tokens)
    report = flop_report(args.model, sparsity, tokens, seq_len, args.embedding_backward_factor)
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    run_cli(main)
