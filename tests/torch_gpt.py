"""The same GPT-3 decoder written in PyTorch, used as an independent reference by the
tests (values and gradients) and by benchmarks/bench_engine.py (throughput).

Only imported where torch is installed (behind ``pytest.importorskip``). Parameter names
and layouts are mediswift_np's (GPT-2's), so state dicts copy across one-to-one.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as TF


class TorchGPT(torch.nn.Module):
    def __init__(self, cfg, dtype=torch.float32, fused_attention: bool = True):
        super().__init__()
        self.cfg, self.fused_attention = cfg, fused_attention
        C, V = cfg.n_embd, cfg.vocab_size
        P = lambda *shape: torch.nn.Parameter(torch.zeros(*shape, dtype=dtype))  # noqa: E731
        self.params = torch.nn.ParameterDict()
        shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (cfg.n_ctx, C)}
        for i in range(cfg.n_layer):
            h = f"transformer.h.{i}."
            for name, shape in (
                ("ln_1.weight", (C,)), ("ln_1.bias", (C,)),
                ("attn.c_attn.weight", (C, 3 * C)), ("attn.c_attn.bias", (3 * C,)),
                ("attn.c_proj.weight", (C, C)), ("attn.c_proj.bias", (C,)),
                ("ln_2.weight", (C,)), ("ln_2.bias", (C,)),
                ("mlp.c_fc.weight", (C, 4 * C)), ("mlp.c_fc.bias", (4 * C,)),
                ("mlp.c_proj.weight", (4 * C, C)), ("mlp.c_proj.bias", (C,)),
            ):  # fmt: skip
                shapes[h + name] = shape
        shapes["transformer.ln_f.weight"] = shapes["transformer.ln_f.bias"] = (C,)
        for name, shape in shapes.items():
            self.params[name.replace(".", "/")] = P(*shape)

    def p(self, name: str) -> torch.Tensor:
        """Parameter by its GPT-2 name (ParameterDict keys cannot contain dots)."""
        return self.params[name.replace(".", "/")]

    def grad(self, name: str) -> np.ndarray:
        return self.p(name).grad.numpy()

    def load_numpy(self, state: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for name, value in state.items():
                self.p(name).copy_(torch.from_numpy(np.asarray(value)))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        cfg = self.cfg
        B, T = idx.shape
        C, nh = cfg.n_embd, cfg.n_head
        hs = C // nh
        x = self.p("transformer.wte.weight")[idx] + self.p("transformer.wpe.weight")[:T]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        for i in range(cfg.n_layer):
            h = f"transformer.h.{i}."
            a = TF.layer_norm(x, (C,), self.p(h + "ln_1.weight"), self.p(h + "ln_1.bias"), cfg.layer_norm_eps)
            qkv = a @ self.p(h + "attn.c_attn.weight") + self.p(h + "attn.c_attn.bias")
            q, k, v = qkv.view(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)
            if self.fused_attention:
                y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                att = (q @ k.transpose(-1, -2)) / math.sqrt(hs)
                y = torch.softmax(att.masked_fill(causal, float("-inf")), dim=-1) @ v
            y = y.transpose(1, 2).reshape(B, T, C)
            x = x + (y @ self.p(h + "attn.c_proj.weight") + self.p(h + "attn.c_proj.bias"))
            m = TF.layer_norm(x, (C,), self.p(h + "ln_2.weight"), self.p(h + "ln_2.bias"), cfg.layer_norm_eps)
            m = TF.gelu(m @ self.p(h + "mlp.c_fc.weight") + self.p(h + "mlp.c_fc.bias"), approximate="tanh")
            x = x + (m @ self.p(h + "mlp.c_proj.weight") + self.p(h + "mlp.c_proj.bias"))
        x = TF.layer_norm(x, (C,), self.p("transformer.ln_f.weight"), self.p("transformer.ln_f.bias"), cfg.layer_norm_eps)
        logits = x @ self.p("transformer.wte.weight").T  # tied output embedding
        loss = None if targets is None else TF.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))
        return logits, loss
