"""Worked solutions to tutorials/exercises/interop.py (track ``interop``).

Try the exercises first. Written from the formats' descriptions (the safetensors format;
GPT-2's Conv1D; BioGPT's vocabulary), not by calling mediswift_np.interop:

    python -m mediswift_np.exercises check interop --file instructors/solutions/interop.py
"""

from __future__ import annotations

import json

import numpy as np

TRACK = "interop"

# ----------------------------------------------------------------------------- exercise 1

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def read_safetensors(data):
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)  # strings about the file, not a tensor
    buffer = data[8 + n :]  # data_offsets count from here
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        values = np.frombuffer(buffer[begin:end], dtype=DTYPES[info["dtype"]])
        tensors[name] = values.astype(values.dtype.newbyteorder("=")).reshape(info["shape"])  # a native copy
    return tensors


# ----------------------------------------------------------------------------- exercise 2

CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")


def to_linear_layout(state):
    linear = {name: (a.T.copy() if name.endswith(CONV1D) else a.copy()) for name, a in state.items()}
    linear["lm_head.weight"] = state["transformer.wte.weight"].copy()  # nn.Linear(C, V) stores (V, C): wte itself
    return linear


# ----------------------------------------------------------------------------- exercise 3


def from_hf_names(tensors):
    ours = {}
    for name, a in tensors.items():
        if name == "lm_head.weight" or name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # the tied output layer; the causal-mask buffers
        ours[name if name.startswith("transformer.") else "transformer." + name] = a
    return ours


# ----------------------------------------------------------------------------- exercise 4

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


def vocab_json(tokens):
    keys = {}
    for i, token in enumerate(tokens):
        if token in SPECIALS:
            key = token
        elif token.endswith("@@") and token != "@@":
            key = token[:-2]  # not word-final: drop the continuation mark
        else:
            key = token + "</w>"  # word-final: mark the end of the word
        keys[key] = i
    return keys


# ----------------------------------------------------------------------------- exercise 5


def add_soft_prompt(wte, prompt):
    V, P = wte.shape[0], prompt.shape[0]
    keys = {f"learned{i + 1}</w>": V + i for i in range(P)}  # whole words, ids after the vocabulary
    return np.concatenate([wte, prompt]), keys
