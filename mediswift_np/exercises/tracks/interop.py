"""Track ``interop``: the Hugging Face round trip -- safetensors, layouts, names, vocabulary.

The student writes (template ``tutorials/exercises/interop.py``; preface ``interop.md``
beside it; unit 09):

    1  read_safetensors(data)              the tensors of a safetensors file, from its bytes
    2  to_linear_layout(state)             GPT-2 Conv1D weights (in, out) -> nn.Linear (out, in)
    3  from_hf_names(tensors)              a GPT2LMHeadModel state dict -> this library's names
    4  vocab_json(tokens)                  fastBPE pieces (``@@``) -> BioGptTokenizer keys (``</w>``)
    5  add_soft_prompt(wte, prompt)        the prompt as extra rows of wte, named learned1..P

References: :func:`mediswift_np.interop.safetensors_io.serialize` / ``deserialize``;
the parameter names and shapes of :class:`mediswift_np.model.GPT` (GPT-2's own);
:func:`mediswift_np.interop.tokenizer_hf.token_to_hf`;
:func:`mediswift_np.interop.hf_config.prompt_sidecar`. Exercise 2 has no library
counterpart (the library keeps GPT-2's Conv1D layout): its reference is the definition,
nn.Linear computing x Wᵀ + b with W of shape (out, in), which the tests check against
PyTorch when it is installed. Everything is compared exactly (dtypes, shapes, values,
names, ids).

Does not handle: bfloat16 (NumPy has no such dtype), sharded checkpoints, the tokenizer's
merges.txt (it is the bpecodes file itself).
"""

from __future__ import annotations

import json

import numpy as np

from ...config import GPTConfig
from ...interop.hf_config import prompt_sidecar
from ...interop.safetensors_io import DTYPES, deserialize, serialize
from ...interop.tokenizer_hf import token_to_hf
from ...model import GPT
from ...tokenizer import SPECIAL_TOKENS
from ..spec import Case, Exercise, Mistake, Symptom, Task, Track

TUTORIAL = "tutorials/09_hugging_face_round_trip.ipynb"
CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
WTE = "transformer.wte.weight"


def compare_tensors(got, expected: dict) -> str | None:
    """Same names, and for each the same dtype, shape and values (exactly)."""
    if not isinstance(got, dict):
        return f"returned a {type(got).__name__}; expected a dict {{name: array}}"
    extra, missing = sorted(set(got) - set(expected), key=str), sorted(set(expected) - set(got), key=str)
    if extra or missing:
        parts = ([f"{len(extra)} unexpected names, e.g. {extra[0]!r}"] if extra else []) + (
            [f"{len(missing)} names missing, e.g. {missing[0]!r}"] if missing else [])
        return "; ".join(parts)
    for name in sorted(expected):
        g, e = got[name], expected[name]
        if not isinstance(g, np.ndarray):
            return f"{name!r}: a {type(g).__name__}; expected a NumPy array"
        if g.dtype != e.dtype:
            return f"{name!r}: dtype {g.dtype}; expected {e.dtype}"
        if g.shape != e.shape:
            return f"{name!r}: shape {g.shape}; expected shape {e.shape}"
        if not np.array_equal(g, e):
            return f"{name!r}: wrong at {int(np.sum(g != e))} of {g.size} entries"
    return None


def random_state(rng: np.random.Generator, n_layer: int, n_embd: int, n_head: int) -> dict[str, np.ndarray]:
    """A GPT's named parameters (GPT-2's names and layouts) filled with random numbers."""
    cfg = GPTConfig(vocab_size=int(rng.integers(20, 40)), n_ctx=int(rng.integers(6, 12)), n_layer=n_layer,
                    n_embd=n_embd, n_head=n_head)  # fmt: skip
    return {name: rng.standard_normal(p.shape) for name, p in GPT(cfg).named_parameters()}


def layout_label(state: dict) -> str:
    n_layer = len({k.split(".")[2] for k in state if k.startswith("transformer.h.")})
    return f"state=<{len(state)} tensors of a {n_layer}-layer GPT, d={state[WTE].shape[1]}, V={state[WTE].shape[0]}>"

# ----------------------------------------------------------------------------- exercise 1


