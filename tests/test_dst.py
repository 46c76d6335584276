"""Dynamic sparse training (SET, RigL): invariants, the static special case, the drop and
grow rules, FLOP accounting of RigL's dense gradients, and bit-identical resume."""

from __future__ import annotations

import numpy as np
import pytest

from mediswift_np import checkpoint, flops, sparse
from mediswift_np.sparse import dst
from mediswift_np.autograd import count_flops
from mediswift_np.config import GPTConfig
from mediswift_np.model import GPT
from mediswift_np.optim import AdamW, AdamWConfig
from mediswift_np.pretrain import PretrainConfig, train

MICRO = GPTConfig(vocab_size=41, n_ctx=16, n_layer=2, n_embd=16, n_head=2)
RUN = dict(steps=24, batch_size=8, seq_len=32, n_docs=300, merges=200, eval_batches=2, eval_every=12, lr=5e-3, sparsity=0.75)


def block_nnz(model) -> dict[str, list[int]]:
    out = {}
    for name, p in model.named_parameters():
        if p.mask is not None:
            parts = 3 if name.endswith("c_attn.weight") else 1  # query | key | value side by side
            out[name] = [int(b.sum()) for b in np.split(p.mask, parts, axis=1)]
    return out


def sparse_model(seed=0, s=0.75):
    model = GPT(MICRO, seed=seed)
    sparse.sparsify(model, s, np.random.default_rng(seed))
    return model


def one_step(model, opt, rng, dense=False):
    x = rng.integers(0, MICRO.vocab_size, (4, 12))
    opt.zero_grad()
    ctx = sparse.dense_weight_gradients() if dense else count_flops()
    with ctx:
        _, loss = model(x, np.roll(x, -1, 1))
        loss.backward()
    opt.step(1e-2)


@pytest.mark.parametrize("method", ["set", "rigl"])
def test_nonzeros_per_matrix_never_change_and_pruned_stay_zero(method):
    model = sparse_model()
    before = block_nnz(model)
    opt = AdamW(model.named_parameters(), AdamWConfig(weight_decay=0.1))
    rng, mask_rng = np.random.default_rng(1), np.random.default_rng(2)
    changed = 0
    for i in range(6):
        old = {n: p.mask.copy() for n, p in model.named_parameters() if p.mask is not None}
        one_step(model, opt, rng, dense=(method == "rigl"))
        stats = dst.update_masks(model, opt, 0.3, method, mask_rng)
        assert stats["dropped"] == stats["grown"] > 0
        assert block_nnz(model) == before  # query, key, value, output, fc, proj: each keeps its count
        for name, p in model.named_parameters():
            if p.mask is None:
                continue
            changed += int((p.mask != old[name]).sum())
            dead = ~p.mask
            assert np.all(p.data[dead] == 0) and np.all(opt.m[name][dead] == 0) and np.all(opt.v[name][dead] == 0)
    assert changed > 0  # the masks really moved


def test_drop_smallest_magnitude_and_rigl_grows_largest_gradient():
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=bool)
    weight = np.array([[0.5, -0.1, 0, 0], [2.0, 0, -0.05, 0]])
    score = np.array([[0.0, 9.0, 3.0, 0.1], [0.0, 7.0, 0.0, 8.0]])
    new, grown, dropped = dst._update_block(mask, weight, score, 2, "rigl", np.random.default_rng(0))
    assert sorted(dropped.tolist()) == [1, 6]  # |-0.1| and |-0.05| are the smallest active weights
    assert sorted(grown.tolist()) == [1, 7]  # largest |grad| among positions inactive after the drop (9.0, 8.0)
    assert new.sum() == mask.sum()


def test_grown_weights_start_at_zero_with_reset_moments():
    model = sparse_model(seed=3)
    opt = AdamW(model.named_parameters())
    one_step(model, opt, np.random.default_rng(4), dense=True)
    old = {n: p.mask.copy() for n, p in model.named_parameters() if p.mask is not None}
    dst.update_masks(model, opt, 0.5, "rigl", np.random.default_rng(5))
    for name, p in model.named_parameters():
        if p.mask is not None:
            grown = p.mask & ~old[name]
            assert grown.any() and np.all(p.data[grown] == 0) and np.all(opt.m[name][grown] == 0)


