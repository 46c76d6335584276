"""Static random masks, the two masked-matmul paths, and pruned weights staying dead."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest

from mediswift_np import sparse
from mediswift_np.sparse import scipy_path
from mediswift_np.autograd import Tensor, count_flops, gradcheck
from mediswift_np.config import GPTConfig
from mediswift_np.errors import UserError
from mediswift_np.model import GPT
from mediswift_np.nn import Parameter
from mediswift_np.optim import AdamW, AdamWConfig

MICRO = GPTConfig(vocab_size=37, n_ctx=16, n_layer=2, n_embd=16, n_head=2)
SIX = ("query", "key", "value", "attention_output", "mlp_fc", "mlp_proj")


def masked_param(rng, shape, s, dtype=np.float64):
    p = Parameter(rng.standard_normal(shape).astype(dtype), weight_decay=True)
    p.mask = sparse.random_mask(shape, s, rng)
    p.data[~p.mask] = 0.0
    return p


@pytest.mark.parametrize("s", [0.0, 0.3, 0.5, 0.75, 0.9])
def test_random_mask_has_exactly_rounded_nonzeros(s):
    m = sparse.random_mask((13, 29), s, np.random.default_rng(0))
    assert m.sum() == round((1 - s) * 13 * 29)


def test_sparsify_masks_exactly_the_six_matrices():
    model = GPT(MICRO, seed=0)
    report = sparse.sparsify(model, 0.75, np.random.default_rng(1))
    masked = {n for n, p in model.named_parameters() if p.mask is not None}
    assert masked == {f"transformer.h.{i}.{s}" for i in range(2) for s in ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")}
    C = MICRO.n_embd
    for name, n, nnz in report.matrices:
        assert name.rsplit(".", 1)[1] in SIX
        assert nnz == round(0.25 * n)  # exactly round((1-s)·numel) per matrix
    assert len(report.matrices) == 6 * MICRO.n_layer
    c_attn = model.transformer.h[0].attn.c_attn.weight.mask
    assert [int(b.sum()) for b in np.split(c_attn, 3, axis=1)] == [C * C // 4] * 3  # q, k, v separately
    for name, p in model.named_parameters():
        if p.mask is not None:
            assert np.all(p.data[~p.mask] == 0) and not np.signbit(p.data[~p.mask]).any()


def test_overall_sparsity_is_weighted_mean():
    model = GPT(MICRO, seed=0)
    report = sparse.sparsify(model, 0.5, np.random.default_rng(2))
    N = MICRO.n_params()
    pruned = sum(n - nnz for _, n, nnz in report.matrices)  # Σ s_l N_l
    assert report.overall_sparsity == pruned / N
    d, L = MICRO.n_embd, MICRO.n_layer
    assert pruned == L * 12 * d * d // 2  # the six matrices hold 12d² weights per block
    assert report.active_params_with_embeddings == N - pruned
    assert report.sparsified_fraction == 0.5


@pytest.mark.parametrize("s", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("backend", ["dense", "scipy"])
def test_masked_linear_gradcheck(s, backend):
    rng = np.random.default_rng(3)
    w, b = masked_param(rng, (6, 5), s), Parameter(rng.standard_normal(5))
    x = Tensor(rng.standard_normal((2, 3, 6)), requires_grad=True)
    with sparse.use_backend(backend):
        assert gradcheck(lambda x, w, b: sparse.masked_linear(x, w, b), [x, w, b])
        assert np.all(w.grad[~w.mask] == 0)  # pruned weights receive exactly zero gradient


def both_paths(x: np.ndarray, w: Parameter, b: Parameter, g: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Output and gradients of y = x (W ⊙ m) + b on the dense and the scipy path, for upstream gradient ``g``."""
    results = {}
    for backend in ("dense", "scipy"):
        xt = Tensor(x.copy(), requires_grad=True)
        w.grad = b.grad = None
        with sparse.use_backend(backend):
            y = sparse.masked_linear(xt, w, b)
        y.backward(g)
        results[backend] = {"y": y.data, "dx": xt.grad, "dw": w.grad, "db": b.grad}
    return results