def read_with(data: bytes, base: int | None = None, byteorder: str = "<", flat: bool = False):
    """A slip's reading of a safetensors file: offsets from ``base``, another byte order, no reshape."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    start = 8 + n if base is None else base
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        if start + end > len(data):
            return None
        dtype = DTYPES[info["dtype"]].newbyteorder(byteorder)
        a = np.frombuffer(data[start + begin : start + end], dtype=dtype).astype(dtype.newbyteorder("="))
        out[name] = a if flat else a.reshape(info["shape"])
    return out


def safetensors_cases(rng: np.random.Generator) -> list[Case]:
    kinds = [(np.float32, (3, 4)), (np.float64, (5,)), (np.int64, (2, 3)), (np.bool_, (4, 4)), (np.float16, (2, 2, 3)),
             (np.int32, ()), (np.uint8, (7,)), (np.float32, (0, 3))]  # fmt: skip
    inputs = [({"transformer.h.0.attn.c_attn.weight": rng.standard_normal((4, 12)).astype(np.float32)}, None,
               "one F32 tensor, no metadata")]  # fmt: skip
    for k in range(4):
        tensors = {}
        for j in rng.choice(len(kinds), size=int(rng.integers(2, 6)), replace=False):
            dtype, shape = kinds[j]
            if np.dtype(dtype).kind == "f":
                values = rng.standard_normal(shape) * 5
            else:
                values = rng.integers(0, 2 if dtype == np.bool_ else 100, shape)
            tensors[f"t{k}.{j}"] = np.asarray(values).astype(dtype)
        meta = {"format": "pt", "note": "random"} if k % 2 else None
        inputs.append((tensors, meta, f"{len(tensors)} tensors of dtypes {sorted({str(a.dtype) for a in tensors.values()})}"
                       + (", with __metadata__" if meta else "")))
    cases = []
    for tensors, meta, words in inputs:
        data = bytes(serialize(tensors, meta))
        right = {k: v.copy() for k, v in deserialize(data)[0].items()}
        cases.append(Case(f"data=<{len(data)} bytes: {words}>", (data,), right, {
            "offsets_from_file_start": read_with(data, base=0),
            "offsets_after_length_only": read_with(data, base=8),
            "big_endian": read_with(data, byteorder=">"),
            "not_reshaped": read_with(data, flat=True) if any(a.ndim != 1 for a in right.values()) else None,
            "metadata_as_tensor": Symptom(lambda got: isinstance(got, dict) and "__metadata__" in got),
        }))  # fmt: skip
    return cases


SAFETENSORS = Exercise(1, "read_safetensors: a safetensors file, from its bytes",
                       f"{TUTORIAL}, section 'The safetensors format, read by hand'; tutorials/exercises/interop.md §1", (
    Task("read_safetensors",
         "N = the first 8 bytes as a little-endian u64; header = JSON of the next N bytes (skip '__metadata__'); "
         "tensor = the bytes [8 + N + begin, 8 + N + end) as little-endian dtype, reshaped to shape.",
         safetensors_cases, (
             Mistake("offsets_from_file_start", "data_offsets count from the start of the byte buffer, which begins "
                                                "after the header: add 8 + N."),
             Mistake("offsets_after_length_only", "the byte buffer starts after the 8-byte length AND the N-byte "
                                                  "header: add 8 + N to data_offsets, not 8."),
             Mistake("big_endian", "safetensors stores every number little-endian ('<f4', '<i8'; np.frombuffer "
                                   "with a '<' dtype)."),
             Mistake("not_reshaped", "reshape each tensor to the header's shape (a 0-d shape [] is a scalar array)."),
             Mistake("metadata_as_tensor", "'__metadata__' is a dict of strings about the file, not a tensor: skip "
                                           "it."),
         ), compare=compare_tensors),
), points=2)  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def linear_layout(state: dict, transposed=CONV1D, head=True, head_transposed=False, embeddings_too=False) -> dict:
    """The Linear-layout state dict, with one of the exercise's slips when asked."""
    out = {}
    for name, a in state.items():
        flip = name.endswith(transposed) or (embeddings_too and name in (WTE, "transformer.wpe.weight"))
        out[name] = a.T.copy() if flip else a.copy()
    if head:
        out["lm_head.weight"] = state[WTE].T.copy() if head_transposed else state[WTE].copy()
    return out


def layout_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for n_layer, n_embd, n_head in ((1, 8, 2), (2, 12, 3), (2, 16, 4), (3, 8, 1)):
        state = random_state(rng, n_layer, n_embd, n_head)
        cases.append(Case(layout_label(state), (state,), linear_layout(state), {
            "embeddings_transposed": linear_layout(state, embeddings_too=True),
            "no_lm_head": linear_layout(state, head=False),
            "lm_head_transposed": linear_layout(state, head_transposed=True),
            "attention_projection_kept": linear_layout(state, transposed=(".attn.c_attn.weight", ".mlp.c_fc.weight",
                                                                          ".mlp.c_proj.weight")),
            "mlp_projection_kept": linear_layout(state, transposed=(".attn.c_attn.weight", ".attn.c_proj.weight",
                                                                    ".mlp.c_fc.weight")),
            "nothing_transposed": linear_layout(state, transposed=("no such suffix",)),
        }))  # fmt: skip
    return cases