def test_rigl_without_dense_gradient_is_an_error():
    model = sparse_model()
    opt = AdamW(model.named_parameters())
    with pytest.raises(RuntimeError, match="dense gradient"):
        dst.update_masks(model, opt, 0.3, "rigl", np.random.default_rng(0))


def test_drop_fraction_schedule_named_points():
    cfg = dst.DSTConfig("rigl", 10, 0.3)
    assert dst.drop_fraction_at(0, 1000, cfg) == pytest.approx(0.3)  # α at the start
    assert dst.drop_fraction_at(375, 1000, cfg) == pytest.approx(0.15)  # α/2 halfway to T_end = 750
    assert dst.drop_fraction_at(750, 1000, cfg) == 0.0  # no updates after T_end
    steps = [s for s in range(1000) if dst.is_update_step(s, 1000, cfg)]
    assert steps[0] == 9 and steps[-1] == 739 and len(steps) == 74


def test_rigl_update_step_flops_match_analytic_extra():
    model = sparse_model(seed=6)
    x = np.random.default_rng(7).integers(0, MICRO.vocab_size, (3, 16))
    counts = []
    for dense in (False, True):
        model.zero_grad()
        with count_flops() as c, (sparse.dense_weight_gradients() if dense else count_flops()):
            _, loss = model(x, np.roll(x, -1, 1))
            loss.backward()
        counts.append(c.total())
    assert counts[1] - counts[0] == 3 * flops.flops_dense_weight_gradient_extra(MICRO, 16, 0.75)


@pytest.mark.slow
def test_static_is_the_no_update_special_case(tmp_path):
    train(PretrainConfig(**RUN), tmp_path / "static", progress=False)
    train(PretrainConfig(**RUN, sparse_method="set", mask_update_every=0), tmp_path / "set0", progress=False)
    train(PretrainConfig(**RUN, sparse_method="rigl", mask_update_every=1000), tmp_path / "rigl_never", progress=False)
    ref, _ = checkpoint.load(tmp_path / "static")
    for other in ("set0", "rigl_never"):
        arrays, state = checkpoint.load(tmp_path / other)
        assert state["mask_updates"] == 0
        for k in ref:
            assert np.array_equal(ref[k], arrays[k]), (other, k)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["set", "rigl"])
def test_dynamic_run_resumes_bit_identically(tmp_path, method):
    cfg = PretrainConfig(**RUN, sparse_method=method, mask_update_every=4)
    s = train(cfg, tmp_path / "straight", progress=False)
    assert s["mask_updates"] == 4  # after steps 4, 8, 12, 16 (< 0.75 · 24 = 18)
    train(cfg, tmp_path / "split", progress=False, stop_after=10)
    train(cfg, tmp_path / "split", resume=tmp_path / "split", progress=False)
    (a, sa), (b, sb) = checkpoint.load(tmp_path / "straight"), checkpoint.load(tmp_path / "split")
    assert all(np.array_equal(a[k], b[k]) for k in a) and sa["train_losses"] == sb["train_losses"]
    model = checkpoint.restore_model(a, sa)
    report = sparse.sparsity_report(model)
    assert all(nnz == round(0.25 * n) for _, n, nnz in report.matrices)
    if method == "rigl":  # analytic FLOPs include the dense weight gradients of the update steps
        cfg_model = cfg.model_config(s["vocab_size"])
        extra = 4 * 8 * flops.flops_dense_weight_gradient_extra(cfg_model, 32, 0.75)
        assert s["flops_analytic"] == pytest.approx(flops.training_flops(cfg_model, 32, 0.75, tokens=s["tokens"]) + extra)


def test_dynamic_method_needs_sparsity():
    from mediswift_np.errors import UserError

    with pytest.raises(UserError, match="needs --sparsity > 0"):
        PretrainConfig(sparse_method="rigl").validate()
    with pytest.raises(UserError, match="unknown sparse method"):
        PretrainConfig(sparsity=0.5, sparse_method="snip").validate()


