"""Track ``prompting``: the soft-prompt sequence layout and the Eq. 3 target-only loss.

A fine-tuning sequence is ``[</s>; source; prompt; target; </s>]`` (paper Sec. 2.2.2,
Eq. 3), the prompt being n virtual ids V..V+n−1 that read the rows of a learned matrix
P (n, C). The student writes (template ``tutorials/exercises/prompting.py``; unit 07):

    1  prompt_sequence(source_ids, target_ids, prompt_length, vocab_size, eos_id, source_budget)
    2  inputs_targets_mask(ids, n_context)       next-token pairs; loss only on the target
    3  target_only_loss(logits, targets, loss_mask)   Eq. 3: mean NLL over the scored tokens
    4  prompt_embeddings(wte, soft_prompt, ids)  ids >= V read the soft prompt

References: :class:`mediswift_np.tasks.prompting.Encoder` (``sequence``) and
:func:`~mediswift_np.tasks.prompting.make_batch`, run with a stand-in tokenizer whose
"text" is the ids themselves; :func:`mediswift_np.functional.cross_entropy` with a loss
mask; :func:`mediswift_np.autograd.embedding` with the prompt as extra rows. Ids and
masks are compared exactly, the loss with rtol 1e-9, embeddings exactly (a lookup
copies numbers). The loss has stability probes (logits + 100, × 1000).

Does not handle: right padding of a batch (make_batch does it; one sequence here),
PubMedQA's text format and the tokenizer (tutorial 07 shows both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import functional as F
from ...autograd import Tensor, embedding, no_grad
from ...tasks.base import Example
from ...tasks.prompting import Encoder, make_batch
from ..compare import differs
from ..spec import Case, Exercise, Mistake, Symptom, Task, Track

TUTORIAL = "tutorials/07_finetune_soft_prompts.ipynb, section 'Eq. 3 — soft prompts between source and target'"
PAD, EOS = 1, 2  # the library's <pad> and </s> ids (4 specials: <s>, <pad>, </s>, <unk>)


@dataclass(frozen=True)
class IdTokenizer:
    """A stand-in tokenizer: the text "17 5 9" encodes to [17, 5, 9]."""

    vocab_size: int
    eos_id: int = EOS
    pad_id: int = PAD

    def encode(self, text: str) -> list[int]:
        return [int(t) for t in text.split()]


@dataclass(frozen=True)
class IdFormat:
    """A stand-in task format: the target sentence of a label is the label itself."""

    def target(self, label: str) -> str:
        return label


def text(ids) -> str:
    return " ".join(str(int(i)) for i in ids)


def library_sequence(source, target, n, V, budget):
    """(ids, n_context) from the library's Encoder."""
    encoder = Encoder(IdTokenizer(V), IdFormat(), n, 1 + budget + n + len(target) + 1, len(target) + 1)
    ids, n_context, _ = encoder.sequence(Example("x", text(source), text(target)))
    return ids, n_context, encoder


def random_example(rng: np.random.Generator, V: int, m: int, k: int):
    return [int(i) for i in rng.integers(4, V, m)], [int(i) for i in rng.integers(4, V, k)]


# ----------------------------------------------------------------------------- exercise 1


