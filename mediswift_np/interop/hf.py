"""Export a checkpoint to a Hugging Face GPT-2 directory, and import one back.

Our parameter names and layouts are GPT-2's (see :mod:`mediswift_np.model`): the weight of
every linear layer is stored (in, out), as GPT-2's ``Conv1D`` stores it, so each array is
written unchanged under its own name. The output layer is tied to ``transformer.wte.weight``;
like ``save_pretrained`` we write ``wte`` once and no ``lm_head.weight`` (``GPT2LMHeadModel``
declares ``lm_head.weight`` tied to ``transformer.wte.weight`` and re-ties it on load). The
causal mask is not a weight: current transformers builds it on the fly and ignores the
``attn.bias`` buffers that older versions saved, so we write none and skip them on import.

An export directory, readable by ``GPT2LMHeadModel.from_pretrained`` and
``BioGptTokenizer``/``AutoTokenizer.from_pretrained``::

    config.json                   GPT2Config (hf_config.gpt2_config); written last
    model.safetensors             the weights, float32 (safetensors_io)
    vocab.json, merges.txt        the tokenizer as BioGptTokenizer reads it (tokenizer_hf)
    tokenizer_config.json, dict.txt
    soft_prompt.json              only with a soft prompt: which rows of wte are the prompt
    sparsity_masks.safetensors    only for a sparse checkpoint: one BOOL mask per sparsified
                                  matrix (True = kept); pruned weights are exactly 0 in
                                  model.safetensors, and import checks that they still are
    optimizer.safetensors         only for a pre-training checkpoint: AdamW's moments m/<name>,
                                  v/<name> (float32, keyed by the GPT-2 names) and t, the
                                  steps taken (int64)
    training_state.json           beside it: the checkpoint's resumable state (step, pre-training
                                  config, RNG states, losses), the schedule position, the AdamW
                                  hyperparameters and parameter groups, and the SHA-256 of the
                                  three .safetensors files (see training_state.py for every field)

With the last two, import gives back a checkpoint that ``python -m mediswift_np.pretrain
--resume`` continues exactly where the exported one stopped (export -> import is bit for
bit: weights, masks, moments, step, config, RNG states), and reference/train_ddp.py can
continue the same run in PyTorch DDP and write the same files back. A directory without
them imports as before: weights, masks and tokenizer, ``kind: "imported"``, step 0.

Soft prompt (Sec. 2.2.2): the P learned vectors become rows V..V+P-1 of ``wte`` (vocab_size
V+P in config.json), named ``learned1 .. learnedP`` as BioGPT does (see hf_config). Feeding
those ids to the Hugging Face model is exactly our ``forward(idx, prompt=...)``; its logits
have P extra columns (the prompt rows through the tied output layer).

Import accepts our exports and GPT-2 directories written by ``save_pretrained`` (names with
or without the ``transformer.`` prefix, a duplicate ``lm_head.weight`` equal to ``wte``). A
tokenizer is read when ``tokenizer_config.json`` names ``BioGptTokenizer`` (or is absent); a
directory with another tokenizer (GPT-2's byte-level BPE) imports with ``tokenizer=None``.

Does not handle: sharded or ``pytorch_model.bin`` (pickle) weights, BioGPT's own
architecture, untied output layers, downloading from the Hub (directories only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import checkpoint
from ..errors import UserError
from ..fileio import atomic_write_json
from ..model import GPT, parameter_shapes
from ..tokenizer import Tokenizer
from . import hf_config, training_state
from .safetensors_io import load_safetensors, save_safetensors
from .tokenizer_hf import DICT_TXT, MERGES_TXT, TOKENIZER_CONFIG_JSON, VOCAB_JSON, hf_vocab, read_hf_tokenizer, write_hf_tokenizer
from .training_state import OPTIMIZER_FILE, TRAINING_STATE_FILE, TrainingState

CONFIG_JSON = "config.json"
WEIGHTS_FILE = "model.safetensors"
MASKS_FILE = "sparsity_masks.safetensors"
PROMPT_FILE = "soft_prompt.json"
TOKENIZER_FILES = (VOCAB_JSON, MERGES_TXT, DICT_TXT, TOKENIZER_CONFIG_JSON)
TRAINING_FILES = (OPTIMIZER_FILE, TRAINING_STATE_FILE)
EXPORT_FILES = (CONFIG_JSON, WEIGHTS_FILE, MASKS_FILE, PROMPT_FILE, *TOKENIZER_FILES, *TRAINING_FILES)
WTE = "transformer.wte.weight"
CAUSAL_MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")  # older transformers saved these; not weights


@dataclass
class HFImport:
    """Everything an export directory holds, back in mediswift_np form."""

    model: GPT  # weights (vocab V, prompt rows removed) and masks (``p.mask``) restored
    tokenizer: Tokenizer | None  # None without vocab.json, or when tokenizer_config.json names another class
    soft_prompt: np.ndarray | None  # (P, C) float32, for ``model.forward(idx, prompt=Tensor(soft_prompt))``
    prompt_tokens: list[str] = field(default_factory=list)  # their names, ids V..V+P-1
    task: str | None = None  # the fine-tuning task named in soft_prompt.json, if any
    source: str = ""
    training: TrainingState | None = None  # AdamW moments + resumable state, from optimizer.safetensors


def verify_sparsity(weights: dict[str, np.ndarray], masks: dict[str, np.ndarray], source: str) -> int:
    """Check every pruned weight is exactly 0; return how many pruned weights there are."""
    pruned = 0
    for name, mask in masks.items():
        if name not in weights:
            raise UserError(f"{source}: mask {name!r} names no weight of the model")
        if mask.dtype != np.bool_ or mask.shape != weights[name].shape:
            raise UserError(f"{source}: mask {name!r} is {mask.dtype} {mask.shape}, expected bool {weights[name].shape}")
        revived = int(np.count_nonzero(weights[name][~mask]))
        if revived:
            raise UserError(f"{source}: {revived} pruned weights of {name} are not 0 (trained densely? then drop {MASKS_FILE})")
        pruned += int(mask.size - np.count_nonzero(mask))
    return pruned


def check_out_dir(out: Path) -> None:
    """Refuse a path that is a file, or a directory holding anything but a previous export."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in EXPORT_FILES and not p.name.startswith("."))
        if foreign:
            raise UserError(f"{out}: not empty and not a previous export (found {foreign[0]}); choose a new directory")