def test_nested_dense_weight_gradients_keep_the_outer_switch_on():
    """Leaving an inner ``dense_weight_gradients`` block restores the outer value (on), not off."""
    model = sparse_model()
    layouts = [sparse.layout_of(p) for p in model.parameters() if p.mask is not None]
    x = np.random.default_rng(5).integers(0, MICRO.vocab_size, (2, 8))
    with sparse.dense_weight_gradients():
        with sparse.dense_weight_gradients():
            pass
        assert sparse.switches.dense_weight_grads is True
        _, loss = model(x, np.roll(x, -1, 1))
        loss.backward()
    assert sparse.switches.dense_weight_grads is False
    for p, layout in zip([p for p in model.parameters() if p.mask is not None], layouts):
        assert layout.dense_grad is not None and layout.dense_grad.shape == p.shape
        np.testing.assert_array_equal(np.where(p.mask, layout.dense_grad, 0), p.grad)  # masked part = the parameter's gradient
    fresh = sparse_model()
    _, loss = fresh(x, np.roll(x, -1, 1))
    loss.backward()
    assert all(sparse.layout_of(p).dense_grad is None for p in fresh.parameters() if p.mask is not None)


def test_mask_update_order_follows_each_method_on_a_hand_worked_2x3_example():
    """RigL (Alg. 1) updates the mask *instead of* the optimizer step; SET after it.

    W (2, 3) with active (0,0) = 0.5, (0,1) = -0.1, (1,0) = 0.2; x = [1, 1], loss = Σ y·c with
    c = [1, 2, 3], so ∂L/∂W = xᵀc has rows [1, 2, 3]; f = 1/3 of 3 active weights: k = 1.
    - RigL at θ_t: drop the smallest |θ|, (0,1) = -0.1; grow the largest |∇L| among the now
      inactive (0,1), (0,2), (1,1), (1,2) = 2, 3, 2, 3 -> (0,2), the lower position on the tie.
      No AdamW step: the kept weights are exactly what they were, AdamW's t stays 0.
    - Step first (SET's order): AdamW's first step moves every active weight by lr·sign(g) =
      -0.15: 0.35, -0.25, 0.05, so the drop takes (1,0) instead.
    """
    from mediswift_np.autograd import Tensor
    from mediswift_np.nn import Parameter

    class OneMatrix:  # a "model" of one sparsified matrix, named as in a GPT block
        def __init__(self):
            self.w = Parameter(np.array([[0.5, -0.1, 0.0], [0.2, 0.0, 0.0]]), weight_decay=True)
            self.w.mask = np.array([[True, True, False], [True, False, False]])

        def named_parameters(self):
            return [("transformer.h.0.mlp.c_fc.weight", self.w)]

    x, c = np.ones((1, 2)), np.array([[1.0, 2.0, 3.0]])
    results = {}
    for method in ("rigl", "set"):
        model = OneMatrix()
        opt = AdamW(model.named_parameters(), AdamWConfig(weight_decay=0.0, grad_clip=float("inf")))
        loss = dst.mask_update_step(model, opt, lambda: (sparse.masked_linear(Tensor(x), model.w) * c).sum(), 0.15,
                                    1 / 3, method, np.random.default_rng(0))  # fmt: skip
        assert loss == pytest.approx(0.5 * 1 + 0.2 * 1 - 0.1 * 2)  # y = x (W ⊙ m) = [0.7, -0.1, 0] at θ_t
        results[method] = (model.w.mask.copy(), model.w.data.copy(), opt.t)
    mask, weights, t = results["rigl"]
    assert mask.tolist() == [[True, False, True], [True, False, False]]
    assert weights.tolist() == [[0.5, 0.0, 0.0], [0.2, 0.0, 0.0]] and t == 0  # no optimizer step
    mask, weights, t = results["set"]
    # (1,0) dropped after the step (its weight 0 whether or not SET's random growth picks it again)
    assert t == 1 and weights[1, 0] == 0.0 and mask[0, 0] and mask[0, 1] and mask.sum() == 3
    assert weights[0, 0] == pytest.approx(0.35, abs=1e-6) and weights[0, 1] == pytest.approx(-0.25, abs=1e-6)


@pytest.mark.slow
def test_rigl_update_steps_take_no_optimizer_step(tmp_path):
    """Over a run, AdamW's step count is the number of steps minus RigL's update steps (Alg. 1);
    SET's update steps are optimizer steps as well."""
    for method, expected_t in (("rigl", 24 - 4), ("set", 24)):
        s = train(PretrainConfig(**RUN, sparse_method=method, mask_update_every=4), tmp_path / method, progress=False)
        arrays, _ = checkpoint.load(tmp_path / method)
        assert s["mask_updates"] == 4 and int(arrays["adam/t"]) == expected_t
