"""Checkpoints you can trust: ``.npz`` + JSON, never pickle, written atomically.

A checkpoint is a directory::

    DIR/state.json           the manifest: format version, configs, step, RNG states,
                             losses, the name + SHA-256 of the array file and the
                             SHA-256 of each tokenizer file
    DIR/arrays-000300.npz    weights, masks (mask/<name>), AdamW moments (adam/m/<name>,
                             adam/v/<name>, adam/t), any extra arrays (e.g. soft prompts)
    DIR/tokenizer/           bpecodes + dict.txt (fastBPE files)

Writing order makes a crash at any moment harmless: the new array file (a new name,
written atomically), then the tokenizer, then ``state.json`` (atomically replaced), and
only then the previous array file is deleted. Until ``state.json`` is replaced it still
names the previous, complete array file. A save that fails (disk full, read-only file
system) removes what it wrote -- the new array file, or the whole folder if the save
created it -- and says in one line whether the checkpoint already there is intact (it
re-verifies it). Loading checks the manifest's hashes, so a truncated or swapped array
file, an edited tokenizer file or an edited ``state.json`` (``state_sha256`` is the
SHA-256 of the manifest's other entries) is reported, never silently used; arrays load
with ``allow_pickle=False``, so a checkpoint can never run code. ``save`` refuses arrays
holding NaN or ±inf, so a diverged run never overwrites a good checkpoint with a useless
one, and ``load`` refuses them too: a checkpoint that holds them was not written here.

Does not handle: sharded checkpoints, or loading a checkpoint of another format version.
Checkpoints written before tokenizer and state hashes were recorded (no
``tokenizer_sha256`` / ``state_sha256`` in ``state.json``) still load; their tokenizer
files are then only checked against the model's vocabulary size, and their state only
by the checks of its reader (pretrain/resume.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .config import GPTConfig
from .errors import UserError
from .fileio import atomic_savez, atomic_write_json, first_missing
from .model import GPT
from .tokenizer import Tokenizer
from .tokenizer.files import BPECODES, DICT_TXT

FORMAT_VERSION = 1
STATE_FILE = "state.json"
TOKENIZER_DIR = "tokenizer"
TOKENIZER_FILES = (BPECODES, DICT_TXT)  # each hashed in the manifest under "tokenizer_sha256"
PROMPT_KEY = "prompt/embeddings"  # a fine-tuned soft prompt (P, C); finetune writes it, interop exports it


class CheckpointError(UserError):
    """A missing, truncated, corrupt or mismatched checkpoint."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path) -> str:
    """The hex SHA-256 of a file, as the manifest records it (exports use it too: interop/training_state.py)."""
    return _sha256(Path(path))


def model_arrays(model: GPT, optimizer=None) -> dict[str, np.ndarray]:
    """Weights, masks and (optionally) AdamW state of a model as one flat dict."""
    arrays = dict(model.state_dict())
    for name, p in model.named_parameters():
        if p.mask is not None:
            arrays[f"mask/{name}"] = p.mask
    if optimizer is not None:
        arrays.update({f"adam/{k}": v for k, v in optimizer.state_dict().items()})
    return arrays


def first_nonfinite(arrays: dict[str, np.ndarray]) -> str | None:
    """The name of the first floating-point array holding NaN or ±inf, or None if all are finite.

    Example:
        >>> first_nonfinite({"w": np.ones(2), "mask/w": np.ones(2, bool), "b": np.array([0.0, np.nan])})
        'b'
    """
    for name, a in arrays.items():
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            return name
    return None