def export_model(
    model: GPT,
    out_dir: str | os.PathLike,
    tokenizer: Tokenizer | None = None,
    soft_prompt: np.ndarray | None = None,
    task: str | None = None,
    progress: bool = False,
    training: TrainingState | None = None,
) -> dict[str, Any]:
    """Write ``model`` (masks included), its tokenizer and soft prompt as a Hugging Face GPT-2 directory.

    With ``training`` (AdamW moments for ``model``'s parameters and a pre-training state),
    also optimizer.safetensors and training_state.json, so the run can continue.
    """
    out, cfg = Path(out_dir), model.config
    n_prompt = 0
    if soft_prompt is not None:
        soft_prompt = np.asarray(soft_prompt)
        if soft_prompt.ndim != 2 or soft_prompt.shape[1] != cfg.n_embd or soft_prompt.shape[0] < 1:
            raise UserError(f"soft prompt has shape {soft_prompt.shape}, expected (P, {cfg.n_embd})")
        if not np.issubdtype(soft_prompt.dtype, np.floating):
            raise UserError(f"soft prompt has dtype {soft_prompt.dtype}, expected floating point")
        n_prompt = soft_prompt.shape[0]
    if tokenizer is not None and tokenizer.vocab_size != cfg.vocab_size:
        raise UserError(f"tokenizer has {tokenizer.vocab_size} entries, model vocab_size is {cfg.vocab_size}")
    check_out_dir(out)
    weights = {name: np.asarray(p.data, dtype=np.float32) for name, p in model.named_parameters()}
    bad = checkpoint.first_nonfinite({**weights, **({} if soft_prompt is None else {checkpoint.PROMPT_KEY: soft_prompt})})
    if bad is not None:
        raise UserError(f"refusing to export: {bad} holds NaN or infinite values")
    masks = {name: np.asarray(p.mask, dtype=np.bool_) for name, p in model.named_parameters() if p.mask is not None}
    pruned = verify_sparsity(weights, masks, "model")
    if n_prompt:
        weights[WTE] = np.concatenate([weights[WTE], soft_prompt.astype(np.float32)])  # (V + P, C): the prompt as extra rows
    mask_meta = {"format": "pt", "meaning": "True = kept weight, False = pruned (exactly 0 in model.safetensors)", "pruned_weights": str(pruned)}
    extra_tokens = hf_config.prompt_sidecar(cfg.vocab_size, n_prompt)["vocab_json_tokens"]
    if tokenizer is not None:
        hf_vocab(tokenizer, extra_tokens)  # refuse colliding vocab.json keys before writing anything
    steps = [(WEIGHTS_FILE, lambda: [save_safetensors(out / WEIGHTS_FILE, weights, {"format": "pt"})])]
    if masks:
        steps.append((MASKS_FILE, lambda: [save_safetensors(out / MASKS_FILE, masks, mask_meta)]))
    if n_prompt:
        steps.append((PROMPT_FILE, lambda: [hf_config.write_prompt_sidecar(out / PROMPT_FILE, cfg.vocab_size, n_prompt, task)]))
    if training is not None:
        if n_prompt:
            raise UserError("a soft prompt and a pre-training state cannot be exported together")
        training_state.check(training, model, "optimizer state")  # before writing anything, what import would check
        hashed = [WEIGHTS_FILE, *([MASKS_FILE] if masks else []), OPTIMIZER_FILE]
        steps.append((OPTIMIZER_FILE, lambda: training_state.save_optimizer(out / OPTIMIZER_FILE, training)))
        steps.append((TRAINING_STATE_FILE, lambda: training_state.save_sidecar(out, training, model, hashed)))
    if tokenizer is not None:
        steps.append((VOCAB_JSON, lambda: write_hf_tokenizer(tokenizer, out, extra_tokens, model_max_length=cfg.n_ctx)))
    steps.append((CONFIG_JSON, lambda: [atomic_write_json(out / CONFIG_JSON, hf_config.gpt2_config(cfg, n_prompt))]))
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_JSON).unlink(missing_ok=True)  # no config.json = an incomplete export, until the very end
    written: list[Path] = []
    bar = tqdm(steps, desc="export", unit="file", disable=not progress)
    for name, write in bar:
        if name == CONFIG_JSON:  # before the last file: drop sidecars of an earlier export, which would be misread
            for stale in set(EXPORT_FILES) - {p.name for p in written} - {CONFIG_JSON}:
                (out / stale).unlink(missing_ok=True)
        bar.set_postfix_str(name)
        written += write()
    return {
        "out": str(out), "format": "hf", "files": sorted(p.name for p in written),
        "vocab_size": cfg.vocab_size, "hf_vocab_size": cfg.vocab_size + n_prompt, "prompt_tokens": n_prompt,
        "masked_tensors": len(masks), "pruned_weights": pruned,
        "params": int(sum(w.size for w in weights.values())),
        "training_state_step": None if training is None else training.step,
    }  # fmt: skip


