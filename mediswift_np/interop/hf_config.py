"""``config.json`` (Hugging Face ``GPT2Config``) and the soft-prompt sidecar, both ways.

GPT2Config names the same sizes as :class:`~mediswift_np.config.GPTConfig` (which was
named after it): ``n_layer``, ``n_embd``, ``n_head``, ``n_positions`` (our ``n_ctx``),
``layer_norm_epsilon``, ``initializer_range`` (our ``init_std``). The architecture is fixed
by the other fields: ``activation_function = "gelu_new"`` (GELU, tanh form), ``n_inner =
null`` (d_ff = 4·d, App. A.1), attention scaled by 1/√hs, tied input/output embeddings.
Our single ``dropout`` is GPT-2's three (``resid_pdrop``, ``embd_pdrop``, ``attn_pdrop``).
Fields a file leaves out take GPT2Config's defaults (``save_pretrained`` writes only the
fields that differ from them). Special ids are fairseq's/BioGPT's: ``<s>`` 0, ``<pad>`` 1,
``</s>`` 2.

Soft prompts (paper Sec. 2.2.2) travel the way BioGPT's fairseq code keeps them:
``--learned-prompt P`` makes the prompt the string ``learned1 ... learnedP``
(``--learned-prompt-pattern``, default ``learned``; ``LanguageModelingPromptTask.setup_prompt``
in microsoft/BioGPT ``src/language_modeling_prompt.py``), encoded with fairseq's
``Dictionary.encode_line``, which appends unknown words to the dictionary. So the P virtual
tokens become ordinary vocabulary entries V..V+P-1 whose embedding rows are the learned
prompt vectors (``transformer_lm_prompt.py`` grows ``embed_tokens`` by those rows). In
``vocab.json`` the names are spelled as BioGPT's converter writes a word-final token,
``learned1</w>``. ``soft_prompt.json`` records which ids they are, so the import can take the
rows back out.

Does not handle: GPT-2 variants this decoder does not implement (cross-attention,
``scale_attn_by_inverse_layer_idx``, another activation, untied output layer, a different
``n_inner``), or BioGPT's own architecture (``model_type: biogpt``: scaled embeddings,
position offset 2, exact GELU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import GPTConfig
from ..errors import UserError
from ..fileio import atomic_write_json
from ..tokenizer.bpe import END_OF_WORD

PROMPT_TOKEN_PATTERN = "learned"  # BioGPT's --learned-prompt-pattern default
PROMPT_FORMAT = "mediswift_np soft prompt v1"
GELU_TANH = ("gelu_new", "gelu_pytorch_tanh")  # both are 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))
BOS_ID, PAD_ID, EOS_ID = 0, 1, 2  # fairseq Dictionary order

# GPT2Config defaults (transformers configuration_gpt2.py), for fields a file leaves out
GPT2_DEFAULTS: dict[str, Any] = {
    "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": None,
    "activation_function": "gelu_new", "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1,
    "layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False, "add_cross_attention": False, "tie_word_embeddings": True,
}  # fmt: skip


def gpt2_config(cfg: GPTConfig, n_prompt: int = 0) -> dict[str, Any]:
    """The ``config.json`` of a GPT2LMHeadModel equal to ``cfg`` with ``n_prompt`` extra token rows."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": cfg.vocab_size + n_prompt,
        "n_positions": cfg.n_ctx,
        "n_ctx": cfg.n_ctx,  # the name older transformers versions read
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_inner": None,  # = 4 * n_embd
        "activation_function": "gelu_new",
        "resid_pdrop": cfg.dropout,
        "embd_pdrop": cfg.dropout,
        "attn_pdrop": cfg.dropout,
        "layer_norm_epsilon": cfg.layer_norm_eps,
        "initializer_range": cfg.init_std,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "add_cross_attention": False,
        "tie_word_embeddings": True,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "pad_token_id": PAD_ID,
        "use_cache": True,
        "dtype": "float32",
    }


