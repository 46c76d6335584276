"""Track ``attention``: causal multi-head self-attention, forward pass (paper Sec. 2; GPT-2/3).

The student writes (template ``tutorials/exercises/attention.py``; unit 03):

    1  split_heads(x, n_head), merge_heads(y)      (B, T, C) <-> (B, nh, T, hs)
    2  causal_mask(T)                                (T, T) bool, True where a query may NOT look
    3  attention(q, k, v)                            softmax(q kᵀ/√hs + mask) v
    4  multi_head_attention(x, w_attn, b_attn, w_proj, b_proj, n_head)   the block's attention

References: :func:`mediswift_np.functional.causal_mask`,
:func:`mediswift_np.functional.causal_self_attention` and
:func:`mediswift_np.functional.linear`, composed exactly as
:class:`mediswift_np.model.CausalSelfAttention` composes them. Tolerances rtol 1e-9,
atol 1e-12 (float64); masks are compared exactly. Exercise 3 has a stability probe (q
and k × 100: logits in the thousands).

Does not handle: the backward pass (the autograd track's softmax and matmul cover its
pieces), dropout, KV caches and key padding masks.
"""

from __future__ import annotations

import math

import numpy as np

from ... import functional as F
from ...autograd import Tensor, no_grad
from ..spec import Case, Exercise, Mistake, Symptom, Task, Track

TUTORIAL = "tutorials/03_gpt3_block.ipynb §1 (the decoder as equations), §2 (shapes) and §6 (causality)"
TOL = dict(rtol=1e-9, atol=1e-12)
SHAPES = ((2, 5, 8, 2), (1, 7, 12, 3), (3, 4, 16, 4), (2, 6, 6, 1))  # (B, T, C, nh)

# ----------------------------------------------------------------------------- exercise 1


def split_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for B, T, C, nh in SHAPES:
        x, hs = rng.standard_normal((B, T, C)), C // nh
        cases.append(Case(f"x of shape ({B}, {T}, {C}), n_head={nh}", (x, nh), x.reshape(B, T, nh, hs).transpose(0, 2, 1, 3), {
            "reshape_without_transpose": x.reshape(B, nh, T, hs),
            "interleaved_heads": x.reshape(B, T, hs, nh).transpose(0, 3, 1, 2),
        }))  # fmt: skip
    return cases


