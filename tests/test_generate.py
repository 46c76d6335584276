"""Greedy generation: the KV-cache path equals recomputing the whole sequence."""

from __future__ import annotations

import numpy as np
import pytest

from mediswift_np import functional as F
from mediswift_np.autograd import Tensor, gradcheck
from mediswift_np.config import GPTConfig
from mediswift_np.generate import greedy
from mediswift_np.model import GPT

CFG = GPTConfig(vocab_size=29, n_ctx=24, n_layer=2, n_embd=16, n_head=4)


def test_cached_logits_equal_full_forward():
    model = GPT(CFG, seed=3)
    ids = np.random.default_rng(0).integers(0, 29, (2, 12))
    full = model.logits(ids)
    cache = model.new_cache()
    parts = [model(ids[:, :7], cache=cache)[0].data, model(ids[:, 7:8], cache=cache)[0].data, model(ids[:, 8:], cache=cache)[0].data]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=1e-5, atol=1e-6)
    assert cache.length == 12


def test_greedy_with_and_without_cache_agree():
    model = GPT(CFG, seed=4)
    prompt = Tensor(np.random.default_rng(1).standard_normal((2, 16)).astype(np.float32))
    context = [3, 5, 7, 29, 30]  # two virtual prompt tokens at the end
    a = greedy(model, context, 10, prompt=prompt, use_cache=True)
    b = greedy(model, context, 10, prompt=prompt, use_cache=False)
    assert a == b and len(a) == 10
    # and each generated token is the argmax of the full forward pass
    seq = context + a
    logits = model(np.array([seq]), prompt=prompt)[0].data[0]
    assert [int(np.argmax(logits[len(context) - 1 + i])) for i in range(10)] == a


def test_greedy_stops_at_stop_token_and_context_limit():
    model = GPT(CFG, seed=5)
    first = greedy(model, [1, 2], 5)[0]
    assert greedy(model, [1, 2], 5, stop_ids=[first]) == [first]
    assert len(greedy(model, list(range(20)), 50)) == CFG.n_ctx - 20
    with pytest.raises(ValueError):
        greedy(model, list(range(25)), 1)


def test_attention_with_cached_keys_gradcheck():
    rng = np.random.default_rng(6)
    q = Tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    k = Tensor(rng.standard_normal((1, 2, 5, 4)), requires_grad=True)  # 2 earlier positions
    v = Tensor(rng.standard_normal((1, 2, 5, 4)), requires_grad=True)
    assert gradcheck(F.causal_self_attention, [q, k, v])
    mask = F.causal_mask(3, 5)
    assert mask.tolist() == [[False, False, False, True, True], [False, False, False, False, True], [False] * 5]
