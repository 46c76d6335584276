"""What a resumed run checks before it continues: everything it depends on.

A pre-training checkpoint continues bit-identically only if nothing it depends on has
changed since it was saved. Loading it (checkpoint.py) verifies the array file, the
tokenizer files and ``state.json`` itself by their SHA-256 and refuses NaN or infinite
arrays. Here, before any work:

- ``resumable_state``: every entry of ``state.json`` the run reads is there and has the
  type and range it must have -- ``step`` an int in [0, steps], every pre-training option
  the type of its ``PretrainConfig`` field, losses finite numbers (one per step), FLOP
  counters non-negative ints, RNG states a generator accepts;
- ``check_corpus``: each real corpus file still has the SHA-256 recorded when the run
  started (the synthetic corpus is checked through its token stream);
- ``check_stream``: the token stream (corpus x tokenizer) is the one trained on;
- ``check_masks``: the checkpoint has a mask on exactly the six sparsified matrices of
  every block when the run is sparse (none when dense), and each of the query, key,
  value, attention output, MLP fc and MLP output matrices keeps exactly
  round((1 - s) · N_l) of its N_l weights. The tolerance is zero for SET and RigL too:
  they move the nonzeros but keep their number per matrix (sparse/dst.py).

One thing is not refused but reported (``rounding_note``): a different SIMD level, BLAS
library, kernel or BLAS thread count than the run started with. The run is as valid, but
its float32 products round differently, so it is no longer bit-identical to an
uninterrupted run.

Does not handle: checkpoints written before the corpus and stream hashes were recorded
(they cannot be resumed: the message names the missing entry).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoint, sparse
from ..errors import UserError
from ..model import GPT
from ..runtime import machine_info
from .config import PretrainConfig

FIELDS = {f.name: f for f in dataclasses.fields(PretrainConfig)}
# what train() reads back from state.json to continue a run
RESUME_KEYS = ("pretrain", "model", "step", "data_rng", "mask_rng", "dropout_rng", "train_losses", "val_losses",
               "flops_sparse_equivalent", "flops_executed", "mask_updates", "initial_loss", "corpus_sha256",
               "token_stream_sha256")  # fmt: skip


ARITHMETIC_KEYS = ("simd", "blas", "blas_kernel", "blas_threads")  # what decides the rounding of float32 products


def arithmetic() -> dict[str, str]:
    """This process's SIMD level, BLAS library, kernel and thread count (recorded at a run's start)."""
    info = machine_info()
    return {k: info[k] for k in ARITHMETIC_KEYS}


def rounding_note(state: dict[str, Any], where: Path) -> str | None:
    """One line when this process would round differently from the one that started the run, else None."""
    then, now = state.get("arithmetic"), arithmetic()
    if not isinstance(then, dict) or all(then.get(k) == now[k] for k in ARITHMETIC_KEYS):
        return None  # the same (or a checkpoint that did not record it)
    changed = ", ".join(f"{k} {then.get(k)} -> {now[k]}" for k in ARITHMETIC_KEYS if then.get(k) != now[k])
    return f"note: {where} was started with other arithmetic ({changed}): the run continues, but not bit-identically to an uninterrupted one"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _field_ok(field: dataclasses.Field, value) -> bool:
    """Does a stored value have the type of a ``PretrainConfig`` field (JSON: tuples are lists)?"""
    kind = type(field.default)
    if kind is tuple:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind is float:
        return _is_int(value) or isinstance(value, float)
    return _is_int(value) if kind is int else isinstance(value, kind)


def _check_rng_state(where: Path, key: str, value) -> None:
    try:
        np.random.default_rng().bit_generator.state = value
    except (TypeError, ValueError, KeyError):
        raise checkpoint.CheckpointError(f"{where}: {key!r} is not the state of a NumPy PCG64 generator") from None


def resumable_state(directory) -> dict[str, Any]:
    """The state of a pre-training checkpoint to continue, every entry checked (module docstring)."""
    _, state, _ = checkpoint.load_with_tokenizer(directory)  # the whole checkpoint is verified before anything else
    if state.get("kind") != "pretrain":
        raise UserError(f"{directory} is not a pre-training checkpoint")
    where = Path(directory) / checkpoint.STATE_FILE
    missing = next((k for k in RESUME_KEYS if k not in state), None)
    if missing is not None:
        raise checkpoint.CheckpointError(f"{where}: no {missing!r} entry, so the run cannot be resumed")
    stored = state["pretrain"]
    if not isinstance(stored, dict) or "steps" not in stored:
        raise checkpoint.CheckpointError(f"{where}: 'pretrain' must be the run's config with its 'steps'")
    unknown = sorted(set(stored) - set(FIELDS))
    if unknown:
        raise checkpoint.CheckpointError(f"{where}: unknown pre-training option {unknown[0]!r} in 'pretrain'")
    bad = next((k for k, v in stored.items() if not _field_ok(FIELDS[k], v)), None)
    if bad is not None:
        kind = type(FIELDS[bad].default).__name__
        raise checkpoint.CheckpointError(f"{where}: pretrain.{bad} must be of type {kind} (as PretrainConfig), got {stored[bad]!r}")
    steps, step = stored["steps"], state["step"]
    if not (_is_int(step) and _is_int(steps) and 0 <= step <= steps):
        raise checkpoint.CheckpointError(f"{where}: 'step' must be an integer in [0, {steps}] (the run's steps), got {step!r}")
    losses = state["train_losses"]
    if not (isinstance(losses, list) and len(losses) == step and all(_is_number(v) for v in losses)):
        raise checkpoint.CheckpointError(f"{where}: 'train_losses' must be {step} finite numbers, one per step taken")
    if not (isinstance(state["val_losses"], list) and all(isinstance(p, list) and len(p) == 2 and _is_int(p[0]) and _is_number(p[1])
                                                          for p in state["val_losses"])):  # fmt: skip
        raise checkpoint.CheckpointError(f"{where}: 'val_losses' must be a list of [step, finite loss] pairs")
    for key in ("flops_sparse_equivalent", "flops_executed", "mask_updates"):
        if not (_is_int(state[key]) and state[key] >= 0):
            raise checkpoint.CheckpointError(f"{where}: {key!r} must be an integer >= 0, got {state[key]!r}")
    if not _is_number(state["initial_loss"]):
        raise checkpoint.CheckpointError(f"{where}: 'initial_loss' must be a finite number, got {state['initial_loss']!r}")
    for key in ("data_rng", "mask_rng", "dropout_rng"):
        _check_rng_state(where, key, state[key])
    hashes = state["corpus_sha256"]
    if not (isinstance(hashes, dict) and all(isinstance(v, str) for v in hashes.values()) and isinstance(state["token_stream_sha256"], str)):
        raise checkpoint.CheckpointError(f"{where}: 'corpus_sha256' must map file names to SHA-256 strings, 'token_stream_sha256' be one")
    return state


def check_corpus(recorded: dict[str, str], hashes: dict[str, str], directory: Path) -> None:
    """Refuse a corpus file whose SHA-256 differs from the one recorded when the run started."""
    for path, sha256 in hashes.items():
        if recorded.get(path) != sha256:
            raise UserError(f"corpus file {path} has changed since the run in {directory} started (its SHA-256 differs "
                            f"from state.json); resume with the corpus the run was trained on")  # fmt: skip


def check_stream(sha256: str, recorded: str, directory: Path, cfg: PretrainConfig) -> None:
    """Refuse a token stream that differs from the one the run was trained on."""
    if sha256 != recorded:
        source = ", ".join(cfg.corpus) if cfg.corpus else f"the synthetic corpus (--n-docs {cfg.n_docs}, --seed {cfg.seed})"
        raise UserError(f"the token stream of {source} differs from the one the run in {directory} was trained on "
                        f"(SHA-256 does not match state.json): the corpus or the tokenizer changed")  # fmt: skip


def check_masks(model: GPT, sparsity: float, where) -> None:
    """Masks on exactly the six sparsified matrices, each keeping round((1 - s) N_l) weights."""
    sparsified = [name for name, _ in model.named_parameters() if any(name.endswith(s) for s in sparse.SPARSIFIED)]
    masked = [name for name, p in model.named_parameters() if p.mask is not None]
    expected = sparsified if sparsity > 0 else []
    if masked != expected:
        extra = sorted(set(masked) - set(expected))
        if extra:
            raise checkpoint.CheckpointError(f"{where}: {extra[0]} has a mask, but the run is configured dense (sparsity 0)")
        missing = sorted(set(expected) - set(masked))[0]
        raise checkpoint.CheckpointError(f"{where}: no mask for {missing}, but the run is configured for sparsity {sparsity:g}")
    for name, numel, nnz in sparse.sparsity_report(model).matrices:
        kept = round((1.0 - sparsity) * numel)  # sparse.random_mask keeps exactly this many; SET/RigL keep the count
        if nnz != kept:
            raise checkpoint.CheckpointError(f"{where}: {name} keeps {nnz} of {numel} weights (sparsity {1 - nnz / numel:.4f}); "
                                             f"sparsity {sparsity:g} keeps {kept}")
