"""The configuration of a pre-training run: one frozen dataclass, stored in its checkpoints.

``PretrainConfig`` holds every choice of Sec. 3.2-3.3 and App. A.1 the command line
exposes (one option per field, ``__main__.py``); ``validate`` turns a bad value into a
one-line error before any work starts, and ``check_memory`` refuses a model that cannot
fit in this machine's memory, with the number.

Does not handle: configuration files (the command line and Python are the interfaces).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .. import sparse
from ..config import GPTConfig, get_preset
from ..data.corpus import check_regular_file
from ..sparse.dst import DSTConfig
from ..errors import UserError
from ..tokenizer.files import SPECIAL_TOKENS
from ..training import check_optimizer_options

PAPER_RECIPE = {"lr": 2e-4}  # App. A.1 peak learning rate, the default for med/large/xl
PAPER_PRESETS = ("med", "large", "xl")


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines a pre-training run (stored in its checkpoints)."""

    model: str = "tiny"  # a preset of config.PRESETS; its vocab_size is replaced by the tokenizer's
    n_layer: int = 0  # 0 = the preset's; set to vary the model size (e.g. Sec. 3.4 comparisons)
    n_embd: int = 0
    n_head: int = 0
    sparsity: float = 0.0  # s of the six matrices of every block (Sec. 3.3)
    steps: int = 400
    batch_size: int = 8  # 8 windows of n_ctx = 128 tokens for --tiny: 1,024 tokens a step
    seq_len: int = 0  # 0 = the model's n_ctx, so every position row of wpe is trained (fine-tuning reads them all)
    lr: float = 2e-3  # peak learning rate (paper: 2e-4 for Med/Large/XL)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    merges: int = 1200  # BPE merges learned on the corpus
    n_docs: int = 3000  # size of the synthetic corpus (ignored with --corpus)
    profiles: int = 0  # drug profiles per catalogue drug added to the synthetic corpus (closed-book facts)
    corpus: tuple[str, ...] = ()  # real corpus files; empty = the synthetic corpus
    val_fraction: float = 0.03  # Table 1: 3% validation
    eval_every: int = 100
    eval_batches: int = 16  # validation windows per evaluation = eval_batches * batch_size
    save_every: int = 0  # 0 = save only at the end
    sparse_backend: str = "auto"
    sparse_method: str = "static"  # static | set | rigl (dynamic sparse training, see dst.py)
    mask_update_every: int = 50  # ΔT for set/rigl
    drop_fraction: float = 0.3  # α for set/rigl

    def dst_config(self) -> DSTConfig:
        return DSTConfig(self.sparse_method, self.mask_update_every, self.drop_fraction).validate()

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The preset with the tokenizer's vocabulary and any size overrides (validated)."""
        sizes = {k: getattr(self, k) for k in ("n_layer", "n_embd", "n_head") if getattr(self, k)}
        return get_preset(self.model).with_(vocab_size=vocab_size, **sizes)

    def validate(self) -> "PretrainConfig":
        """One-line errors for impossible values; returns the config with ``seq_len`` 0 resolved."""
        sparse.check_sparsity(self.sparsity)
        self.model_config(vocab_size=len(SPECIAL_TOKENS))  # raises for an unknown preset or heads not dividing n_embd
        if self.steps < 0:
            raise UserError(f"--steps must be >= 0 (0 saves the initialised model: no pre-training), got {self.steps}")
        for name in ("batch_size", "merges", "n_docs", "eval_batches"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("profiles", "eval_every", "save_every"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        n_ctx = get_preset(self.model).n_ctx
        if not 0 <= self.seq_len <= n_ctx:
            raise UserError(f"--seq-len must be in 1..{n_ctx} (the model context), or 0 for all of it; got {self.seq_len}")
        if not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        check_optimizer_options([self.lr], self.weight_decay, self.grad_clip)
        if self.sparse_backend not in sparse.BACKENDS:
            raise UserError(f"unknown --sparse-backend {self.sparse_backend!r}; choose from {', '.join(sparse.BACKENDS)}")
        if self.dst_config().method != "static" and self.sparsity == 0:
            raise UserError(f"--sparse-method {self.sparse_method} needs --sparsity > 0")
        for path in self.corpus:
            check_regular_file(path)  # before any work: not missing, not a directory or device
        return dataclasses.replace(self, seq_len=self.seq_len or n_ctx)

    def memory_bytes(self, vocab_size: int) -> int:
        """A lower bound of the memory a training step needs, in bytes (float32): four copies
        of every parameter (weights, gradients, AdamW's m and v), two of the logits (B, T, V)
        (values and gradient), and what each block keeps for its backward pass -- the inputs
        of its four linear layers (C + C + C + 4C per token: a weight gradient needs its
        input) and the attention probabilities (nh·T per token). With ``steps`` 0 nothing is
        trained: the weights, the (zero) moments saved with them and one batch of logits.
        Masks, the corpus, the other activations and temporaries come on top."""
        model = self.model_config(vocab_size)
        B, T, C = self.batch_size, self.seq_len or model.n_ctx, model.n_embd
        if self.steps == 0:
            return 4 * (3 * model.n_params() + B * T * vocab_size)
        kept = model.n_layer * B * T * (7 * C + model.n_head * T)
        return 4 * (4 * model.n_params() + 2 * B * T * vocab_size + kept)


def available_memory_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), else None: then no run is refused for its size."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(cfg: PretrainConfig, vocab_size: int, available: int | None = None) -> None:
    """Refuse, before it is built, a model whose lower-bound memory exceeds what is available."""
    available = available_memory_bytes() if available is None else available
    needed = cfg.memory_bytes(vocab_size)
    if available is not None and needed > available:
        raise UserError(f"the model needs at least {needed / 1e9:,.1f} GB of memory ({cfg.model_config(vocab_size).n_params():,} "
                        f"parameters x 16 bytes for weights, gradients and AdamW moments, plus logits and activations), but "
                        f"{available / 1e9:,.1f} GB are available; choose a smaller --n-embd, --n-layer or --batch-size")
