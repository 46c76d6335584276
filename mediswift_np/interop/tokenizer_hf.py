"""The tokenizer in Hugging Face's BioGPT format: ``vocab.json`` + ``merges.txt``.

``BioGptTokenizer`` (transformers, ``models/biogpt/tokenization_biogpt.py``) is the same
Moses + BPE tokenizer as ours (paper Sec. 3.1), but it names the pieces differently.
fastBPE's ``dict.txt`` marks a piece that does *not* end its word with ``@@``; the BPE
symbols themselves (and ``vocab.json``) mark the piece that *does* end its word with
``</w>``. Hugging Face's BioGPT converter (``rewrite_dict_keys`` in
``convert_biogpt_original_pytorch_checkpoint_to_pytorch.py``) translates one into the other:

    dict.txt (fastBPE)    vocab.json (BioGptTokenizer)
    cel@@                 cel           a non-final piece: drop '@@'
    ls                    ls</w>        a word-final piece: add '</w>'
    <s> <pad> </s> <unk>  unchanged     fairseq specials, ids 0-3

Ids are unchanged: ``vocab.json`` maps each key to its fairseq id. ``merges.txt`` is the
``bpecodes`` file itself (``left right count``; BioGptTokenizer keeps the first two fields
of each line and, like the converter, expects every line to end with a newline).

Files written by :func:`write_hf_tokenizer`: ``vocab.json``, ``merges.txt``,
``tokenizer_config.json`` (so ``AutoTokenizer`` picks ``BioGptTokenizer``) and ``dict.txt``
(the fastBPE vocabulary with its counts, which ``vocab.json`` cannot hold; fairseq tools read
it too). Extra tokens (soft-prompt names) are appended to ``vocab.json`` after the vocabulary.

One corner differs from the converter on purpose: a word-final piece spelled ``@@`` becomes
``@@</w>`` here (as fastBPE meant it), where ``rewrite_dict_keys`` would strip it to ``''``.

Does not handle: byte-level GPT-2 tokenizers (``vocab.json`` with ``Ġ``), ``tokenizer.json``
(BioGPT has no fast tokenizer), added tokens other than the soft-prompt names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from ..errors import UserError
from ..fileio import atomic_write_json, atomic_write_text
from ..tokenizer import SPECIAL_TOKENS, Tokenizer, read_bpecodes, read_dict, write_bpecodes, write_dict
from ..tokenizer.bpe import END_OF_WORD
from ..tokenizer.encoder import CONTINUATION

VOCAB_JSON = "vocab.json"
MERGES_TXT = "merges.txt"
TOKENIZER_CONFIG_JSON = "tokenizer_config.json"
DICT_TXT = "dict.txt"


def token_to_hf(token: str) -> str:
    """fastBPE piece -> BioGptTokenizer key.

    Example:
        >>> [token_to_hf(t) for t in ("cel@@", "ls", "<unk>", "@@")]
        ['cel', 'ls</w>', '<unk>', '@@</w>']
    """
    if token in SPECIAL_TOKENS:
        return token
    if token.endswith(CONTINUATION) and len(token) > len(CONTINUATION):
        return token[: -len(CONTINUATION)]
    return token + END_OF_WORD


def token_from_hf(key: str) -> str:
    """BioGptTokenizer key -> fastBPE piece (the inverse of :func:`token_to_hf`).

    Example:
        >>> [token_from_hf(k) for k in ("cel", "ls</w>", "<unk>")]
        ['cel@@', 'ls', '<unk>']
    """
    if key in SPECIAL_TOKENS:
        return key
    if key.endswith(END_OF_WORD) and len(key) > len(END_OF_WORD):
        return key[: -len(END_OF_WORD)]
    return key + CONTINUATION


def hf_vocab(tokenizer: Tokenizer, extra_tokens: Sequence[str] = ()) -> dict[str, int]:
    """The ``vocab.json`` mapping: every id's key, then ``extra_tokens`` at ids V, V+1, ..."""
    keys = [token_to_hf(t) for t in tokenizer.id_to_token] + list(extra_tokens)
    vocab: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key in vocab:
            raise UserError(f"two vocabulary entries become the same BioGptTokenizer key {key!r} (ids {vocab[key]} and {i})")
        vocab[key] = i
    return vocab