def read_json_object(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object")
    return obj


def model_config_from_gpt2(config: dict[str, Any], source: str = "config.json") -> GPTConfig:
    """The GPTConfig of a GPT-2 ``config.json`` (vocab_size as in the file, prompt rows included)."""

    def get(name):
        return config.get(name, GPT2_DEFAULTS.get(name))

    if config.get("model_type") != "gpt2":
        raise UserError(f"{source}: model_type is {config.get('model_type')!r}; only GPT-2 ('gpt2') checkpoints can be imported")
    if get("activation_function") not in GELU_TANH:
        raise UserError(f"{source}: activation_function {get('activation_function')!r} is not the tanh GELU ('gelu_new') of this model")
    checks = {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "add_cross_attention": False, "tie_word_embeddings": True}
    for name, wanted in checks.items():
        if get(name) != wanted:
            raise UserError(f"{source}: {name} = {get(name)!r} is not supported (this decoder needs {wanted})")
    dropouts = {get(n) for n in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}
    if len(dropouts) != 1:
        raise UserError(f"{source}: resid_pdrop, embd_pdrop and attn_pdrop differ; this model has one dropout rate")
    n_embd = get("n_embd")
    if get("n_inner") not in (None, 4 * n_embd if isinstance(n_embd, int) else None):
        raise UserError(f"{source}: n_inner = {get('n_inner')!r}; this decoder's MLP width is 4 * n_embd (App. A.1)")
    n_ctx = config.get("n_positions", config.get("n_ctx", GPT2_DEFAULTS["n_positions"]))
    try:
        return GPTConfig(
            vocab_size=get("vocab_size"), n_ctx=n_ctx, n_layer=get("n_layer"), n_embd=n_embd, n_head=get("n_head"),
            dropout=float(dropouts.pop()), layer_norm_eps=float(get("layer_norm_epsilon")), init_std=float(get("initializer_range")),
        )  # fmt: skip
    except (TypeError, ValueError, UserError) as e:
        raise UserError(f"{source}: {e}") from None


def prompt_token_names(n_prompt: int) -> list[str]:
    """BioGPT's names of the virtual tokens. Example: ``prompt_token_names(2) == ['learned1', 'learned2']``."""
    return [f"{PROMPT_TOKEN_PATTERN}{i + 1}" for i in range(n_prompt)]


def prompt_sidecar(base_vocab_size: int, n_prompt: int, task: str | None = None) -> dict[str, Any]:
    """The content of ``soft_prompt.json``."""
    names = prompt_token_names(n_prompt)
    return {
        "format": PROMPT_FORMAT,
        "n_tokens": n_prompt,
        "base_vocab_size": base_vocab_size,
        "token_ids": list(range(base_vocab_size, base_vocab_size + n_prompt)),
        "tokens": names,  # fairseq dictionary names (BioGPT --learned-prompt-pattern)
        "vocab_json_tokens": [n + END_OF_WORD for n in names],
        "embedding_rows": f"transformer.wte.weight[{base_vocab_size}:{base_vocab_size + n_prompt}]",
        "sequence_layout": "[source; prompt; target] (MediSwift Eq. 3; BioGPT prefix=False)",
        "note": "the output logits of these ids were never trained; suppress them when generating",
        "task": task,
    }


def write_prompt_sidecar(path: Path, base_vocab_size: int, n_prompt: int, task: str | None = None) -> Path:
    return atomic_write_json(path, prompt_sidecar(base_vocab_size, n_prompt, task))


def read_prompt_sidecar(path: Path, vocab_size: int) -> dict[str, Any]:
    """Read and check ``soft_prompt.json`` against the model's (prompt-inclusive) ``vocab_size``."""
    side = read_json_object(path)
    if side.get("format") != PROMPT_FORMAT:
        raise UserError(f"{path}: format is {side.get('format')!r}, expected {PROMPT_FORMAT!r}")
    n, base = side.get("n_tokens"), side.get("base_vocab_size")
    if not (isinstance(n, int) and isinstance(base, int) and n >= 1 and base >= 1):
        raise UserError(f"{path}: n_tokens and base_vocab_size must be positive integers")
    if base + n != vocab_size:
        raise UserError(f"{path}: base_vocab_size {base} + n_tokens {n} != the model's vocab_size {vocab_size} (files of different exports?)")
    expected = prompt_sidecar(base, n)
    for key in ("token_ids", "vocab_json_tokens"):
        if side.get(key) != expected[key]:
            raise UserError(f"{path}: {key} does not match ids {base}..{base + n - 1}")
    return side