def merge_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for B, T, C, nh in SHAPES:
        y = rng.standard_normal((B, nh, T, C // nh))
        cases.append(Case(f"y of shape {y.shape}", (y,), y.transpose(0, 2, 1, 3).reshape(B, T, C), {
            "reshape_without_transpose": y.reshape(B, T, C),
        }))  # fmt: skip
    return cases


HEADS = Exercise(1, "split_heads and merge_heads: (B, T, C) <-> (B, nh, T, hs)", TUTORIAL, (
    Task("split_heads", "x.reshape(B, T, nh, hs).transpose(0, 2, 1, 3): head h gets channels h·hs .. (h + 1)·hs − 1.",
         split_cases, (
             Mistake("reshape_without_transpose", "a reshape to (B, nh, T, hs) mixes time steps into heads. Reshape "
                                                  "to (B, T, nh, hs) first, then swap the T and nh axes."),
             Mistake("interleaved_heads", "head h holds the CONTIGUOUS channels h·hs .. (h + 1)·hs − 1: reshape to (B,"
                                          " T, nh, hs), not (B, T, hs, nh)."),
         ), **TOL),
    Task("merge_heads", "y.transpose(0, 2, 1, 3).reshape(B, T, C): the inverse of split_heads.", merge_cases, (
        Mistake("reshape_without_transpose", "swap nh and T back (to (B, T, nh, hs)) before reshaping to (B, T, C)."),
    ), **TOL),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def mask_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for T in (1, 2, 5, int(rng.integers(6, 12))):
        ones = np.ones((T, T), dtype=bool)
        cases.append(Case(f"T={T}", (T,), F.causal_mask(T), {
            "diagonal_blocked": np.triu(ones, k=0),
            "allowed_instead_of_blocked": np.tril(ones, k=0),
            "past_blocked": np.tril(ones, k=-1),
        }))  # fmt: skip
    return cases


MASK = Exercise(2, "causal_mask: which keys a query may not see", TUTORIAL, (
    Task("causal_mask", "mask[i, j] = True exactly when j > i (key j comes after query i): np.triu(ones, k=1).",
         mask_cases, (
             Mistake("diagonal_blocked", "a token may attend to ITSELF: only keys after the query (j > i) are blocked,"
                                         " k=1 in np.triu."),
             Mistake("allowed_instead_of_blocked", "True marks the BLOCKED positions (the future, j > i), not the "
                                                   "allowed ones."),
             Mistake("past_blocked", "the future is blocked, not the past: True where j > i (above the diagonal)."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def library_attention(q, k, v):
    with no_grad():
        return F.causal_self_attention(Tensor(q), Tensor(k), Tensor(v), training=False).data.copy()


def attention_variant(q, k, v, scale=None, mask=True, axis=-1, zero_after=False):
    T, hs = q.shape[-2], q.shape[-1]
    s = q @ k.swapaxes(-1, -2) * (1 / math.sqrt(hs) if scale is None else scale)  # (B, nh, T, T)
    blocked = np.triu(np.ones((T, T), dtype=bool), k=1)
    if mask and not zero_after:
        s = np.where(blocked, -np.inf, s)
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    if zero_after:
        p = np.where(blocked, 0.0, p)
    return p @ v


def attention_cases(rng: np.random.Generator) -> list[Case]:
    inputs = [(f"q, k, v of shape {(B, nh, T, C // nh)}", *(rng.standard_normal((B, nh, T, C // nh)) for _ in range(3)), "")
              for B, T, C, nh in SHAPES]  # fmt: skip
    q, k, v = (rng.standard_normal((2, 2, 5, 4)) for _ in range(3))
    inputs.append(("q × 100, k × 100, v of shape (2, 2, 5, 4) (stability probe)", 100 * q, 100 * k, v,
                   "a stability probe: logits in the thousands overflow exp(); subtract each row's max (masked "
                   "entries excluded) before exponentiating."))  # fmt: skip
    cases = []
    for label, q, k, v, hint in inputs:
        hs = q.shape[-1]
        cases.append(Case(label, (q, k, v), library_attention(q, k, v), {
            "unstable": Symptom(lambda got: not np.all(np.isfinite(np.asarray(got, dtype=np.float64)))),
            "no_causal_mask": attention_variant(q, k, v, mask=False),
            "scaled_by_d": attention_variant(q, k, v, scale=1 / hs) if hs > 1 else None,
            "not_scaled": attention_variant(q, k, v, scale=1.0) if hs > 1 else None,
            "softmax_over_queries": attention_variant(q, k, v, axis=-2),
            "mask_after_softmax": attention_variant(q, k, v, zero_after=True),
        }, hint))  # fmt: skip
    return cases


ATTENTION = Exercise(3, "attention: softmax(q kᵀ/√hs + causal mask) v", TUTORIAL + "; Vaswani et al. 2017, Eq. 1", (
    Task("attention", "S = q kᵀ/√hs (B, nh, T, T); S[..., i, j] = −inf where j > i; P = softmax(S) along the last "
                      "axis (keys); y = P v (B, nh, T, hs).",
         attention_cases, (
             Mistake("unstable", "NaN or inf on large logits: subtract each row's maximum before exp() (the masked −inf"
                                 " entries then give exp(−inf) = 0)."),
             Mistake("no_causal_mask", "no causal mask: every query also sees later keys, so a token's output depends "
                                       "on the future. Set S[i, j] = −inf where j > i before the softmax."),
             Mistake("scaled_by_d", "scale the logits by 1/√hs, not 1/hs (Vaswani et al. Eq. 1): the dot product of two "
                                    "hs-dim unit-variance vectors has variance hs, so √hs normalises it."),
             Mistake("not_scaled", "divide the logits q·k by √hs (hs = head size) before the softmax."),
             Mistake("softmax_over_queries", "normalise over the KEYS (the last axis): each query's weights sum to 1."),
             Mistake("mask_after_softmax", "mask BEFORE the softmax (−inf in the logits); zeroing the probabilities "
                                           "afterwards leaves rows that no longer sum to 1."),
         ), **TOL),
), depends_on=(2,))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 4


def library_mha(x, w_attn, b_attn, w_proj, b_proj, n_head, qkv_order=(0, 1, 2), interleaved=False, project=True):
    """model.CausalSelfAttention's forward on the functional ops (with the slips as options)."""
    B, T, C = x.shape
    hs = C // n_head
    with no_grad():
        qkv = F.linear(Tensor(x), Tensor(w_attn), Tensor(b_attn)).data  # (B, T, C) -> (B, T, 3C)
        if interleaved:
            qkv = qkv.reshape(B, T, n_head, 3, hs).transpose(3, 0, 2, 1, 4)
        else:
            qkv = qkv.reshape(B, T, 3, n_head, hs).transpose(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        q, k, v = (qkv[i] for i in qkv_order)
        y = F.causal_self_attention(Tensor(q), Tensor(k), Tensor(v), training=False).data
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)  # (B, nh, T, hs) -> (B, T, C)
        return F.linear(Tensor(y), Tensor(w_proj), Tensor(b_proj)).data.copy() if project else y


def mha_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for B, T, C, nh in SHAPES:
        args = (rng.standard_normal((B, T, C)), 0.3 * rng.standard_normal((C, 3 * C)), 0.1 * rng.standard_normal(3 * C),
                0.3 * rng.standard_normal((C, C)), 0.1 * rng.standard_normal(C), nh)  # fmt: skip
        cases.append(Case(f"x of shape ({B}, {T}, {C}), w_attn ({C}, {3 * C}), b_attn ({3 * C},), w_proj ({C}, {C}), "
                          f"b_proj ({C},), n_head={nh}", args, library_mha(*args), {
            "k_q_v_order": library_mha(*args, qkv_order=(1, 0, 2)),
            "interleaved_qkv": library_mha(*args, interleaved=True) if nh > 1 else None,
            "no_output_projection": library_mha(*args, project=False),
            "one_head": library_mha(*args[:5], 1) if nh > 1 else None,
        }))  # fmt: skip
    return cases


def mha_note(module) -> str:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 6, 8))
    w = (0.3 * rng.standard_normal((8, 24)), np.zeros(24), 0.3 * rng.standard_normal((8, 8)), np.zeros(8))
    y = module.multi_head_attention(x, *w, 2)
    x2 = x.copy()
    x2[0, 4:] += 1.0  # change tokens 4 and 5
    y2 = module.multi_head_attention(x2, *w, 2)
    unchanged = int(np.sum(np.all(np.isclose(y[0], y2[0], rtol=0, atol=1e-12), axis=-1)))
    return (f"changing tokens 4 and 5 of a 6-token input leaves your outputs at {unchanged} positions unchanged "
            "(0-3): causality, the property tutorial 03 §6 tests on the whole model.")


MHA = Exercise(4, "multi_head_attention: the attention half of a GPT block", TUTORIAL, (
    Task("multi_head_attention",
         "qkv = x w_attn + b_attn (B, T, 3C), split into q | k | v (C columns each, in that order); split_heads each; "
         "y = attention(q, k, v); merge_heads; out = y w_proj + b_proj.",
         mha_cases, (
             Mistake("k_q_v_order", "w_attn holds query, key and value side by side in that order: q = columns 0..C−1,"
                                    " k = C..2C−1, v = 2C..3C−1."),
             Mistake("interleaved_qkv", "split the 3C columns into three blocks of C first (q | k | v), then each "
                                        "block into heads; reshaping to (B, T, nh, 3, hs) interleaves them."),
             Mistake("no_output_projection", "finish with the attention output projection: out = y w_proj + b_proj."),
             Mistake("one_head", "split q, k and v into n_head heads of size C/n_head; attending with one head of size"
                                 " C is a different function."),
         ), **TOL),
), depends_on=(1, 3), on_pass=mha_note, points=2)  # fmt: skip

TRACK = Track("attention", "causal multi-head self-attention", "tutorials/03_gpt3_block.ipynb",
              (HEADS, MASK, ATTENTION, MHA))
