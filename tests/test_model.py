"""The GPT-3 decoder: parameter layout and counts (Table 5), loss at initialisation,
causality, a whole-model gradient check, soft-prompt inputs, and overfitting one batch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mediswift_np.autograd import Tensor, gradcheck
from mediswift_np.config import PRESETS, ConfigError, GPTConfig
from mediswift_np.model import GPT, parameter_shapes
from mediswift_np.optim import AdamW, AdamWConfig

MICRO = GPTConfig(vocab_size=13, n_ctx=8, n_layer=2, n_embd=8, n_head=2)


def test_layout_matches_gpt2_names_and_shapes():
    model = GPT(PRESETS["tiny"])
    assert {n: p.shape for n, p in model.named_parameters()} == parameter_shapes(PRESETS["tiny"])
    assert list(dict(model.named_parameters())) == list(parameter_shapes(PRESETS["tiny"]))
    assert "lm_head.weight" not in dict(model.named_parameters())  # tied to transformer.wte.weight


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_counts_closed_form(name):
    cfg = PRESETS[name]
    counted = sum(math.prod(s) for s in parameter_shapes(cfg).values())
    d, L = cfg.n_embd, cfg.n_layer
    assert counted == cfg.vocab_size * d + cfg.n_ctx * d + L * (12 * d * d + 13 * d) + 2 * d == cfg.n_params()


def test_table5_sizes_are_non_embedding_counts():
    # Table 5: Med 302M, Large 510M, XL 1.21B parameters
    assert round(PRESETS["med"].n_params(embeddings=False) / 1e6) == 302
    assert round(PRESETS["large"].n_params(embeddings=False) / 1e6) == 510
    assert round(PRESETS["xl"].n_params(embeddings=False) / 1e7) / 100 == 1.21
    assert (PRESETS["med"].d_head, PRESETS["large"].d_head, PRESETS["xl"].d_head) == (64, 128, 128)


def test_constructed_model_count_equals_closed_form():
    for cfg in (PRESETS["tiny"], MICRO):
        assert GPT(cfg).num_parameters() == cfg.n_params()


def test_bad_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="n_head=5 does not divide n_embd=64"):
        GPTConfig(n_embd=64, n_head=5)
    with pytest.raises(ConfigError, match="positive"):
        GPTConfig(n_layer=0)
    with pytest.raises(ConfigError, match="dropout"):
        GPTConfig(dropout=1.0)


def test_loss_at_init_is_log_vocab():
    # Logits at init are x·wteᵀ with unit-variance LayerNorm output x and wte ~ N(0, 0.02²):
    # variance σ² = C·0.02² = 0.051, so E[loss] ≈ ln V + σ²/2 = ln V + 0.026.
    cfg = PRESETS["tiny"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, cfg.vocab_size, (4, 64))
    y = rng.integers(0, cfg.vocab_size, (4, 64))
    _, loss = GPT(cfg, seed=3)(x, y)
    assert abs(loss.item() - (math.log(cfg.vocab_size) + 0.5 * cfg.n_embd * 0.02**2)) < 0.03


@pytest.mark.parametrize("fast", [False, True], ids=["maths", "fast"])
def test_changing_token_t_never_changes_earlier_logits(fast):
    model = GPT(MICRO, seed=1, fast=fast)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, MICRO.vocab_size, (2, 8))
    base = model.logits(ids)
    for t in range(8):
        changed = ids.copy()
        changed[:, t] = (changed[:, t] + 1) % MICRO.vocab_size
        out = model.logits(changed)
        np.testing.assert_array_equal(out[:, :t], base[:, :t])  # bitwise: the past never sees the future
        assert not np.array_equal(out[:, t:], base[:, t:])


@pytest.mark.parametrize("fast", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["maths", "fast"])
def test_whole_model_gradcheck_every_parameter(fast):
    model = GPT(MICRO, seed=4, fast=fast).to_dtype(np.float64)
    rng = np.random.default_rng(5)
    x = rng.integers(0, MICRO.vocab_size, (2, 6))
    y = rng.integers(0, MICRO.vocab_size, (2, 6))
    assert gradcheck(lambda *params: model(x, y)[1], model.parameters())


@pytest.mark.parametrize("fast", [False, True], ids=["maths", "fast"])
def test_gradcheck_with_soft_prompt_and_loss_mask(fast):
    model = GPT(MICRO, seed=6, fast=fast).to_dtype(np.float64)
    rng = np.random.default_rng(7)
    prompt = Tensor(rng.standard_normal((3, MICRO.n_embd)) * 0.1, requires_grad=True, dtype=np.float64)
    V = MICRO.vocab_size
    x = np.array([[1, 2, V, V + 1, V + 2, 4, 5], [3, V, V + 1, V + 2, 7, 8, 9]])  # [source; prompt; target]
    y = np.roll(x, -1, axis=1) % V
    mask = np.array([[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1, 0]])  # loss on target tokens only
    assert gradcheck(lambda p, wte: model(x, y, mask, prompt=p)[1], [prompt, model.transformer.wte.weight])


def test_prompt_rows_are_the_embeddings_of_virtual_ids():
    model = GPT(MICRO, seed=8)
    V = MICRO.vocab_size
    prompt = Tensor(np.random.default_rng(0).standard_normal((2, MICRO.n_embd)).astype(np.float32))
    real = model.transformer.wte.weight.data
    ids = np.array([[1, V + 1, 2]])
    # same logits as feeding those vectors as if they were rows of the embedding table
    big = GPT(MICRO.with_(vocab_size=V + 2), seed=8)
    big.load_state_dict({**model.state_dict(), "transformer.wte.weight": np.concatenate([real, prompt.data])})
    with_prompt = model(ids, prompt=prompt)[0].data
    np.testing.assert_allclose(with_prompt, big.logits(ids)[..., :V], rtol=1e-5, atol=1e-6)


def test_dropout_only_in_training_mode():
    cfg = MICRO.with_(dropout=0.5)
    model = GPT(cfg, seed=9)
    ids = np.array([[1, 2, 3, 4]])
    model.eval()
    np.testing.assert_array_equal(model.logits(ids), model.logits(ids))
    model.train()
    a, b = model(ids)[0].data, model(ids)[0].data
    assert not np.array_equal(a, b)  # fresh masks each call


def test_state_dict_round_trip_and_mismatch_errors():
    from mediswift_np.errors import UserError

    a, b = GPT(MICRO, seed=1), GPT(MICRO, seed=2)
    b.load_state_dict(a.state_dict())
    ids = np.array([[0, 5, 7]])
    np.testing.assert_array_equal(a.logits(ids), b.logits(ids))
    bad = a.state_dict()
    bad["transformer.wpe.weight"] = bad["transformer.wpe.weight"][:4]
    with pytest.raises(UserError, match="transformer.wpe.weight has shape"):
        b.load_state_dict(bad)
    with pytest.raises(UserError, match="mismatch"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if "ln_f" not in k})


def test_sequence_longer_than_context_is_rejected():
    with pytest.raises(ValueError, match="exceeds the context"):
        GPT(MICRO).logits(np.zeros((1, MICRO.n_ctx + 1), dtype=np.int64))


def test_tiny_model_overfits_one_batch():
    cfg = GPTConfig(vocab_size=32, n_ctx=16, n_layer=2, n_embd=32, n_head=4)
    model = GPT(cfg, seed=0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 32, (4, 16))
    y = rng.integers(0, 32, (4, 16))  # random targets: only memorisation can fit them
    opt = AdamW(model.named_parameters(), AdamWConfig(lr=1e-2, weight_decay=0.0))
    for _ in range(150):
        opt.zero_grad()
        _, loss = model(x, y)
        loss.backward()
        opt.clip_grad_norm()
        opt.step(1e-2)
    assert loss.item() < 0.05  # from ln 32 = 3.47


def test_use_fast_switches_every_module_and_keeps_the_weights():
    model = GPT(MICRO, seed=1)
    assert not any(m.fast for m in model.modules())  # the maths layer by default
    before = model.state_dict()
    assert model.use_fast() is model and all(m.fast for m in model.modules())
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert all(m.fast for m in GPT(MICRO, fast=True).modules())


def test_reseed_dropout_reaches_every_dropout():
    model = GPT(MICRO.with_(dropout=0.3), seed=1)
    ids = np.array([[1, 2, 3, 4]])
    model.reseed_dropout(123)
    a = model(ids)[0].data
    model.reseed_dropout(123)
    b = model(ids)[0].data
    np.testing.assert_array_equal(a, b)  # the same masks: every dropout draws from the new generator
