"""The whole GPT against an independent PyTorch implementation of the same architecture:
same weights in, same logits, loss and every parameter gradient out (float64), on the
maths layer and on the speed layer."""

from __future__ import annotations

import numpy as np
import pytest

from mediswift_np.config import GPTConfig
from mediswift_np.model import GPT

torch = pytest.importorskip("torch")
from torch_gpt import TorchGPT  # noqa: E402  (needs torch)


@pytest.mark.parametrize("fast", [False, True], ids=["maths", "fast"])
@pytest.mark.parametrize(
    "cfg",
    [
        GPTConfig(vocab_size=50, n_ctx=16, n_layer=2, n_embd=16, n_head=4),
        GPTConfig(vocab_size=97, n_ctx=32, n_layer=3, n_embd=24, n_head=3),
    ],
    ids=["L2-d16", "L3-d24"],
)
def test_logits_loss_and_every_gradient_match_pytorch(cfg, fast):
    ours = GPT(cfg, seed=11, fast=fast).to_dtype(np.float64)
    ref = TorchGPT(cfg, dtype=torch.float64, fused_attention=False)
    ref.load_numpy(ours.state_dict())
    rng = np.random.default_rng(12)
    x = rng.integers(0, cfg.vocab_size, (3, cfg.n_ctx))
    y = rng.integers(0, cfg.vocab_size, (3, cfg.n_ctx))

    logits, loss = ours(x, y)
    loss.backward()
    t_logits, t_loss = ref(torch.from_numpy(x), torch.from_numpy(y))
    t_loss.backward()

    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-13)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, ref.grad(name), rtol=1e-9, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("fast", [False, True], ids=["maths", "fast"])
def test_fused_torch_attention_agrees_with_ours(fast):
    cfg = GPTConfig(vocab_size=50, n_ctx=16, n_layer=2, n_embd=16, n_head=4)
    ours = GPT(cfg, seed=3, fast=fast)
    a = TorchGPT(cfg, dtype=torch.float64, fused_attention=True)
    a.load_numpy(ours.to_dtype(np.float64).state_dict())
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 50, (2, 16)))
    np.testing.assert_allclose(a(x)[0].detach().numpy(), ours.logits(x.numpy()), rtol=1e-12, atol=1e-12)