def sequence_cases(rng: np.random.Generator) -> list[Case]:
    settings = [(50, 6, 3, 4, 20, "PubMedQA-like: n=4"), (50, 5, 2, 1, 20, "HoC-like: n=1"),
                (80, 7, 2, 0, 20, "no prompt, n=0 (plain fine-tuning)"), (60, 12, 3, 3, 8, "a source longer than its budget"),
                (int(rng.integers(30, 90)), int(rng.integers(2, 9)), int(rng.integers(1, 4)), int(rng.integers(1, 6)), 9, "random")]  # fmt: skip
    cases = []
    for V, m, k, n, budget, words in settings:
        src, tgt = random_example(rng, V, m, k)
        ids, _, _ = library_sequence(src, tgt, n, V, budget)
        virtual, kept = list(range(V, V + n)), src[:budget]
        cases.append(Case(f"{words}: source_ids of length {m}, target_ids of length {k}, prompt_length={n}, "
                          f"vocab_size={V}, eos_id={EOS}, source_budget={budget}", (src, tgt, n, V, EOS, budget), ids, {
            "prompt_before_source": [EOS, *virtual, *kept, *tgt, EOS] if n else None,
            "prompt_after_target": [EOS, *kept, *tgt, *virtual, EOS] if n else None,
            "virtual_ids_from_zero": [EOS, *kept, *range(n), *tgt, EOS] if n else None,
            "no_start_eos": [*kept, *virtual, *tgt, EOS],
            "no_final_eos": [EOS, *kept, *virtual, *tgt],
            "cut_from_the_start": [EOS, *src[len(src) - budget:], *virtual, *tgt, EOS] if len(src) > budget else None,
        }))  # fmt: skip
    return cases