def test_scipy_path_equals_dense_path_and_definition():
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hypothesis.settings(max_examples=40, deadline=None)
    @hypothesis.given(
        n_in=st.integers(1, 9), n_out=st.integers(1, 9), n=st.integers(1, 7),
        s=st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.95]), seed=st.integers(0, 10_000),
    )  # fmt: skip
    def check(n_in, n_out, n, s, seed):
        rng = np.random.default_rng(seed)
        w, b = masked_param(rng, (n_in, n_out), s), Parameter(rng.standard_normal(n_out))
        x = rng.standard_normal((n, n_in))
        g = rng.standard_normal((n, n_out))
        paths = both_paths(x, w, b, g)
        results = [(r["y"], r["dx"], r["dw"], r["db"]) for r in paths.values()]
        expected = x @ (w.data * w.mask) + b.data  # Eq. 1: m ⊙ θ
        np.testing.assert_allclose(results[0][0], expected, rtol=1e-12, atol=1e-12)
        for a, c in zip(*results):
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(results[0][2], (x.T @ g) * w.mask, rtol=1e-12, atol=1e-12)

    check()


@pytest.mark.parametrize("s", [0.0, 0.5, 0.75, 0.9])
def test_scipy_path_equals_dense_path_fixed_seed(s):
    """Without hypothesis: the scipy path's output and its gradients w.r.t. x, W and b equal
    the dense path's and the float64 definition y = x (W ⊙ m) + b (Eq. 1), in float32."""
    rng = np.random.default_rng(12)
    B, T, n_in, n_out = 3, 5, 24, 40
    w = masked_param(rng, (n_in, n_out), s, np.float32)
    b = Parameter(rng.standard_normal(n_out).astype(np.float32))
    x = rng.standard_normal((B, T, n_in)).astype(np.float32)
    g = rng.standard_normal((B, T, n_out)).astype(np.float32)  # random upstream gradient
    results = both_paths(x, w, b, g)
    wm = w.data.astype(np.float64) * w.mask  # (in, out), m ⊙ θ
    x2, g2 = x.reshape(-1, n_in).astype(np.float64), g.reshape(-1, n_out).astype(np.float64)  # (B, T, C) -> (B*T, C)
    reference = {
        "y": (x2 @ wm + b.data).reshape(B, T, n_out),
        "dx": (g2 @ wm.T).reshape(B, T, n_in),
        "dw": (x2.T @ g2) * w.mask,
        "db": g2.sum(axis=0),
    }
    for name, ref in reference.items():
        dense, scipy_ = results["dense"][name], results["scipy"][name]
        assert dense.dtype == scipy_.dtype == np.float32 and dense.shape == scipy_.shape == ref.shape, name
        np.testing.assert_allclose(scipy_, dense, rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(scipy_, ref, rtol=1e-5, atol=1e-5, err_msg=name)
    assert np.all(results["scipy"]["dw"][~w.mask] == 0) and np.all(results["dense"]["dw"][~w.mask] == 0)


def test_sampled_matmul_chunks_agree(monkeypatch):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((7, 11)), rng.standard_normal((5, 11))
    pattern = rng.random((7, 5)) < 0.6
    rows, cols = np.nonzero(pattern)  # row-major = CSR order
    indptr = np.concatenate([[0], np.cumsum(pattern.sum(axis=1))])
    full = (a @ b.T)[rows, cols]
    np.testing.assert_allclose(sparse.sampled_matmul(a, b, indptr, cols), full, rtol=1e-13)
    monkeypatch.setattr(scipy_path, "SDDMM_CHUNK", 22)  # two output rows of 11 per chunk
    np.testing.assert_allclose(sparse.sampled_matmul(a, b, indptr, cols), full, rtol=1e-13)


def test_transposed_copy():
    a = np.arange(70.0).reshape(7, 10)
    t = sparse.transposed_copy(a, block=3)
    assert t.flags.c_contiguous and np.array_equal(t, a.T)


@pytest.mark.parametrize("backend", ["dense", "scipy"])
def test_pruned_weights_and_moments_stay_exactly_zero(backend):
    model = GPT(MICRO, seed=5)
    sparse.sparsify(model, 0.75, np.random.default_rng(6))
    opt = AdamW(model.named_parameters(), AdamWConfig(lr=5e-3, weight_decay=0.1, grad_clip=0.5))
    rng = np.random.default_rng(7)
    with sparse.use_backend(backend):
        for _ in range(25):
            x = rng.integers(0, MICRO.vocab_size, (3, 12))
            opt.zero_grad()
            _, loss = model(x, np.roll(x, -1, 1))
            loss.backward()
            assert opt.clip_grad_norm() > 0
            opt.step(5e-3)
    for name, p in model.named_parameters():
        if p.mask is None:
            continue
        dead = ~p.mask
        assert np.all(p.data[dead] == 0) and np.all(opt.m[name][dead] == 0) and np.all(opt.v[name][dead] == 0)
        assert np.all(p.data[p.mask] != 0)  # the active ones did train


def test_densify_reactivates_from_exactly_zero():
    model = GPT(MICRO, seed=8)
    sparse.sparsify(model, 0.5, np.random.default_rng(9))
    w = model.transformer.h[1].mlp.c_fc.weight
    pruned = ~w.mask
    sparse.densify(model)
    assert all(p.mask is None for p in model.parameters())
    assert np.all(w.data[pruned] == 0)  # Sec. 2.2.1: reactivated weights start at 0
    opt = AdamW(model.named_parameters(), AdamWConfig(lr=1e-3))
    x = np.random.default_rng(10).integers(0, MICRO.vocab_size, (2, 10))
    _, loss = model(x, np.roll(x, -1, 1))
    loss.backward()
    assert np.count_nonzero(w.grad[pruned]) == pruned.sum()  # every reactivated weight gets a gradient
    opt.step(1e-3)
    assert np.count_nonzero(w.data[pruned]) == pruned.sum()


@pytest.mark.parametrize("backend", ["dense", "scipy"])
def test_counted_flops_are_sparse_algorithm_flops(backend):
    rng = np.random.default_rng(11)
    s, N = 0.75, 6
    w = masked_param(rng, (8, 12), s, np.float32)
    x = Tensor(rng.standard_normal((N, 8)).astype(np.float32), requires_grad=True)
    with sparse.use_backend(backend), count_flops() as c:
        y = sparse.masked_linear(x, w)
        y.backward(np.ones(y.shape, np.float32))
    nnz = round((1 - s) * 8 * 12)
    assert c.total(kind="sparse_matmul", phase="forward") == 2 * nnz * N == (1 - s) * 2 * N * 8 * 12
    assert c.total(kind="sparse_matmul", phase="backward") == 2 * (2 * nnz * N)



# (needs x grad, needs W grad, dense weight gradients) -> which products run
GRAD_CASES = [(True, True, False), (False, True, False), (True, False, False), (True, True, True)]


@pytest.mark.parametrize("backend", ["dense", "scipy"])
@pytest.mark.parametrize("x_grad, w_grad, dense_grad", GRAD_CASES)
def test_executed_flops_per_backend_match_closed_forms(backend, x_grad, w_grad, dense_grad):
    """sparse/linear.py's table, one (N, in) x (in, out) layer: the dense path executes full GEMMs
    (2·N·in·out each) and W ⊙ m (in·out); the scipy path executes 2·nnz·N per product. The
    sparse-equivalent count is 2·nnz·N per product on both; RigL's dense weight gradient is
    2·N·in·out on both, counted and executed."""
    rng = np.random.default_rng(12)
    s, N, n_in, n_out = 0.75, 6, 8, 12
    w = masked_param(rng, (n_in, n_out), s, np.float32)
    w.requires_grad = w_grad
    x = Tensor(rng.standard_normal((N, n_in)).astype(np.float32), requires_grad=x_grad)
    gemm, sparse_product = 2 * N * n_in * n_out, 2 * round((1 - s) * n_in * n_out) * N
    switch = sparse.dense_weight_gradients() if dense_grad else nullcontext()
    with sparse.use_backend(backend), switch, count_flops() as c:
        y = sparse.masked_linear(x, w)
        y.backward(np.ones(y.shape, np.float32))
    assert c.total(kind="sparse_matmul", phase="forward") == sparse_product
    sparse_backward = x_grad + (w_grad and not dense_grad)  # products counted 2·nnz·N in the backward
    assert c.total(kind="sparse_matmul", phase="backward") == sparse_backward * sparse_product
    assert c.total(kind="matmul") == c.total(kind="matmul", executed=True) == dense_grad * gemm  # "dense_weight_grad"
    per_product = gemm if backend == "dense" else sparse_product  # what one product executes
    assert c.total(kind="sparse_matmul", phase="forward", executed=True) == per_product
    assert c.total(kind="sparse_matmul", phase="backward", executed=True) == sparse_backward * per_product
    assert c.total(kind="mask", executed=True) == (n_in * n_out if backend == "dense" else 0)
    assert c.total(kind="mask") == 0  # a sparse algorithm never forms W ⊙ m
    assert c.total(executed=True) - c.total() == (per_product - sparse_product) * (1 + sparse_backward) + c.total(kind="mask", executed=True)


def test_bad_sparsity_and_backend_are_user_errors():
    model = GPT(MICRO)
    for s in (1.0, -0.1, 1.5):
        with pytest.raises(UserError, match="sparsity must be in"):
            sparse.sparsify(model, s, np.random.default_rng(0))
    with pytest.raises(UserError, match="unknown sparse backend"):
        with sparse.use_backend("cuda"):
            pass
    assert sparse.switches.backend == "auto"  # a refused path changes nothing


def test_sparsified_parts_is_the_one_table_of_the_six_matrices():
    parts = [sparse.sparsified_parts(f"transformer.h.3.{suffix}") for suffix in sparse.SPARSIFIED]
    assert [p for ps in parts for p in ps] == list(SIX)  # query, key, value, attention output, fc, proj: six
    for dense in ("transformer.wte.weight", "transformer.h.0.attn.c_attn.bias", "transformer.h.0.ln_1.weight"):
        assert sparse.sparsified_parts(dense) == ()


@pytest.mark.parametrize("backend", ["dense", "scipy"])
def test_the_switches_are_read_when_the_forward_pass_runs(backend):
    """A layer's path and whether it keeps RigL's dense gradient are fixed by its forward pass:
    a backward run outside (or inside) the blocks that set them does what its forward was told."""
    rng = np.random.default_rng(13)
    w = masked_param(rng, (5, 4), 0.5)
    layout = sparse.layout_of(w)
    x = Tensor(rng.standard_normal((3, 5)))
    with sparse.use_backend(backend), sparse.dense_weight_gradients():
        y = sparse.masked_linear(x, w)
    y.backward(np.ones(y.shape))  # outside both blocks
    np.testing.assert_allclose(layout.dense_grad, x.data.T @ np.ones((3, 4)), rtol=1e-12)  # xᵀ g at every position
    layout.dense_grad = None
    with sparse.use_backend(backend):
        y = sparse.masked_linear(x, w)
    with sparse.dense_weight_gradients():
        y.backward(np.ones(y.shape))  # the forward ran without the switch: no dense gradient
    assert layout.dense_grad is None
