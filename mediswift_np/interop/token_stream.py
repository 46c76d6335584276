"""The training token stream of an export, tied to the tokenizer that made it.

``python -m mediswift_np.interop export --ckpt DIR --out HF --train-tokens FILE.npy``
writes the training split of the checkpoint's pre-training corpus, tokenized with its
tokenizer: the stream ``pretrain`` samples its batches from, which reference/train_ddp.py
reads to draw the same batches in the same order. Two files::

    FILE.npy        int32 (N,), loads with ``allow_pickle=False``
    FILE.npy.json   {"format": "mediswift_np token stream v1", "tokens": N,
                     "sha256": the SHA-256 of FILE.npy,
                     "tokenizer_sha256": tokenizer_sha256 of the tokenizer that made it}

``tokenizer_sha256`` is the SHA-256 of the tokenizer's merges and vocabulary in order
(canonical JSON): the same for a checkpoint's tokenizer and for the vocab.json +
merges.txt of its export, different for any other tokenizer. So a trainer reading the
stream beside an export (``load_token_stream``) refuses one made by another tokenizer
(say, a run with ``--merges 100``), or a stream changed after it was written.

Before writing, the stream is recomputed exactly as pre-training did (its corpus, the
checkpoint's tokenizer, the held-out tail removed) and checked against the corpus and
stream hashes of the checkpoint (pretrain/resume.py).

Does not handle: streams larger than memory, or several corpora written separately.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..data import token_stream, train_val_split
from ..errors import UserError
from ..fileio import atomic_write_bytes, atomic_write_json
from ..tokenizer import Tokenizer
from .hf_config import read_json_object

FORMAT = "mediswift_np token stream v1"


def tokenizer_sha256(tokenizer: Tokenizer) -> str:
    """The SHA-256 of a tokenizer's merges and vocabulary, in order (canonical JSON)."""
    text = json.dumps({"merges": [list(m) for m in tokenizer.merges], "vocab": tokenizer.id_to_token}, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sidecar_path(path) -> Path:
    return Path(f"{path}.json")


def train_tokens(ckpt_dir, progress: bool = False) -> np.ndarray:
    """The training split ``pretrain`` samples its batches from, for a pre-training checkpoint.

    The same calls as pre-training (pretrain/start.py), and the same hashes checked as
    on resume: a changed corpus or tokenizer is refused, never exported.
    """
    from ..pretrain import PretrainConfig, load_texts, resumable_state  # only this option needs the trainer
    from ..pretrain.resume import check_corpus, check_stream
    from ..pretrain.start import corpus_sha256, stream_sha256

    state = resumable_state(Path(ckpt_dir))  # a verified pre-training checkpoint, or a one-line error
    tokenizer = checkpoint.load_tokenizer(ckpt_dir)
    cfg = PretrainConfig(**{**state["pretrain"], "corpus": tuple(state["pretrain"].get("corpus", ()))})
    check_corpus(state["corpus_sha256"], corpus_sha256(cfg), Path(ckpt_dir))
    stream = token_stream(load_texts(cfg), tokenizer, progress=progress)
    check_stream(stream_sha256(stream), state["token_stream_sha256"], Path(ckpt_dir), cfg)
    train_ids, _ = train_val_split(stream, cfg.val_fraction, tokenizer.eos_id)
    return train_ids.astype(np.int32)  # (N,)


def save_token_stream(path, tokens: np.ndarray, tokenizer: Tokenizer) -> Path:
    """Write ``tokens`` as a ``.npy`` file and its sidecar (module docstring), each atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(tokens, dtype=np.int32), allow_pickle=False)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    side = {"format": FORMAT, "tokens": int(len(tokens)), "sha256": hashlib.sha256(data).hexdigest(),
            "tokenizer_sha256": tokenizer_sha256(tokenizer)}  # fmt: skip
    atomic_write_json(sidecar_path(path), side)
    return Path(path)


def load_token_stream(path, tokenizer: Tokenizer) -> np.ndarray:
    """A token stream written by ``save_token_stream`` with ``tokenizer``; anything else is a one-line error."""
    side_path = sidecar_path(path)
    if not side_path.is_file():
        raise UserError(f"{path}: no {side_path.name} beside it, so its tokenizer is unknown; write it with interop export --train-tokens")
    side = read_json_object(side_path)
    if side.get("format") != FORMAT:
        raise UserError(f"{side_path}: format is {side.get('format')!r}, expected {FORMAT!r}")
    if side.get("tokenizer_sha256") != tokenizer_sha256(tokenizer):
        raise UserError(f"{path}: made with another tokenizer than the export's (tokenizer_sha256 in {side_path.name} "
                        f"differs); export the tokens from the same checkpoint")  # fmt: skip
    if checkpoint.sha256_file(path) != side.get("sha256"):
        raise UserError(f"{path}: modified since it was written (SHA-256 does not match {side_path.name})")
    try:
        tokens = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a .npy token stream ({e})") from None
    vocab = tokenizer.vocab_size
    if tokens.ndim != 1 or tokens.dtype.kind not in "iu" or not len(tokens) or tokens.min() < 0 or tokens.max() >= vocab:
        raise UserError(f"{path}: expected a 1-D stream of token ids in 0..{vocab - 1}")
    return tokens