def write_hf_tokenizer(
    tokenizer: Tokenizer, directory: str | os.PathLike, extra_tokens: Sequence[str] = (), model_max_length: int | None = None
) -> list[Path]:
    """Write vocab.json, merges.txt, dict.txt and tokenizer_config.json (each atomically)."""
    directory = Path(directory)
    vocab = hf_vocab(tokenizer, extra_tokens)
    config = {
        "tokenizer_class": "BioGptTokenizer",
        "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
    }  # fmt: skip
    if model_max_length is not None:
        config["model_max_length"] = int(model_max_length)
    return [
        atomic_write_text(directory / VOCAB_JSON, json.dumps(vocab, indent=2, ensure_ascii=False) + "\n"),
        write_bpecodes(directory / MERGES_TXT, tokenizer.bpe_codes),
        write_dict(directory / DICT_TXT, tokenizer.dict_entries),
        atomic_write_json(directory / TOKENIZER_CONFIG_JSON, config),
    ]


def _read_vocab_json(path: Path) -> list[str]:
    """The keys of ``vocab.json`` in id order, after checking ids are exactly 0..N-1."""
    if not path.is_file():
        raise UserError(f"{path}: no such file")

    def no_duplicates(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise UserError(f"{path}: key {k!r} appears twice")
            seen.add(k)
        return dict(pairs)

    try:
        vocab = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(vocab, dict) or not vocab:
        raise UserError(f"{path}: expected a non-empty JSON object mapping tokens to ids")
    keys: list[str | None] = [None] * len(vocab)
    for key, i in vocab.items():
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(vocab):
            raise UserError(f"{path}: token {key!r} has id {i!r}; ids must be the integers 0..{len(vocab) - 1}")
        if keys[i] is not None:
            raise UserError(f"{path}: id {i} is given to both {keys[i]!r} and {key!r}")
        keys[i] = key
    for i, special in enumerate(SPECIAL_TOKENS):
        if i >= len(keys) or keys[i] != special:
            raise UserError(f"{path}: id {i} must be the fairseq special {special!r}, got {keys[i] if i < len(keys) else None!r}")
    return keys  # type: ignore[return-value]


def read_hf_tokenizer(directory: str | os.PathLike, n_extra: int = 0) -> tuple[Tokenizer, list[str]]:
    """(tokenizer, extra token keys) from ``vocab.json`` + ``merges.txt`` (BioGptTokenizer's files).

    The last ``n_extra`` entries of ``vocab.json`` (soft-prompt names) are returned apart.
    Counts come from ``dict.txt`` when it is present (it must list the same tokens in the
    same order), else they are 0.
    """
    directory = Path(directory)
    keys = _read_vocab_json(directory / VOCAB_JSON)
    n_special = len(SPECIAL_TOKENS)
    if not 0 <= n_extra <= len(keys) - n_special:
        raise UserError(f"{directory / VOCAB_JSON}: {len(keys)} entries cannot hold {n_extra} extra tokens after the specials")
    extra = keys[len(keys) - n_extra :]
    tokens = [token_from_hf(k) for k in keys[n_special : len(keys) - n_extra]]
    counts = [0] * len(tokens)
    if (directory / DICT_TXT).is_file():
        entries = read_dict(directory / DICT_TXT)
        if [t for t, _ in entries] != tokens:
            raise UserError(f"{directory / DICT_TXT} does not list the tokens of {VOCAB_JSON} in id order")
        counts = [c for _, c in entries]
    merges = read_bpecodes(directory / MERGES_TXT)
    return Tokenizer(merges, list(zip(tokens, counts))), extra
