"""Model configurations: the GPT-3 decoder sizes of the paper plus CPU-sized presets.

The paper's three models (Table 5) share vocab 42,384 (BioGPT's: 4 specials + 42,380
BPE entries) and a 1024-token context; d_ff = 4 * d_model (App. A.1). Table 5's
``n_params`` column is the *non-embedding* parameter count, 12·L·d² + 13·L·d for the
blocks plus 2·d for the final LayerNorm (see :func:`GPTConfig.n_params`), e.g. Med: 302.3M.

``tiny`` and ``small`` are CPU-sized presets (the benchmarks' sizes).

Does not handle: anything but the GPT-2/GPT-3 decoder (no rotary embeddings, no MoE,
no GQA) -- the paper uses none of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .errors import UserError

PAPER_VOCAB_SIZE = 42_384  # Sec. 3.1: Moses + BPE vocabulary learned on PubMed
PAPER_CONTEXT = 1024  # App. A.1: "The context window size is set to 1024"


class ConfigError(UserError):
    """An impossible model configuration (e.g. heads not dividing d_model)."""


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT-3 decoder. Names follow GPT-2 / Hugging Face ``GPT2Config``."""

    vocab_size: int = PAPER_VOCAB_SIZE  # V
    n_ctx: int = PAPER_CONTEXT  # maximum sequence length (GPT-2 ``n_positions``)
    n_layer: int = 24  # L
    n_embd: int = 1024  # d_model (C in shape comments)
    n_head: int = 16  # nh; head size hs = n_embd // n_head
    dropout: float = 0.0  # applied to embeddings, attention probs, residual branches
    layer_norm_eps: float = 1e-5  # GPT-2's
    init_std: float = 0.02  # GPT-2 initialisation; residual projections scaled by 1/sqrt(2L)

    def __post_init__(self):
        for name in ("vocab_size", "n_ctx", "n_layer", "n_embd", "n_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ConfigError(
                f"n_head={self.n_head} does not divide n_embd={self.n_embd} (d_model must split evenly into heads)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.layer_norm_eps > 0:
            raise ConfigError(f"layer_norm_eps must be positive, got {self.layer_norm_eps}")

    @property
    def d_head(self) -> int:
        """Head size hs = d_model / n_heads (Table 5's d_head)."""
        return self.n_embd // self.n_head

    @property
    def d_ff(self) -> int:
        """MLP width, 4 * d_model (App. A.1)."""
        return 4 * self.n_embd

    def n_params(self, embeddings: bool = True) -> int:
        """Closed-form parameter count of the GPT-2 layout (tied output embedding).

        Per block: ln_1, ln_2 (2 * 2d) + c_attn (d*3d + 3d) + attn c_proj (d*d + d)
        + c_fc (d*4d + 4d) + mlp c_proj (4d*d + d) = 12 d^2 + 13 d.
        Embeddings: wte (V*d) + wpe (n_ctx*d); final LayerNorm: 2d.
        With ``embeddings=False`` this is Table 5's n_params (the final LayerNorm is
        counted with the blocks, as it is not an embedding).
        """
        d, L = self.n_embd, self.n_layer
        body = L * (12 * d * d + 13 * d) + 2 * d
        if not embeddings:
            return body
        return body + self.vocab_size * d + self.n_ctx * d

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown model config field(s): {', '.join(unknown)}")
        return cls(**d)

    def with_(self, **changes) -> "GPTConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


PRESETS: dict[str, GPTConfig] = {
    # benchmark sizes, trainable on a laptop CPU.
    "tiny": GPTConfig(vocab_size=2048, n_ctx=128, n_layer=4, n_embd=128, n_head=4),  # 0.79M non-emb, 1.07M total
    "small": GPTConfig(vocab_size=8192, n_ctx=256, n_layer=6, n_embd=256, n_head=8),  # 4.74M non-emb, 6.90M total
    # Paper Table 5 (vocab 42,384, context 1024, d_ff = 4d).
    "med": GPTConfig(n_layer=24, n_embd=1024, n_head=16),  # 302.3M non-emb, d_head 64
    "large": GPTConfig(n_layer=18, n_embd=1536, n_head=12),  # 510.0M non-emb, d_head 128
    "xl": GPTConfig(n_layer=24, n_embd=2048, n_head=16),  # 1.209B non-emb, d_head 128
}


def get_preset(name: str) -> GPTConfig:
    """Look up a preset by name, with a one-line error listing the choices."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model preset {name!r}; choose from {', '.join(PRESETS)}") from None