SEQUENCE = Exercise(1, "prompt_sequence: [</s>; source; prompt; target; </s>]", TUTORIAL, (
    Task("prompt_sequence",
         "ids = [eos] + source_ids[:source_budget] + [V, V+1, ..., V+n−1] + target_ids + [eos] (Eq. 3: the prompt "
         "sits BETWEEN the source and the target).",
         sequence_cases, (
             Mistake("prompt_before_source", "the soft prompt goes between the source and the target (Eq. 3: [x; P; "
                                             "y]), not before the source as in prefix tuning: the model reads the "
                                             "question, then the prompt tells it what to write next."),
             Mistake("prompt_after_target", "the soft prompt goes between the source and the target (Eq. 3: [x; P; "
                                            "y]); after the target it could not steer the answer."),
             Mistake("virtual_ids_from_zero", "virtual ids start at the vocabulary size: V, V+1, ..., V+n−1 (ids 0..n−1 "
                                              "are real tokens such as <s> and <pad>)."),
             Mistake("no_start_eos", "start with </s>: every pre-training document follows a </s>, so the model "
                                     "reads it as 'a new document starts'."),
             Mistake("no_final_eos", "end with </s> after the target: it teaches the model to stop, so generation "
                                     "ends there."),
             Mistake("cut_from_the_start", "cut a long source from its END: its beginning (the question and the first "
                                           "sentences) is kept, source_ids[:source_budget]."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def compare_batch(got, expected) -> str | None:
    """idx and loss_mask exactly; targets only where the loss mask is 1 (elsewhere anything)."""
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "return three arrays: (idx, targets, loss_mask)"
    idx, targets, mask = (np.asarray(a) for a in got)
    if mask.dtype.kind not in "biuf":
        return f"loss_mask: an array of {mask.dtype}; expected 0.0 / 1.0 numbers"
    for name, g, e in (("idx", idx, expected[0]), ("loss_mask", mask.astype(np.float64), expected[2].astype(np.float64))):
        why = differs(g, e)
        if why:
            return f"{name}: {why}"
    if targets.shape != expected[1].shape:
        return f"targets: shape {targets.shape}; expected shape {expected[1].shape}"
    scored = expected[2] == 1
    wrong = int(np.sum(targets[scored] != expected[1][scored]))
    return f"targets: wrong at {wrong} of the {int(scored.sum())} scored positions" if wrong else None


def batch_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for V, m, k, n in ((50, 6, 3, 4), (40, 5, 2, 1), (60, 4, 4, 0), (70, 8, 1, 2)):
        src, tgt = random_example(rng, V, m, k)
        ids, n_context, encoder = library_sequence(src, tgt, n, V, m)
        example = Example("x", text(src), text(tgt))
        idx, targets, mask = (a[0] for a in make_batch(encoder, [example]))
        T, every = len(ids) - 1, np.asarray(ids[1:])  # every next token (the library pads the unscored ones)
        shifted = lambda start: np.where(np.arange(T) >= start, 1.0, 0.0)  # noqa: E731
        source_scored = lambda got, m=m: np.any(np.asarray(got[2], dtype=np.float64)[:m] != 0)  # noqa: E731
        cases.append(Case(f"ids of length {len(ids)} ([</s>; {m} source; {n} prompt; {k} target; </s>]), "
                          f"n_context={n_context}", (ids, n_context), (idx, targets, mask), {
            "loss_everywhere": (idx, every, np.ones(T)),
            "loss_on_source": Symptom(source_scored),  # positions 0..m-1 predict the source tokens x_1..x_m
            "mask_starts_late": (idx, every, shifted(n_context)),
            "mask_starts_early": (idx, every, shifted(n_context - 2)),
            "targets_not_shifted": Symptom(lambda got, i=np.asarray(ids[:-1]): np.array_equal(np.asarray(got[1]), i)),
        }))  # fmt: skip
    return cases


def batch_note(module) -> str:
    src, tgt = list(range(10, 310)), [7, 8, 9, 11]
    ids = module.prompt_sequence(src, tgt, 9, 42384, EOS, 300)
    n_context = 1 + len(src) + 9
    _, _, mask = module.inputs_targets_mask(ids, n_context)
    return (f"a PubMedQA-sized sequence (300 source tokens, n = 9, a 4-token answer): {int(np.sum(mask))} of "
            f"{len(mask)} positions are scored -- Eq. 3 trains the prompt to produce the answer, not to model the "
            "question.")


BATCH = Exercise(2, "inputs_targets_mask: next-token pairs, loss on the target only", TUTORIAL, (
    Task("inputs_targets_mask",
         "idx = ids[:-1], targets = ids[1:], loss_mask[t] = 1.0 for t >= n_context − 1 (position t predicts ids[t+1]; "
         "the first target token is predicted from the last prompt position), else 0.0.",
         batch_cases, (
             Mistake("loss_everywhere", "Eq. 3 scores only the target tokens and the final </s>: zero the loss mask "
                                        "on </s>, the source and the prompt positions."),
             Mistake("loss_on_source", "Eq. 3 scores only the target tokens y_1..y_k and the final </s>: the loss is "
                                       "not counted on the question (source) tokens."),
             Mistake("mask_starts_late", "off by one: y_1 is predicted FROM the last prompt position, t = n_context − "
                                         "1 (targets[t] = ids[t + 1]); your mask starts one position too late and "
                                         "never scores y_1."),
             Mistake("mask_starts_early", "off by one: position n_context − 2 predicts the last virtual token, which "
                                          "has no logit; the mask starts at t = n_context − 1."),
             Mistake("targets_not_shifted", "targets are the NEXT tokens: targets[t] = ids[t + 1]."),
         ), compare=compare_batch),
), on_pass=batch_note)  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3

PROBE_HINT = ("a stability probe (large logits): compute log Σ exp(z) as m + log Σ exp(z − m) with m the row max.")


def loss_cases(rng: np.random.Generator) -> list[Case]:
    inputs = []
    for B, T, V in ((1, 9, 11), (2, 7, 13), (3, 5, 6)):
        z, t = rng.standard_normal((B, T, V)), rng.integers(0, V, (B, T))
        mask = np.zeros((B, T))
        for b in range(B):
            mask[b, int(rng.integers(2, T - 1)) :] = 1.0
        inputs.append((f"logits of shape {(B, T, V)}, targets {(B, T)}, loss_mask with {int(mask.sum())} ones", z, t, mask, ""))
    z, t, mask = inputs[1][1], inputs[1][2], inputs[1][3]
    inputs += [(f"logits of shape {z.shape} + 100 (stability probe), targets, loss_mask", z + 100, t, mask, PROBE_HINT),
               (f"logits of shape {z.shape} × 1000 (stability probe), targets, loss_mask", z * 1000, t, mask, PROBE_HINT)]
    cases = []
    for label, z, t, mask, hint in inputs:
        with no_grad():
            right = float(F.cross_entropy(Tensor(z), t, mask).data)
            nll = -F.log_softmax(Tensor(z)).data[np.arange(z.shape[0])[:, None], np.arange(z.shape[1]), t]  # (B, T)
        cases.append(Case(label, (z, t, mask), right, {
            "unstable": Symptom(lambda got: not np.isfinite(np.asarray(got, dtype=np.float64)).all()),
            "mean_over_all_positions": float((nll * mask).sum() / mask.size),
            "mask_ignored": float(nll.mean()),
            "sum_not_mean": float((nll * mask).sum()),
            "per_sequence_mean": float(np.mean((nll * mask).sum(1) / mask.sum(1))) if z.shape[0] > 1 else None,
        }, hint))  # fmt: skip
    return cases


LOSS = Exercise(3, "target_only_loss: Eq. 3, the mean NLL of the scored tokens", TUTORIAL + "; paper Eq. 3", (
    Task("target_only_loss",
         "loss = Σ_{b,t} mask[b,t]·(−log softmax(logits[b,t])[targets[b,t]]) / Σ_{b,t} mask[b,t].",
         loss_cases, (
             Mistake("unstable", "NaN or inf on large logits: compute log softmax as z − m − log Σ exp(z − m), m = the "
                                 "row max (never log of a softmax that underflowed to 0)."),
             Mistake("mean_over_all_positions", "divide by the number of SCORED tokens, Σ mask, not by B·T: otherwise "
                                                "a short answer gets a small loss just for being short."),
             Mistake("mask_ignored", "multiply each token's loss by the mask: only the target tokens count (Eq. 3)."),
             Mistake("sum_not_mean", "the loss is the mean over the scored tokens: divide by Σ mask."),
             Mistake("per_sequence_mean", "average over all scored tokens of the batch at once (Σ over b and t, then "
                                          "divide by Σ mask), not per sequence and then over sequences."),
         )),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 4


def embedding_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for V, C, n, shape in ((20, 4, 3, (2, 6)), (30, 5, 1, (1, 8)), (15, 3, 5, (3, 4))):
        wte, prompt = rng.standard_normal((V, C)), rng.standard_normal((n, C))
        ids = rng.integers(0, V + n, shape)
        ids[0, -1] = V + n - 1  # the last virtual id appears at least once
        with no_grad():
            right = embedding(Tensor(wte), ids, Tensor(prompt)).data.copy()
        cases.append(Case(f"wte of shape ({V}, {C}), soft_prompt ({n}, {C}), ids of shape {shape} in [0, {V + n})",
                          (wte, prompt, ids), right, {
            "off_by_one": np.where((ids >= V)[..., None], prompt[(ids - V - 1) % n], right),
            "reversed_prompt": np.where((ids >= V)[..., None], prompt[::-1][np.clip(ids - V, 0, n - 1)], right) if n > 1 else None,
        }))  # fmt: skip
    return cases


EMBED = Exercise(4, "prompt_embeddings: virtual ids read the soft prompt", TUTORIAL, (
    Task("prompt_embeddings",
         "out[..., :] = wte[id] for id < V and soft_prompt[id − V] for id >= V: concat([wte, soft_prompt])[ids].",
         embedding_cases, (
             Mistake("off_by_one", "virtual id V reads row 0 of the soft prompt (id − V), not row −1 or 1."),
             Mistake("reversed_prompt", "virtual id V + i reads row i of the soft prompt, in order."),
         ), rtol=0.0, atol=0.0),
))  # fmt: skip

TRACK = Track("prompting", "the soft-prompt sequence layout and the Eq. 3 target-only loss",
              "tutorials/07_finetune_soft_prompts.ipynb", (SEQUENCE, BATCH, LOSS, EMBED))
