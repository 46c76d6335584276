"""Track ``interop``: the Hugging Face round trip -- safetensors, layouts, names, vocabulary (unit 09).

Copy this file, ``cp tutorials/exercises/interop.py my_interop.py``, fill in each
function (replace ``raise NotImplementedError``) and check with

    python -m mediswift_np.exercises check interop --file my_interop.py

or just ``python my_interop.py``. Read the track's preface first, ``interop.md`` in this
folder, and tutorial 09 (``tutorials/09_hugging_face_round_trip.ipynb``). Plain Python,
``json`` and NumPy; the checker compares with mediswift_np.interop and the model's own
parameter names, so look there only afterwards.

The names of a GPT's tensors (GPT-2's own, with L blocks numbered i = 0 .. L-1):

    transformer.wte.weight (V, C)  transformer.wpe.weight (n_ctx, C)
    transformer.h.{i}.ln_1.weight / .bias          transformer.h.{i}.ln_2.weight / .bias
    transformer.h.{i}.attn.c_attn.weight (C, 3C)   transformer.h.{i}.attn.c_attn.bias (3C,)
    transformer.h.{i}.attn.c_proj.weight (C, C)    transformer.h.{i}.attn.c_proj.bias (C,)
    transformer.h.{i}.mlp.c_fc.weight (C, 4C)      transformer.h.{i}.mlp.c_fc.bias (4C,)
    transformer.h.{i}.mlp.c_proj.weight (4C, C)    transformer.h.{i}.mlp.c_proj.bias (C,)
    transformer.ln_f.weight / .bias
"""

from __future__ import annotations

import json  # noqa: F401

import numpy as np  # noqa: F401

TRACK = "interop"  # tells the checker which exercises this file answers

# ----------------------------------------------------------------------------- exercise 1


def read_safetensors(data: bytes) -> dict:
    """{name: array} of the tensors in the bytes of a safetensors file.

    The file is: N (8 bytes, a little-endian unsigned 64-bit integer); N bytes of JSON,
    the header, mapping each tensor's name to {"dtype", "shape", "data_offsets": [begin,
    end]} (plus, optionally, "__metadata__": a dict of strings, which is not a tensor);
    then the byte buffer, in which a tensor's bytes are [begin, end). Numbers are stored
    little-endian, C order. The dtypes you meet: "F64", "F32", "F16", "I64", "I32",
    "U8", "BOOL" (one byte per value). Return each tensor with its dtype and shape.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 2


def to_linear_layout(state: dict) -> dict:
    """The same model as a state dict for a GPT built from nn.Linear layers (as nanoGPT is).

    GPT-2 (and this library) stores the weight of each of the four linear layers of a
    block -- attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj -- as a Conv1D: shape (in,
    out), y = x W + b. nn.Linear stores (out, in) and computes y = x Wᵀ + b. Return a new
    dict: those four weights of every block in Linear's layout, every other tensor as it
    is, and one more entry, "lm_head.weight": the output layer, tied to the token
    embedding. Do not change the input dict.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 3


def from_hf_names(tensors: dict) -> dict:
    """The tensors of a Hugging Face GPT-2 checkpoint under this library's names.

    A GPT2LMHeadModel checkpoint may hold "lm_head.weight" (the output layer, tied: the
    same numbers as transformer.wte.weight), buffers ending in ".attn.bias" or
    ".attn.masked_bias" (the causal mask, saved by older versions of transformers), and
    a GPT2Model checkpoint names its tensors without the "transformer." prefix ("h.0.
    ln_1.weight", "wte.weight"). Return {our name: array} with exactly the model's
    parameters (see the list above), the arrays unchanged.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 4


def vocab_json(tokens: list) -> dict:
    """BioGptTokenizer's vocab.json for a fastBPE vocabulary: {key: id}, id = the token's
    index in ``tokens``.

    fastBPE (dict.txt) marks a piece that does NOT end its word with "@@" ("cel@@" +
    "ls" spell "cells"); vocab.json marks the piece that DOES end its word with "</w>"
    ("cel" + "ls</w>"). The special tokens "<s>", "<pad>", "</s>", "<unk>" keep their
    spelling. Example: ["<s>", "cel@@", "ls"] -> {"<s>": 0, "cel": 1, "ls</w>": 2}.
    """
    raise NotImplementedError


# ----------------------------------------------------------------------------- exercise 5


def add_soft_prompt(wte, prompt):
    """A fine-tuned model's soft prompt (P, C) as BioGPT stores it: extra vocabulary rows.

    Return (the token embedding with the prompt's rows appended, shape (V + P, C); the
    vocab.json entries of the P virtual tokens, {key: id}). BioGPT names the virtual
    tokens learned1, learned2, ..., learnedP; each is a whole word.
    """
    raise NotImplementedError


if __name__ == "__main__":  # python my_interop.py: check this file
    from mediswift_np.errors import run_cli
    from mediswift_np.exercises.__main__ import main

    run_cli(main, ["check", __file__])
