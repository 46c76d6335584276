"""Counted = analytic: the engine's FLOP count of a training step against the App. F
formula, term by term, for tiny configs at s ∈ {0, 0.5, 0.75}; every count and executed
count against closed forms worked out by hand here (not read from the ops); the savings
of one sparsity, every way."""

from __future__ import annotations

import numpy as np
import pytest

from mediswift_np import flops, sparse
from mediswift_np.autograd import count_flops
from mediswift_np.config import PRESETS, GPTConfig
from mediswift_np.flops.audit import PRODUCT_TERMS, expected_counts, expected_executed_counts, reconcile, savings
from mediswift_np.model import GPT

CONFIGS = [
    GPTConfig(vocab_size=64, n_ctx=16, n_layer=2, n_embd=16, n_head=2),
    GPTConfig(vocab_size=300, n_ctx=32, n_layer=3, n_embd=32, n_head=4),
]


def worked_counts(cfg, B, T, s):
    """(scope, kind) -> (forward, backward) of one training step, worked out by hand from the
    counting rules (autograd/counter.py: 1 per add, multiply, exp, ...; 2·m·n·k per product)
    and the arithmetic written next to each op. Independent of the ops' ``flops`` attributes."""
    C, V, L, nh = cfg.n_embd, cfg.vocab_size, cfg.n_layer, cfg.n_head
    Fd, N, hs = 4 * C, B * T, C // nh
    kind = "sparse_matmul" if s else "matmul"

    def masked(n_in, n_out, parts=1):  # forward of one layer: 2 per kept weight and row; a mask keeps round((1-s)·numel)
        return 2 * parts * round((1 - s) * n_in * (n_out // parts)) * N

    scores, mm = B * nh * T * T, 2 * B * nh * T * T * hs  # per layer: attention scores, one (T,hs)@(hs,T) per head
    qkv, out, mlp = masked(C, 3 * C, 3), masked(C, C), masked(C, Fd) + masked(Fd, C)
    return {
        ("embeddings", "elementwise"): (N * C, 0),  # token + position embedding
        ("embeddings", "reduction"): (0, N * C - T * C),  # position gradient: B rows of (T, C) summed into one
        ("embeddings", "scatter_add"): (0, N * C),  # np.add.at into the token table
        # LayerNorm, 2L + 1 of them: mean, x - μ, square, mean, ·rstd, ·w, + b; backward db, dw (2), dx̂, mean,
        # dx̂ ⊙ x̂, mean, x̂ · m, two -, ·rstd
        ("layernorm", "layernorm"): ((2 * L + 1) * 7 * N * C, (2 * L + 1) * 11 * N * C),
        ("attention.qkv", kind): (L * qkv, 2 * L * qkv),  # backward: input and weight gradient
        ("attention.qkv", "bias"): (L * N * 3 * C, L * N * 3 * C),
        ("attention.scale", "elementwise"): (L * N * C, L * N * C),  # q/√hs, and dq/√hs
        ("attention.logits", "matmul"): (L * mm, 2 * L * mm),
        # softmax: x - max, exp, sum, divide per score; backward dP - D, ·P per score + D = g·y (2 per element of g)
        ("attention.softmax", "softmax"): (L * 4 * scores, L * (2 * scores + 2 * N * C)),
        ("attention.values", "matmul"): (L * mm, 2 * L * mm),
        ("attention.output", kind): (L * out, 2 * L * out),
        ("attention.output", "bias"): (L * N * C, L * N * C),
        ("residual", "elementwise"): (2 * L * N * C, 0),
        ("mlp", kind): (L * mlp, 2 * L * mlp),
        ("mlp", "bias"): (L * N * (Fd + C), L * N * (Fd + C)),
        # GELU: x², x³, ·a, + x, ·c, tanh, + 1, ·x, ·½; backward the 12 operations of its derivative
        ("mlp", "gelu"): (L * 9 * N * Fd, L * 12 * N * Fd),
        ("final_logits", "matmul"): (2 * N * C * V, 2 * 2 * N * C * V),  # tied output layer: x @ wteᵀ
        # cross-entropy per logit: - max, exp, sum, / s (+ a log and a gather per row); backward (p - onehot)·w/n
        ("loss", "cross_entropy"): (5 * N * V, 2 * N * V),
    }


def worked_executed_counts(cfg, B, T, s, backend):
    """worked_counts, but what the CPU executes: on the dense path a masked product is a full
    GEMM, 2·N·in·out, after W ⊙ m (in·out multiplies, forward only)."""
    counts = worked_counts(cfg, B, T, s)
    if s == 0 or backend == "scipy":
        return counts
    C, L, N = cfg.n_embd, cfg.n_layer, B * T
    for scope, weights in (("attention.qkv", 3 * C * C), ("attention.output", C * C), ("mlp", 8 * C * C)):
        counts[(scope, "sparse_matmul")] = (L * 2 * N * weights, 2 * L * 2 * N * weights)
        counts[(scope, "mask")] = (L * weights, 0)
    return counts


def count_step(cfg, batch, seq_len, s, backend="dense"):
    model = GPT(cfg, seed=0)
    if s > 0:
        sparse.sparsify(model, s, np.random.default_rng(1))
    x = np.random.default_rng(2).integers(0, cfg.vocab_size, (batch, seq_len))
    with sparse.use_backend(backend), count_flops() as counter:
        _, loss = model(x, np.roll(x, -1, 1))
        loss.backward()
    return counter


@pytest.mark.parametrize("s", [0.0, 0.5, 0.75])
@pytest.mark.parametrize("cfg", CONFIGS, ids=["L2-d16", "L3-d32"])
def test_every_count_matches_its_closed_form(cfg, s):
    batch, T = 3, cfg.n_ctx
    counter = count_step(cfg, batch, T, s)
    expected = worked_counts(cfg, batch, T, s)
    assert expected_counts(cfg, batch, T, s) == expected  # the audit's sum over the ops' own constants
    recorded = {(sc, k) for sc, k, _ in counter.counts}
    assert recorded == set(expected)  # no unexplained kind of work
    for (scope, kind), (fwd, bwd) in expected.items():
        assert counter.total(scope=scope, kind=kind, phase="forward") == fwd, (scope, kind)
        assert counter.total(scope=scope, kind=kind, phase="backward") == bwd, (scope, kind)


@pytest.mark.parametrize("s", [0.0, 0.5, 0.75])
@pytest.mark.parametrize("cfg", CONFIGS, ids=["L2-d16", "L3-d32"])
def test_matrix_products_equal_analytic_exactly(cfg, s):
    batch, T = 2, cfg.n_ctx
    counter = count_step(cfg, batch, T, s)
    rows = {r.term: r for r in reconcile(counter, cfg, batch, T, s)}
    for term in PRODUCT_TERMS:
        assert rows[term].counted == rows[term].analytic, term  # 3 × forward, (1-s) for the six matrices
    assert sum(r.counted for r in rows.values()) == counter.total()  # every FLOP is in some row


@pytest.mark.parametrize("cfg", CONFIGS, ids=["L2-d16", "L3-d32"])
def test_differences_are_the_documented_ones(cfg):
    batch, T, C, V, L, nh = 2, cfg.n_ctx, cfg.n_embd, cfg.vocab_size, cfg.n_layer, cfg.n_head
    rows = {r.term: r for r in reconcile(count_step(cfg, batch, T, 0.0), cfg, batch, T)}
    N, scores = batch * T, batch * nh * T * T
    # softmax: App. F prices 3 FLOPs per score, × 3 for training; the engine 4 forward, 2 + (T,hs) dot backward
    assert rows["attention.softmax"].analytic == L * 3 * 3 * scores
    assert rows["attention.softmax"].counted == L * (4 * scores + 2 * scores + 2 * N * C)
    # embeddings: App. F one-hot matmul 2·T·V·C per sequence, forward + weight gradient (paper convention)
    assert rows["embeddings"].analytic == batch * 2 * (2 * T * V * C)
    assert rows["embeddings"].counted == N * C + (N * C - T * C) + N * C  # add, position reduce, scatter-add


def test_sparse_scipy_path_counts_the_same():
    cfg = CONFIGS[0]
    a = count_step(cfg, 2, 16, 0.75, backend="dense")
    b = count_step(cfg, 2, 16, 0.75, backend="scipy")
    assert dict(a.counts) == dict(b.counts)


def test_sparse_products_scale_by_one_minus_s():
    cfg = CONFIGS[1]
    dense = count_step(cfg, 2, 32, 0.0)
    for s in (0.5, 0.75):
        sp = count_step(cfg, 2, 32, s)
        for scope in ("attention.qkv", "attention.output", "mlp"):
            assert sp.total(scope=scope, kind="sparse_matmul") == (1 - s) * dense.total(scope=scope, kind="matmul")
        for scope in ("attention.logits", "attention.values", "final_logits"):
            assert sp.total(scope=scope) == dense.total(scope=scope)  # attention and the vocab stay dense


def test_rows_match_hand_worked_values():
    """Every row of one training step of CONFIGS[1] at s = 0.5, worked by hand from the
    counting rules documented next to each op (functional/, autograd/ops.py) and the
    App. F terms (flops/analytic.py): B = 2, T = 32, C = 32, F = 4C = 128, nh = 4, L = 3,
    V = 300, N = B·T = 64 rows."""
    cfg = CONFIGS[1]
    counter = count_step(cfg, 2, 32, 0.5)
    rows = {r.term: r for r in reconcile(counter, cfg, 2, 32, 0.5)}
    # counted, not in App. F
    # embeddings: position add N·C = 2048 + position-gradient reduce N·C - T·C = 1024 + scatter-add N·C = 2048
    assert rows["embeddings"].counted == 5120
    # LayerNorm: 2L + 1 = 7 norms, 7 forward + 11 backward FLOPs per element of (N, C) = 2048: 7·18·2048
    assert rows["LayerNorm"].counted == 258_048
    # GELU (tanh): L = 3 layers, 9 forward + 12 backward per element of (N, F) = 8192: 3·21·8192
    assert rows["GELU"].counted == 516_096
    # cross-entropy: 5 forward + 2 backward per logit of (N, V) = 19200: 7·19200
    assert rows["cross-entropy loss"].counted == 134_400
    # softmax: per layer 4 per score forward, 2 per score + 2·N·C (the g·y dot) backward;
    # scores = B·nh·T² = 8192: 3·(4·8192 + 2·8192 + 2·2048)
    assert rows["attention.softmax"].counted == 159_744
    # analytic (paper convention), × B = 2 sequences
    # embeddings: (1 + 1)·2·T·V·C = 2·614400 per sequence
    assert rows["embeddings"].analytic == 2_457_600
    # mlp: 3·L·2·T·(C·F + F·C)·(1 - s) = 3·3·2·32·8192·0.5 = 2359296 per sequence
    assert rows["mlp"].analytic == 4_718_592
    # mlp counted: each matrix keeps round(0.5·4096) = 2048 weights; 3 products of 2·2048·N each, 2 matrices, L layers
    assert rows["mlp"].counted == 3 * 2 * (2 * 2048 * 64) * 3 == 4_718_592
    # final logits: 3·2·T·C·V = 1843200 per sequence
    assert rows["final_logits"].analytic == 3_686_400
    # per sequence: 2·emb + 3·[L·(24 C² T (1-s) + 4 T² C + 3 nh T²) + 2 T C V]
    #   = 1228800 + 3·[3·(393216 + 131072 + 12288) + 614400] = 1228800 + 3·2224128 = 7901184
    assert sum(r.analytic for r in rows.values()) == 2 * 7_901_184


@pytest.mark.parametrize("backend", ["dense", "scipy"])
@pytest.mark.parametrize("s", [0.0, 0.5, 0.75])
@pytest.mark.parametrize("cfg", CONFIGS, ids=["L2-d16", "L3-d32"])
def test_every_executed_count_matches_its_closed_form(cfg, s, backend):
    batch, T = 3, cfg.n_ctx
    counter = count_step(cfg, batch, T, s, backend)
    expected = worked_executed_counts(cfg, batch, T, s, backend)
    assert expected_executed_counts(cfg, batch, T, s, backend) == expected
    assert {(sc, k) for sc, k, _ in counter.executed} == set(expected)
    for (scope, kind), (fwd, bwd) in expected.items():
        assert counter.total(scope=scope, kind=kind, phase="forward", executed=True) == fwd, (scope, kind)
        assert counter.total(scope=scope, kind=kind, phase="backward", executed=True) == bwd, (scope, kind)


@pytest.mark.parametrize("s", [0.5, 0.75])
def test_dense_path_executes_the_dense_model_plus_the_masking(s):
    """Written out for CONFIGS[1] (C = 32, F = 128, L = 3), B = 2, T = 32, N = 64: on the dense
    path the sparse model executes every FLOP the dense model does, plus W ⊙ m for the
    (C, 3C), (C, C), (C, F), (F, C) matrices of each layer: L·(3C² + C² + 2CF) = 3·12,288."""
    cfg = CONFIGS[1]
    dense, masked = count_step(cfg, 2, 32, 0.0), count_step(cfg, 2, 32, s, "dense")
    assert masked.total(executed=True) - dense.total(executed=True) == 3 * (3 * 32**2 + 32**2 + 2 * 32 * 128) == 36_864
    assert masked.total(kind="mask", executed=True) == 36_864 and masked.total(kind="mask") == 0
    # the six matrices: 3 GEMMs of 2·N·in·out each, executed whatever s is
    six = 3 * 2 * 64 * (3 * 32**2 + 32**2 + 2 * 32 * 128)
    assert sum(masked.total(scope=t, kind="sparse_matmul", executed=True) for t in ("attention.qkv", "attention.output", "mlp")) == 3 * six
    scipy = count_step(cfg, 2, 32, s, "scipy")  # the scipy path executes what it counts
    assert dict(scipy.executed) == dict(scipy.counts)


@pytest.mark.parametrize("s", [0.5, 0.75])
def test_reconcile_rows_carry_executed_flops(s):
    cfg = CONFIGS[1]
    counter = count_step(cfg, 2, 32, s)
    rows = {r.term: r for r in reconcile(counter, cfg, 2, 32, s)}
    assert sum(r.executed for r in rows.values()) == counter.total(executed=True)
    for term, dense_weights in (("attention.qkv", 3 * 32**2), ("attention.output", 32**2), ("mlp", 2 * 32 * 128)):
        # executed: 3 products × 2·N·in·out per layer; counted: the same over nnz = (1-s)·in·out
        assert rows[term].executed == cfg.n_layer * 3 * 2 * 64 * dense_weights
        assert rows[term].counted == rows[term].executed * (1 - s)
    assert rows["masking W ⊙ m"].executed == cfg.n_layer * (3 * 32**2 + 32**2 + 2 * 32 * 128)


def test_savings_of_the_tiny_model_every_way():
    """The three "tiny at 75%" savings of the tutorials and the README, from their closed forms."""
    tiny = PRESETS["tiny"]  # L = 4, d = 128, h = 4, V = 2048
    r = savings(tiny, 128, 0.75)
    # App. F per sequence at S = 128 (paper convention): 2·emb + 3·[L·(24 d² S (1-s) + 4 S² d + 3 h S²) + 2 S d V]
    S, d, L, V, h = 128, 128, 4, 2048, 4

    def train(s, V=V, S=S):
        return 2 * (2 * S * V * d) + 3 * (L * (24 * d * d * S * (1 - s) + 4 * S * S * d + 3 * h * S * S) + 2 * S * d * V)

    assert r.analytic_training == pytest.approx(train(0) / train(0.75), rel=1e-12) == pytest.approx(1.7683, abs=1e-4)
    assert r.analytic_training == pytest.approx(flops.flop_savings(tiny, 128, 0.75), rel=1e-12)
    assert r.six_matrices == pytest.approx(4.0)
    # counted: the engine's whole step; its lookup is a gather, so the vocabulary weighs less than in App. F
    step = [sum(f + b for f, b in worked_counts(tiny, 1, 128, sp).values()) for sp in (0.0, 0.75)]
    assert r.counted == pytest.approx(step[0] / step[1], rel=1e-12)
    two = savings(tiny, 128, 0.75, batch=2)  # tutorial 04's step of 2 sequences: 1.97×
    assert two.counted == pytest.approx(1_838_301_184 / 932_331_520, rel=1e-12)
    assert r.executed < 1.0  # the dense path runs all of the dense model's FLOPs, and W ⊙ m on top
    r06 = savings(tiny.with_(vocab_size=1348), 64, 0.75)  # tutorial 06's runs: the tokenizer's V, 64-token windows
    assert r06.analytic_training == pytest.approx(train(0, 1348, 64) / train(0.75, 1348, 64), rel=1e-12)
    assert round(r06.analytic_training, 2) == 2.07
