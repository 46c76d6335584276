"""The starting point of a pre-training run: data, tokenizer, model, optimizer and RNGs,
fresh or exactly as a checkpoint left them.

A fresh run trains the tokenizer on its corpus (Sec. 3.1), turns the corpus into one id
stream with 3% held out for validation (Table 1; data/pipeline.py), builds the GPT-3
decoder with a static random mask on the six matrices of every block (Sec. 3.3), and
records the SHA-256 of every corpus file and of the token stream, and the arithmetic
(SIMD level, BLAS, kernel, threads) that decides how its float32 products round. A
resumed run takes tokenizer, weights, masks, AdamW moments and RNG states from the
checkpoint and first checks everything it depends on (resume.py).

Randomness comes from four generators seeded ``[seed, k]``: k = 2 batches, 3 masks,
4 SET's random growth, and the model's dropout generator; their states are saved, so a
resumed run draws exactly what an uninterrupted one would.

Does not handle: corpora larger than memory (the stream is one int32 array).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoint, sparse
from ..data import read_corpus, synthetic_corpus, token_stream, train_val_split
from ..errors import UserError
from ..model import GPT
from ..optim import AdamW, AdamWConfig
from ..tokenizer import Tokenizer
from .config import PretrainConfig, check_memory
from .resume import arithmetic, check_corpus, check_masks, check_stream


@dataclass
class Run:
    """What the training loop reads and updates; ``state`` becomes ``state.json`` at each save."""

    model: GPT
    optimizer: AdamW
    tokenizer: Tokenizer
    train_ids: np.ndarray  # (N,) int32: the stream batches are sampled from
    val_ids: np.ndarray  # (M,) int32: the held-out tail
    data_rng: np.random.Generator
    mask_rng: np.random.Generator
    state: dict[str, Any]  # step, losses, FLOP counters, hashes (+ configs and RNG states at saves)
    resumed_from: tuple[Path, int] | None = None  # (directory, step) of the checkpoint continued


def load_texts(cfg: PretrainConfig) -> list[str]:
    """The documents to train on: those of the real files, or the synthetic corpus."""
    if not cfg.corpus:
        return synthetic_corpus(cfg.n_docs, cfg.seed, profiles_per_drug=cfg.profiles)
    docs = [doc for path in cfg.corpus for doc in read_corpus(path)]
    if not docs:
        raise UserError(f"empty corpus: no documents in {', '.join(cfg.corpus)}")
    return docs


# Fresh runs of one process on the same corpus and merges (the sparsities and widths of one
# seed in recovery.py) share the tokenizer and the stream: both follow from (texts, merges).
_TOKENIZED: dict[str, tuple[Tokenizer, np.ndarray]] = {}
_TOKENIZED_KEEP = 4


def tokenize_fresh(texts: list[str], merges: int, progress: bool) -> tuple[Tokenizer, np.ndarray]:
    """The tokenizer trained on ``texts`` (Sec. 3.1) and their id stream, memoised in this process."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    key = f"{digest.hexdigest()}-{merges}"
    if key not in _TOKENIZED:
        tokenizer = Tokenizer.train(texts, merges, progress=progress)
        _TOKENIZED[key] = (tokenizer, token_stream(texts, tokenizer, progress=progress))
        while len(_TOKENIZED) > _TOKENIZED_KEEP:
            _TOKENIZED.pop(next(iter(_TOKENIZED)))
    tokenizer, stream = _TOKENIZED[key]
    return tokenizer, stream.copy()


def corpus_sha256(cfg: PretrainConfig) -> dict[str, str]:
    """The SHA-256 of each real corpus file, by the name the run was given ({} for the synthetic corpus)."""
    return {path: checkpoint.sha256_file(path) for path in cfg.corpus}


def stream_sha256(stream: np.ndarray) -> str:
    """The SHA-256 of a token stream's int32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(stream, dtype=np.int32).tobytes()).hexdigest()


def start_run(cfg: PretrainConfig, resume: Path | None, progress: bool) -> Run:
    """The run at its first step to take (a fresh run's state has no ``initial_loss`` yet)."""
    hashes = corpus_sha256(cfg)
    if resume is not None:  # verify the checkpoint and the corpus before any tokenizing
        arrays, state, tokenizer = checkpoint.load_with_tokenizer(resume)
        check_corpus(state.get("corpus_sha256", {}), hashes, resume)
    texts = load_texts(cfg)
    if resume is None:
        tokenizer, stream = tokenize_fresh(texts, cfg.merges, progress)
    else:
        stream = token_stream(texts, tokenizer, progress=progress)
    if resume is not None:
        check_stream(stream_sha256(stream), state.get("token_stream_sha256"), resume, cfg)
    train_ids, val_ids = train_val_split(stream, cfg.val_fraction, tokenizer.eos_id)
    for part, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < cfg.seq_len + 1:
            raise UserError(f"{part} split has {len(ids)} tokens, fewer than --seq-len + 1 = {cfg.seq_len + 1}; use a larger corpus")

    model_cfg = cfg.model_config(tokenizer.vocab_size)
    check_memory(cfg, tokenizer.vocab_size)
    opt_cfg = AdamWConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)
    data_rng = np.random.default_rng([cfg.seed, 2])
    mask_rng = np.random.default_rng([cfg.seed, 4])  # SET's random growth
    if resume is None:
        model = GPT(model_cfg, seed=cfg.seed, fast=True)  # the speed layer (mediswift_np/fast)
        if cfg.sparsity > 0:
            sparse.sparsify(model, cfg.sparsity, np.random.default_rng([cfg.seed, 3]))  # Sec. 3.3: static random masks
        optimizer = AdamW(model.named_parameters(), opt_cfg, fast=True)
        state = {"step": 0, "train_losses": [], "val_losses": [], "flops_sparse_equivalent": 0, "flops_executed": 0,
                 "mask_updates": 0, "corpus_sha256": hashes, "token_stream_sha256": stream_sha256(stream),
                 "arithmetic": arithmetic()}  # fmt: skip
        return Run(model, optimizer, tokenizer, train_ids, val_ids, data_rng, mask_rng, state)
    model = checkpoint.restore_model(arrays, state).use_fast()
    if model.config != model_cfg:
        raise checkpoint.CheckpointError(f"checkpoint {resume}: model config does not match its tokenizer/pre-training config")
    check_masks(model, cfg.sparsity, f"checkpoint {resume}")
    optimizer = AdamW(model.named_parameters(), opt_cfg, fast=True)
    optimizer.load_state_dict({k.removeprefix("adam/"): v for k, v in arrays.items() if k.startswith("adam/")})
    data_rng.bit_generator.state = state["data_rng"]
    mask_rng.bit_generator.state = state["mask_rng"]
    model.dropout_rng.bit_generator.state = state["dropout_rng"]
    return Run(model, optimizer, tokenizer, train_ids, val_ids, data_rng, mask_rng, state, (resume, state["step"]))
