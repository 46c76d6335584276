"""The GPT-3 decoder of MediSwift (paper Sec. 2.1, Table 5).

    tokens ─ wte + wpe ─ dropout ─┬─ L × Block ─ ln_f ─ x · wteᵀ ─ logits
                                  │  Block: x + attn(ln_1(x)),  then  x + mlp(ln_2(x))

Pre-LayerNorm blocks, learned absolute positions, causal multi-head attention,
MLP of width 4·d with tanh-GELU, tied input/output embeddings (the output layer
multiplies by the same ``wte`` matrix, so both uses add their gradients into it),
LayerNorm eps 1e-5. Parameter names and layouts are GPT-2's, so a state dict maps
one-to-one onto a Hugging Face ``GPT2LMHeadModel`` (whose ``lm_head.weight`` is ``wte``).

Soft prompts (Sec. 2.2.2) enter through ``prompt``: a (P, C) tensor of extra input
embeddings. Token ids ``V .. V+P-1`` in ``idx`` select its rows, so a sequence
``[source; prompt; target]`` is just ids with the virtual tokens in the middle.

``GPT(cfg, fast=True)`` runs the speed layer's twins of LayerNorm, GELU, attention, the
tied output layer and the loss (nn.kernels, mediswift_np/fast): the same equations,
computed block by block on all cores. The training entry points build their models so;
the default is the maths layer, the code this file and functional/ spell out.

FLOPs are recorded under the analytic term names (see :mod:`mediswift_np.flops`):
embeddings, attention.qkv, attention.logits, attention.softmax, attention.values,
attention.output, mlp, final_logits -- plus attention.scale (q/√hs), layernorm,
residual and loss, which the analytic formula leaves out (see flops/audit.py).

Does not handle: sequences longer than ``n_ctx``, key/value caching for training
(the cache is for generation under no_grad).
"""

from __future__ import annotations

import math

import numpy as np

from .autograd import Tensor, embedding, flop_scope, no_grad
from .config import GPTConfig
from .nn import GELU, Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, kernels


def parameter_shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's GPT-2 name and shape, in order, without allocating anything.

    Example: parameter_shapes(PRESETS["med"])["transformer.h.0.attn.c_attn.weight"] == (1024, 3072)
    """
    C, V = cfg.n_embd, cfg.vocab_size
    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (cfg.n_ctx, C)}
    for i in range(cfg.n_layer):
        h = f"transformer.h.{i}."
        shapes.update({
            h + "ln_1.weight": (C,), h + "ln_1.bias": (C,),
            h + "attn.c_attn.weight": (C, 3 * C), h + "attn.c_attn.bias": (3 * C,),
            h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
            h + "ln_2.weight": (C,), h + "ln_2.bias": (C,),
            h + "mlp.c_fc.weight": (C, cfg.d_ff), h + "mlp.c_fc.bias": (cfg.d_ff,),
            h + "mlp.c_proj.weight": (cfg.d_ff, C), h + "mlp.c_proj.bias": (C,),
        })  # fmt: skip
    shapes.update({"transformer.ln_f.weight": (C,), "transformer.ln_f.bias": (C,)})
    return shapes


class KVCache:
    """Keys and values of every token processed so far, per layer (inference only).

    Generating n tokens after a context of P tokens without a cache runs the model on
    P+1, P+2, ..., P+n tokens: O(n·P) token-positions of work. With the cache, the
    context is processed once and each new token costs one position (its attention
    still reads all cached keys): O(P + n). See generate.py.
    """

    def __init__(self, n_layer: int):
        self.keys: list[np.ndarray | None] = [None] * n_layer  # (B, nh, length, hs) per layer
        self.values: list[np.ndarray | None] = [None] * n_layer
        self.length = 0  # positions filled

    def extend(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append this step's k, v (B, nh, T, hs) to layer ``layer``'s cache; return all of them."""
        if self.keys[layer] is not None:
            k = Tensor(np.concatenate([self.keys[layer], k.data], axis=2))
            v = Tensor(np.concatenate([self.values[layer], v.data], axis=2))
        self.keys[layer], self.values[layer] = k.data, v.data
        return k, v


class CausalSelfAttention(Module):
    def __init__(self, cfg: GPTConfig, rng: np.random.Generator, index: int = 0):
        residual_std = cfg.init_std / math.sqrt(2 * cfg.n_layer)  # GPT-2: scale residual projections by 1/√(2L)
        self.c_attn = Linear(cfg.n_embd, 3 * cfg.n_embd, rng, cfg.init_std)  # query, key, value side by side
        self.c_proj = Linear(cfg.n_embd, cfg.n_embd, rng, residual_std)  # attention output projection
        self.n_head, self.dropout_p, self.index = cfg.n_head, cfg.dropout, index
        self.resid_dropout = Dropout(cfg.dropout)
        self.rng: np.random.Generator | None = None  # set by GPT for attention dropout

    def forward(self, x: Tensor, key_mask=None, cache: KVCache | None = None) -> Tensor:
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        with flop_scope("attention.qkv"):
            qkv = self.c_attn(x)  # (B, T, C) -> (B, T, 3C)
        qkv = qkv.reshape(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)  # (B, T, 3C) -> (3, B, nh, T, hs)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (B, nh, T, hs)
        if cache is not None:
            k, v = cache.extend(self.index, k, v)  # (B, nh, cached + T, hs)
        attention = kernels(self.fast).causal_self_attention  # softmax(q kᵀ/√hs + M) v (functional/attention.py)
        with flop_scope("attention"):
            y = attention(q, k, v, key_mask, self.dropout_p, self.rng, self.training)  # (B, nh, T, hs)
        y = y.permute(0, 2, 1, 3).reshape(B, T, C)  # (B, nh, T, hs) -> (B, T, C)
        with flop_scope("attention.output"):
            return self.resid_dropout(self.c_proj(y))