LAYOUT = Exercise(2, "to_linear_layout: GPT-2's Conv1D weights as nn.Linear weights",
                  f"tutorials/exercises/interop.md §2 (Conv1D and Linear); {TUTORIAL}, the introduction", (
    Task("to_linear_layout",
         "the four Conv1D weights of each block (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) transposed to (out, "
         "in); every other tensor unchanged; plus 'lm_head.weight' = the token embedding (tied, already (V, C)).",
         layout_cases, (
             Mistake("embeddings_transposed", "wte and wpe are lookup tables (rows = tokens or positions), not Conv1D "
                                              "layers: they keep their layout."),
             Mistake("no_lm_head", "a Linear model has an output layer 'lm_head.weight': tied to the token embedding,"
                                   " it is wte itself."),
             Mistake("lm_head_transposed", "nn.Linear(C, V) has a weight of shape (V, C) -- exactly wte's shape: the "
                                           "tied head is wte itself, not its transpose."),
             Mistake("attention_projection_kept", "attn.c_proj is a Conv1D too (the attention output projection): "
                                                  "transpose it."),
             Mistake("mlp_projection_kept", "mlp.c_proj is a Conv1D too (the MLP's second matrix): transpose it."),
             Mistake("nothing_transposed", "Conv1D stores (in, out) and computes x W + b; nn.Linear stores (out, in) "
                                           "and computes x Wᵀ + b: transpose the four Conv1D weights of each block."),
         ), compare=compare_tensors),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def hf_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for variant, (n_layer, n_embd, n_head) in zip(("lm_head", "no_prefix", "buffers", "all"),
                                                  ((1, 8, 2), (2, 8, 2), (2, 12, 3), (1, 16, 4))):  # fmt: skip
        ours = random_state(rng, n_layer, n_embd, n_head)
        hf = {(k if variant in ("lm_head", "buffers") else k.removeprefix("transformer.")): v for k, v in ours.items()}
        words = {"lm_head": "with 'transformer.' and a tied lm_head.weight",
                 "no_prefix": "without the 'transformer.' prefix (GPT2Model)",
                 "buffers": "with the causal-mask buffers attn.bias and attn.masked_bias of older transformers",
                 "all": "without the prefix, with lm_head.weight and the mask buffers"}[variant]  # fmt: skip
        if variant in ("lm_head", "all"):
            hf["lm_head.weight"] = ours[WTE].copy()
        if variant in ("buffers", "all"):
            T = ours["transformer.wpe.weight"].shape[0]
            for i in range(n_layer):
                prefix = "transformer.h" if variant == "buffers" else "h"
                hf[f"{prefix}.{i}.attn.bias"] = np.tril(np.ones((1, 1, T, T)))
                hf[f"{prefix}.{i}.attn.masked_bias"] = np.array(-1e4)
        keys = list(hf)
        order = rng.permutation(len(keys))
        hf = {keys[i]: hf[keys[i]] for i in order}
        cases.append(Case(f"tensors=<{len(hf)} tensors {words}>", (hf,), {k: v.copy() for k, v in ours.items()}, {
            "kept_lm_head": Symptom(lambda got: isinstance(got, dict) and "lm_head.weight" in got),
            "kept_mask_buffers": Symptom(lambda got: isinstance(got, dict) and any(
                str(k).endswith((".attn.bias", ".attn.masked_bias")) for k in got)),
            "prefix_twice": Symptom(lambda got: isinstance(got, dict) and any(
                str(k).startswith("transformer.transformer.") for k in got)),
        }))  # fmt: skip
    return cases


NAMES = Exercise(3, "from_hf_names: a GPT2LMHeadModel state dict in this library's names",
                 f"{TUTORIAL}, sections 'Export' and 'Same logits on the other side'; tutorials/exercises/interop.md §3", (
    Task("from_hf_names",
         "drop 'lm_head.weight' (tied to wte) and the buffers ending in '.attn.bias' / '.attn.masked_bias'; add the "
         "'transformer.' prefix to a name that lacks it; keep the arrays as they are.",
         hf_cases, (
             Mistake("kept_lm_head", "lm_head.weight is tied to transformer.wte.weight (the same numbers): drop it, "
                                     "the model has no separate output matrix."),
             Mistake("kept_mask_buffers", "'.attn.bias' and '.attn.masked_bias' are the causal mask that older "
                                          "transformers saved, not weights: drop them."),
             Mistake("prefix_twice", "add 'transformer.' only to names that do not start with it already."),
         ), compare=compare_tensors),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 4


def random_pieces(rng: np.random.Generator, n: int) -> list[str]:
    letters = list("acdegilmnorst")
    pieces = []
    while len(pieces) < n:
        word = "".join(rng.choice(letters, int(rng.integers(1, 6))))
        piece = word + ("@@" if rng.random() < 0.5 else "")
        if piece not in pieces:
            pieces.append(piece)
    return pieces


def vocab_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [list(SPECIAL_TOKENS) + ["cel@@", "ls", "the", "a@@", "."],
              list(SPECIAL_TOKENS) + ["metformin", "hb@@", "a1c", "@@", "-@@"]]
    inputs += [list(SPECIAL_TOKENS) + random_pieces(rng, int(rng.integers(6, 15))) for _ in range(3)]
    cases = []
    for tokens in inputs:
        def spelled(rule):
            return {rule(t): i for i, t in enumerate(tokens)}

        cases.append(Case(f"tokens={tokens!r}", (tokens,), spelled(token_to_hf), {
            "kept_continuation": spelled(lambda t: t if t in SPECIAL_TOKENS or t.endswith("@@") else t + "</w>"),
            "no_end_of_word": spelled(lambda t: t[:-2] if t.endswith("@@") and t != "@@" else t),
            "specials_changed": spelled(lambda t: token_to_hf(t) if t not in SPECIAL_TOKENS else t + "</w>"),
            "converter_corner": spelled(lambda t: "" if t == "@@" else token_to_hf(t)) if "@@" in tokens else None,
        }))  # fmt: skip
    return cases


VOCAB = Exercise(4, "vocab_json: fastBPE pieces as BioGptTokenizer keys",
                 f"{TUTORIAL}, section 'Tokenizer and the way back'; tutorials/exercises/interop.md §4", (
    Task("vocab_json",
         "{key: id}: a special token stays as it is; a piece ending in '@@' (not word-final) loses the '@@'; any "
         "other piece (word-final) gets '</w>' -- the piece '@@' itself is word-final: '@@</w>'.",
         vocab_cases, (
             Mistake("kept_continuation", "vocab.json marks the END of a word ('</w>') where dict.txt marks a "
                                          "CONTINUATION ('@@'): drop the '@@'."),
             Mistake("no_end_of_word", "a word-final piece gets '</w>' in vocab.json ('ls' -> 'ls</w>')."),
             Mistake("specials_changed", "<s>, <pad>, </s> and <unk> keep their spelling."),
             Mistake("converter_corner", "the piece '@@' alone is a word-final piece spelled '@@' (not a "
                                         "continuation of nothing): it becomes '@@</w>', not ''."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 5


def prompt_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for V, C, P in ((20, 4, 3), (31, 8, 1), (12, 6, 9)):
        wte, prompt = rng.standard_normal((V, C)), rng.standard_normal((P, C))
        keys = prompt_sidecar(V, P)["vocab_json_tokens"]
        right = (np.concatenate([wte, prompt]), {k: V + i for i, k in enumerate(keys)})
        cases.append(Case(f"wte of shape ({V}, {C}), prompt ({P}, {C})", (wte, prompt), right, {
            "prompt_first": (np.concatenate([prompt, wte]), right[1]),
            "names_without_end_of_word": (right[0], {k.removesuffix("</w>"): V + i for i, k in enumerate(keys)}),
            "ids_from_zero": (right[0], {k: i for i, k in enumerate(keys)}),
            "names_from_zero": (right[0], {f"learned{i}</w>": V + i for i in range(P)}),
        }))  # fmt: skip
    return cases


PROMPT = Exercise(5, "add_soft_prompt: the prompt as named vocabulary rows",
                  f"{TUTORIAL}, section 'Soft prompts become named vocabulary entries'", (
    Task("add_soft_prompt",
         "(concat([wte, prompt]) of shape (V + P, C), {'learned1</w>': V, ..., 'learnedP</w>': V + P − 1}): BioGPT "
         "names the virtual tokens learned1..learnedP; in vocab.json they are whole words.",
         prompt_cases, (
             Mistake("prompt_first", "the prompt rows go AFTER the V vocabulary rows: ids 0..V−1 must keep their "
                                     "tokens, the virtual ids are V..V+P−1."),
             Mistake("names_without_end_of_word", "learned1 .. learnedP are whole words: in vocab.json they end in "
                                                  "'</w>' (exercise 4's rule)."),
             Mistake("ids_from_zero", "the virtual tokens come after the vocabulary: ids V, V+1, ..., V+P−1."),
             Mistake("names_from_zero", "BioGPT counts its learned tokens from 1: learned1 .. learnedP."),
         ), outputs=("the embedding", "the vocab.json entries"), rtol=0.0, atol=0.0),
))  # fmt: skip

TRACK = Track("interop", "the Hugging Face round trip: safetensors, Conv1D vs Linear, names, vocabulary",
              TUTORIAL, (SAFETENSORS, LAYOUT, NAMES, VOCAB, PROMPT))