def state_sha256(manifest: dict[str, Any]) -> str:
    """The SHA-256 of a manifest's entries other than ``state_sha256``, as canonical JSON
    (sorted keys, no spaces): what ``save`` stores and ``load`` checks."""
    rest = {k: v for k, v in manifest.items() if k != "state_sha256"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def save(directory, arrays: dict[str, np.ndarray], state: dict[str, Any], tokenizer: Tokenizer | None = None) -> Path:
    """Write a checkpoint atomically (see the module docstring for the order).

    Refuses, before writing anything, arrays that hold NaN or ±inf. A write that fails
    (disk full, read-only) removes what this call wrote and raises a one-line
    ``CheckpointError`` saying whether the checkpoint already in ``directory`` is intact.
    """
    bad = first_nonfinite(arrays)
    if bad is not None:
        raise CheckpointError(f"refusing to save a checkpoint to {directory}: {bad} holds NaN or infinite values")
    directory = Path(directory)
    created = first_missing(directory)  # the folder this save creates, if any
    previous = _read_manifest(directory / STATE_FILE) if (directory / STATE_FILE).is_file() else None
    stem = f"arrays-{int(state.get('step', 0)):06d}"
    array_file = f"{stem}.npz"
    if previous is not None and previous.get("array_file") == array_file:
        array_file = f"{stem}b.npz"  # never overwrite the file in use
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_savez(directory / array_file, arrays)
        manifest = {"format_version": FORMAT_VERSION, **state, "array_file": array_file, "array_sha256": _sha256(directory / array_file)}
        manifest.pop("state_sha256", None)  # of the state this one continues; recomputed below
        if tokenizer is not None:
            tokenizer.save(directory / TOKENIZER_DIR)
            manifest["tokenizer_sha256"] = {name: _sha256(directory / TOKENIZER_DIR / name) for name in TOKENIZER_FILES}
        elif previous is not None and "tokenizer_sha256" in previous:  # the tokenizer files already there stay as they are
            manifest["tokenizer_sha256"] = previous["tokenizer_sha256"]
        manifest["state_sha256"] = state_sha256(manifest)
        atomic_write_json(directory / STATE_FILE, manifest)
    except BaseException as e:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        elif _read_manifest_or_none(directory).get("array_file") != array_file:
            (directory / array_file).unlink(missing_ok=True)  # the new array file is no checkpoint's
        if isinstance(e, OSError):
            raise CheckpointError(f"cannot save the checkpoint to {directory}: {e.strerror or e}; {_what_is_left(directory, created)}") from None
        raise
    if previous is not None and previous.get("array_file") not in (None, array_file):
        (directory / previous["array_file"]).unlink(missing_ok=True)
    return directory


def _read_manifest_or_none(directory: Path) -> dict:
    try:
        return _read_manifest(directory / STATE_FILE)
    except (OSError, CheckpointError):
        return {}


def _what_is_left(directory: Path, created: Path | None) -> str:
    """After a failed save: the words saying what ``directory`` holds now (re-verified)."""
    if created is not None:
        return f"nothing was saved ({created} was removed)"
    if not (directory / STATE_FILE).is_file():
        return "nothing was saved"
    try:
        _, state = load(directory)
        load_tokenizer(directory)
    except (OSError, CheckpointError) as e:
        return f"the checkpoint already there is damaged ({e})"
    return f"the previous checkpoint there (step {state.get('step')}) is intact"


def _read_manifest(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not UTF-8 text") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return state


def load(directory) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a checkpoint: (arrays, state)."""
    directory = Path(directory)
    manifest = directory / STATE_FILE
    if not manifest.is_file():
        raise CheckpointError(f"no checkpoint in {directory} (missing {STATE_FILE})")
    state = _read_manifest(manifest)
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{manifest}: format version {state.get('format_version')!r}, this code reads {FORMAT_VERSION}")
    if "state_sha256" in state and state["state_sha256"] != state_sha256(state):
        raise CheckpointError(f"{manifest}: modified since the checkpoint was saved (its state_sha256 does not match its content)")
    array_path = directory / str(state.get("array_file", ""))
    if not array_path.is_file():
        raise CheckpointError(f"checkpoint {directory} is incomplete: {array_path.name} is missing")
    if _sha256(array_path) != state.get("array_sha256"):
        raise CheckpointError(f"{array_path}: truncated or modified (SHA-256 does not match {STATE_FILE})")
    try:
        with np.load(array_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise CheckpointError(f"{array_path}: cannot be read ({e})") from None
    bad = first_nonfinite(arrays)
    if bad is not None:  # save never writes them: this file was made elsewhere, or resealed by hand
        raise CheckpointError(f"{array_path}: {bad} holds NaN or infinite values, which no checkpoint saved here holds")
    return arrays, state


def load_tokenizer(directory) -> Tokenizer:
    """The checkpoint's tokenizer, its files checked against the hashes in ``state.json``."""
    path = Path(directory) / TOKENIZER_DIR
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {directory} has no tokenizer/ folder")
    manifest = Path(directory) / STATE_FILE
    hashes = _read_manifest(manifest).get("tokenizer_sha256", {}) if manifest.is_file() else {}  # {} = an older checkpoint
    for name, sha256 in hashes.items():
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint {directory} is incomplete: {TOKENIZER_DIR}/{name} is missing")
        if _sha256(path / name) != sha256:
            raise CheckpointError(f"{path / name}: modified since the checkpoint was saved (SHA-256 does not match {STATE_FILE})")
    return Tokenizer.load(path)


def model_config(state: dict[str, Any]) -> GPTConfig:
    """The ``GPTConfig`` stored in ``state['model']``."""
    try:
        return GPTConfig.from_dict(state["model"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint state has no valid model config ({e})") from None


def restore_model(arrays: dict[str, np.ndarray], state: dict[str, Any]) -> GPT:
    """Rebuild the GPT described by ``state['model']`` with its weights and masks."""
    model = GPT(model_config(state))
    weights = {k: v for k, v in arrays.items() if "/" not in k}  # masks, optimizer state etc. are "kind/name"
    model.load_state_dict(weights)
    for name, p in model.named_parameters():
        mask = arrays.get(f"mask/{name}")
        if mask is not None:
            if mask.shape != p.shape or mask.dtype != np.bool_:
                raise CheckpointError(f"mask/{name} has shape {mask.shape} and dtype {mask.dtype}, expected bool {p.shape}")
            p.mask = mask
    return model


def load_with_tokenizer(directory) -> tuple[dict[str, np.ndarray], dict[str, Any], Tokenizer]:
    """(arrays, state, tokenizer) of a checkpoint, with the vocabulary sizes checked.

    The tokenizer must have exactly the model's ``vocab_size`` entries (a fine-tuned soft
    prompt, ``prompt/embeddings``, adds virtual tokens after them, never to the vocabulary).
    """
    arrays, state = load(directory)
    tokenizer = load_tokenizer(directory)
    vocab_size = model_config(state).vocab_size
    if tokenizer.vocab_size != vocab_size:
        raise CheckpointError(f"checkpoint {directory}: tokenizer has {tokenizer.vocab_size} entries, model vocab_size is {vocab_size}")
    return arrays, state, tokenizer


def load_model(directory) -> tuple[GPT, Tokenizer, dict[str, Any]]:
    """(model, tokenizer, state) of a checkpoint directory, with vocabulary sizes checked."""
    arrays, state, tokenizer = load_with_tokenizer(directory)
    return restore_model(arrays, state), tokenizer, state