class MLP(Module):
    def __init__(self, cfg: GPTConfig, rng: np.random.Generator):
        residual_std = cfg.init_std / math.sqrt(2 * cfg.n_layer)
        self.c_fc = Linear(cfg.n_embd, cfg.d_ff, rng, cfg.init_std)  # MLP intermediate, d -> 4d
        self.act = GELU()
        self.c_proj = Linear(cfg.d_ff, cfg.n_embd, rng, residual_std)  # MLP output projection, 4d -> d
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        with flop_scope("mlp"):
            return self.dropout(self.c_proj(self.act(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(Module):
    def __init__(self, cfg: GPTConfig, rng: np.random.Generator, index: int = 0):
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.layer_norm_eps)
        self.attn = CausalSelfAttention(cfg, rng, index)
        self.ln_2 = LayerNorm(cfg.n_embd, cfg.layer_norm_eps)
        self.mlp = MLP(cfg, rng)

    def forward(self, x: Tensor, key_mask=None, cache: KVCache | None = None) -> Tensor:
        with flop_scope("layernorm"):
            h = self.ln_1(x)
        a = self.attn(h, key_mask, cache)
        with flop_scope("residual"):
            x = x + a
        with flop_scope("layernorm"):
            h = self.ln_2(x)
        m = self.mlp(h)
        with flop_scope("residual"):
            return x + m


class Transformer(Module):
    """The container GPT-2 calls ``transformer``: embeddings, blocks ``h``, final LayerNorm."""

    def __init__(self, cfg: GPTConfig, rng: np.random.Generator):
        self.wte = Embedding(cfg.vocab_size, cfg.n_embd, rng, cfg.init_std)  # token embeddings, tied with the output
        self.wpe = Embedding(cfg.n_ctx, cfg.n_embd, rng, 0.01)  # learned absolute positions (GPT-2 init 0.01)
        self.drop = Dropout(cfg.dropout)
        self.h = ModuleList([Block(cfg, rng, i) for i in range(cfg.n_layer)])
        self.ln_f = LayerNorm(cfg.n_embd, cfg.layer_norm_eps)


class GPT(Module):
    def __init__(self, cfg: GPTConfig, seed: int = 0, fast: bool = False):
        """Build and initialise the model from ``np.random.default_rng(seed)``.

        A second generator, ``self.dropout_rng`` (seeded from the same seed), drives all
        dropout masks so that a checkpoint can save and restore its state. ``fast``: run
        the speed layer's twins of the ops (module docstring); the weights are the same.
        """
        self.config = cfg
        rng = np.random.default_rng(seed)
        self.transformer = Transformer(cfg, rng)
        self.reseed_dropout([seed, 1])
        self.use_fast(fast)

    def reseed_dropout(self, seed) -> None:
        """A fresh ``dropout_rng`` from ``seed``, shared by every dropout in the model."""
        self.dropout_rng = np.random.default_rng(seed)
        for m in self.modules():
            if isinstance(m, (Dropout, CausalSelfAttention)):
                m.rng = self.dropout_rng

    def forward(
        self,
        idx,
        targets=None,
        loss_mask=None,
        prompt: Tensor | None = None,
        key_mask=None,
        cache: KVCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, V) and, given ``targets`` (B, T), the mean cross-entropy (Eq. 1).

        ``loss_mask`` (B, T) of 0/1 restricts the loss to some tokens (Eq. 3: targets only).
        ``prompt`` (P, C): soft-prompt embeddings addressed by ids V..V+P-1 in ``idx``.
        ``key_mask`` (B, T), or (B, cache.length + T) with a cache: False for padding.
        ``cache``: a KVCache holding the earlier tokens of these sequences (inference under
        no_grad); positions continue after them.
        """
        cfg, tr = self.config, self.transformer
        idx = np.asarray(idx)
        B, T = idx.shape
        start_pos = 0 if cache is None else cache.length
        if start_pos + T > cfg.n_ctx:
            raise ValueError(f"sequence of {start_pos + T} tokens exceeds the context of {cfg.n_ctx}")
        with flop_scope("embeddings"):
            tok = embedding(tr.wte.weight, idx, prompt)  # (B, T) -> (B, T, C); ids >= V read prompt rows
            pos = tr.wpe.weight[start_pos : start_pos + T]  # (T, C), broadcast over the batch
            x = tr.drop(tok + pos)
        for block in tr.h:
            x = block(x, key_mask, cache)  # (B, T, C)
        if cache is not None:
            cache.length += T
        with flop_scope("layernorm"):
            x = tr.ln_f(x)
        with flop_scope("final_logits"):
            logits = kernels(self.fast).linear(x, tr.wte.weight.transpose())  # tied output layer: (B, T, C) @ (C, V)
        if targets is None:
            return logits, None
        with flop_scope("loss"):
            loss = kernels(self.fast).cross_entropy(logits, targets, loss_mask)
        return logits, loss

    def new_cache(self) -> KVCache:
        return KVCache(self.config.n_layer)

    def logits(self, ids) -> np.ndarray:
        """Logits (B, T, V) as a NumPy array, without building a gradient graph."""
        with no_grad():
            return self.forward(np.asarray(ids))[0].data