def export_hf(ckpt_dir: str | os.PathLike, out_dir: str | os.PathLike, progress: bool = False) -> dict[str, Any]:
    """Export a mediswift_np checkpoint directory (pre-training or fine-tuning) to ``out_dir``.

    A pre-training checkpoint also exports its training state (AdamW moments, step, RNG
    states, config). Returns a summary: files written, vocab size (with prompt rows),
    prompt tokens, masks, the step of the training state (None without one).
    """
    arrays, state = checkpoint.load(ckpt_dir)
    model = checkpoint.restore_model(arrays, state)
    tokenizer = checkpoint.load_tokenizer(ckpt_dir)
    training = training_state.from_checkpoint(arrays, state)
    summary = export_model(model, out_dir, tokenizer, arrays.get(checkpoint.PROMPT_KEY), state.get("task"), progress, training)
    return {"checkpoint": str(ckpt_dir), "kind": state.get("kind"), "step": state.get("step"), **summary}


def _gpt2_weights(tensors: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Our parameter names for a GPT-2 state dict (``transformer.`` prefix optional, tied lm_head dropped)."""
    weights: dict[str, np.ndarray] = {}
    lm_head = tensors.pop("lm_head.weight", None)
    for name, a in tensors.items():
        if name.endswith(CAUSAL_MASK_BUFFERS):
            continue  # the causal-mask buffer, not a parameter
        full = name if name.startswith("transformer.") else "transformer." + name
        if full in weights:
            raise UserError(f"{source}: {name} appears with and without the 'transformer.' prefix")
        weights[full] = a
    if lm_head is not None and not (WTE in weights and np.array_equal(lm_head, weights[WTE])):
        raise UserError(f"{source}: lm_head.weight differs from transformer.wte.weight; only tied output layers are supported")
    return weights


def _is_biogpt_tokenizer(d: Path) -> bool:
    """False when tokenizer_config.json names another tokenizer (e.g. GPT-2's byte-level GPT2Tokenizer)."""
    if not (d / TOKENIZER_CONFIG_JSON).is_file():
        return True
    return hf_config.read_json_object(d / TOKENIZER_CONFIG_JSON).get("tokenizer_class", "BioGptTokenizer") == "BioGptTokenizer"


def load_hf(hf_dir: str | os.PathLike) -> HFImport:
    """Read a Hugging Face GPT-2 directory: model (with masks), tokenizer, soft prompt."""
    d = Path(hf_dir)
    if not (d / CONFIG_JSON).is_file():
        raise UserError(f"{d}: no {CONFIG_JSON} (not a Hugging Face model directory, or an incomplete export)")
    if not (d / WEIGHTS_FILE).is_file():
        other = [n for n in ("pytorch_model.bin", "model.safetensors.index.json") if (d / n).is_file()]
        hint = f" ({other[0]} is not read: pickle or sharded weights)" if other else ""
        raise UserError(f"{d}: no {WEIGHTS_FILE}{hint}")
    full_cfg = hf_config.model_config_from_gpt2(hf_config.read_json_object(d / CONFIG_JSON), str(d / CONFIG_JSON))
    n_prompt, task = 0, None
    if (d / PROMPT_FILE).is_file():
        side = hf_config.read_prompt_sidecar(d / PROMPT_FILE, full_cfg.vocab_size)
        n_prompt, task = side["n_tokens"], side.get("task")
    cfg = full_cfg.with_(vocab_size=full_cfg.vocab_size - n_prompt)
    weights = _gpt2_weights(load_safetensors(d / WEIGHTS_FILE)[0], str(d / WEIGHTS_FILE))
    expected = parameter_shapes(full_cfg)
    for name, shape in expected.items():
        if name not in weights:
            raise UserError(f"{d / WEIGHTS_FILE}: missing {name} (config.json says n_layer={cfg.n_layer})")
        if weights[name].shape != shape:
            raise UserError(f"{d / WEIGHTS_FILE}: {name} has shape {weights[name].shape}, config.json implies {shape}")
    unexpected = sorted(set(weights) - set(expected))
    if unexpected:
        raise UserError(f"{d / WEIGHTS_FILE}: unexpected tensor {unexpected[0]} for the model config.json describes")
    bad = checkpoint.first_nonfinite(weights)
    if bad is not None:
        raise UserError(f"{d / WEIGHTS_FILE}: {bad} holds NaN or infinite values")
    soft_prompt = None
    if n_prompt:
        soft_prompt = np.asarray(weights[WTE][cfg.vocab_size :], dtype=np.float32)  # (P, C)
        weights[WTE] = weights[WTE][: cfg.vocab_size]
    model = GPT(cfg)
    model.load_state_dict(weights)
    if (d / MASKS_FILE).is_file():
        masks = load_safetensors(d / MASKS_FILE)[0]
        verify_sparsity({n: p.data for n, p in model.named_parameters()}, masks, str(d / MASKS_FILE))
        params = dict(model.named_parameters())
        for name, mask in masks.items():
            params[name].mask = mask
    training = None
    if (d / OPTIMIZER_FILE).is_file() or (d / TRAINING_STATE_FILE).is_file():
        if not (d / OPTIMIZER_FILE).is_file():
            raise UserError(f"{d}: {TRAINING_STATE_FILE} without {OPTIMIZER_FILE} (an incomplete export)")
        training = training_state.read(d, model)
    tokenizer, prompt_tokens = None, hf_config.prompt_token_names(n_prompt)
    if (d / VOCAB_JSON).is_file() and _is_biogpt_tokenizer(d):
        tokenizer, extra = read_hf_tokenizer(d, n_prompt)
        if tokenizer.vocab_size != cfg.vocab_size:
            raise UserError(f"{d / VOCAB_JSON}: {tokenizer.vocab_size + n_prompt} entries, config.json vocab_size is {full_cfg.vocab_size}")
        if extra != hf_config.prompt_sidecar(cfg.vocab_size, n_prompt)["vocab_json_tokens"]:
            raise UserError(f"{d / VOCAB_JSON}: the last {n_prompt} entries are not the soft-prompt tokens of {PROMPT_FILE}")
    return HFImport(model, tokenizer, soft_prompt, prompt_tokens, task, str(d), training)


def import_hf(hf_dir: str | os.PathLike) -> GPT:
    """The mediswift_np model of a Hugging Face GPT-2 directory (see :func:`load_hf` for the rest)."""
    return load_hf(hf_dir).model


def import_hf_checkpoint(hf_dir: str | os.PathLike, ckpt_dir: str | os.PathLike, overwrite: bool = False) -> dict[str, Any]:
    """Convert a Hugging Face GPT-2 directory into a mediswift_np checkpoint directory.

    The checkpoint has ``kind: "imported"``, step 0, the weights and masks, the tokenizer,
    and the soft prompt as ``prompt/embeddings`` when there is one. A directory with a
    training state becomes the pre-training checkpoint it was exported from (its state
    plus ``source``, AdamW moments as ``adam/...``), which ``pretrain --resume`` continues.
    ``ckpt_dir`` must be new or empty, unless ``overwrite``.
    """
    out = Path(ckpt_dir)
    if not overwrite and (out / checkpoint.STATE_FILE).exists():
        raise UserError(f"{out}: already holds a checkpoint; choose a new directory")
    if out.exists() and (not out.is_dir() or (not overwrite and any(out.iterdir()))):
        raise UserError(f"{out}: exists and is not an empty directory")
    imp = load_hf(hf_dir)
    if imp.tokenizer is None:
        raise UserError(f"{hf_dir}: no {VOCAB_JSON}; a mediswift_np checkpoint needs its tokenizer")
    arrays = checkpoint.model_arrays(imp.model)
    if imp.soft_prompt is not None:
        arrays[checkpoint.PROMPT_KEY] = imp.soft_prompt
    source = {"format": "hf", "path": str(hf_dir)}
    state = {"step": 0, "kind": "imported", "model": imp.model.config.to_dict(), "source": source}
    if imp.training is not None:
        arrays.update(training_state.checkpoint_arrays(imp.training))
        state = {**imp.training.state, "source": source}
    if imp.task:
        state["task"] = imp.task
    checkpoint.save(out, arrays, state, imp.tokenizer)
    masked = [p for p in imp.model.parameters() if p.mask is not None]
    return {
        "checkpoint": str(out), "source": str(hf_dir), "vocab_size": imp.model.config.vocab_size,
        "prompt_tokens": 0 if imp.soft_prompt is None else int(imp.soft_prompt.shape[0]),
        "masked_tensors": len(masked), "pruned_weights": int(sum(p.mask.size - np.count_nonzero(p.mask) for p in masked)),
        "kind": state["kind"], "step": state["step"],
    }  # fmt: skip

