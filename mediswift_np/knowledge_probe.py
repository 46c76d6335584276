"""What a pre-trained model knows before fine-tuning: the graded knowledge probe of the
recovery experiment (paper Sec. 2.2: does dense fine-tuning recover what sparse
pre-training lost? -- this measures the "lost").

For each catalogue drug (data/closed_book.py) the model scores a prefix naming the drug
and its disease followed by one continuation per trial outcome; the three scores give
the argmax, the probability mass on the true outcome and the log-odds margin.

Does not handle: facts other than the trial outcome, real drugs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoint
from .autograd import no_grad
from .data.closed_book import split_catalogue
from .data.world import OUTCOMES, default_world
from .functional import log_softmax


# The knowledge probes (Sec. 2.2's "what pre-training learned", measured before fine-tuning):
# a prefix naming the drug and its disease, then one continuation per trial outcome.
# "corpus": the first outcome-first wording of the profiles (closed_book.OUTCOME_FIRST), the
# exact words pre-training repeats. "paraphrase": a sentence frame and verbs the corpus never
# contains (tests/test_recovery.py checks that), scored against the same continuation after
# "the drug" instead of the drug's name, since new words carry a prior of their own that
# would otherwise decide the argmax whatever the drug.
PROBES = {
    "corpus": ("In {d}, {x}", {"reduced": "lowered", "unchanged": "did not lower", "mixed": "had mixed effects on"}),
    "paraphrase": ("In the {d} trial, {x}", {"reduced": "brought {m} down", "unchanged": "left {m} where it was",
                                              "mixed": "helped only some patients with {m}"}),
}  # fmt: skip


CALIBRATED = ("paraphrase",)  # probes scored as log p(continuation | drug) − log p(continuation | "the drug")


def probe_sentences(probe: str, drug, name: str | None = None) -> list[tuple[str, str]]:
    """(prefix, continuation) per outcome in OUTCOMES order for one drug and one probe
    (``name`` replaces the drug's name, e.g. "the drug" for the calibration)."""
    prefix, options = PROBES[probe]
    fill = dict(d=drug.disease, x=drug.name if name is None else name, m=drug.target)
    return [(prefix.format(**fill), options[o].format(**fill)) for o in OUTCOMES]


def continuation_logprobs(model, tok, pairs: list[tuple[str, str]], chunk: int = 384) -> np.ndarray:
    """Sum of the log-probabilities of each continuation's tokens after its prefix (one number per pair)."""
    ids_of: dict[str, list[int]] = {}  # a prefix serves 3 outcomes and a continuation hundreds of drugs: encode each once

    def encode(text: str) -> list[int]:
        if text not in ids_of:
            ids_of[text] = tok.encode(text)
        return ids_of[text]

    prefixes = [encode(p) for p, _ in pairs]
    seqs = [ids + encode(c) for ids, (_, c) in zip(prefixes, pairs)]
    out = np.zeros(len(seqs))
    for lo in range(0, len(seqs), chunk):
        part = seqs[lo : lo + chunk]
        x = np.zeros((len(part), max(map(len, part))), dtype=np.int64)
        for i, ids in enumerate(part):
            x[i, : len(ids)] = ids
        with no_grad():
            logp = log_softmax(model(x)[0]).data  # (n, T, V)
        for i, ids in enumerate(part):
            t = np.arange(len(prefixes[lo + i]), len(ids))
            out[lo + i] = logp[i, t - 1, np.asarray(ids)[t]].sum()
    return out


def graded_scores(scores: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per drug, from the (n, 3) outcome scores: argmax right, probability mass on the true
    outcome (softmax over the three continuations) and the log-odds margin (true − best wrong)."""
    rows = np.arange(len(truth))
    shifted = scores - scores.max(axis=1, keepdims=True)
    mass = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    wrong = np.where(np.arange(scores.shape[1])[None, :] == truth[:, None], -np.inf, scores)
    return {"right": (scores.argmax(axis=1) == truth).astype(float), "p_correct": mass[rows, truth],
            "margin": scores[rows, truth] - wrong.max(axis=1)}  # fmt: skip


def graded_probe(directory: Path, seed: int, capacity: bool = True) -> dict[str, Any]:
    """What a start knows before fine-tuning, graded: for the seed's 108 test drugs and for all
    360 catalogue drugs (capacity), per probe wording, the share of drugs whose true outcome
    scores highest, the mean probability mass on it and the mean log-odds margin; per test
    drug, the same three numbers (for recovery drug by drug).

    An untrained model prefers the shortest continuation whatever the drug, so its argmax
    share is that outcome's share and its mass is not 1/3: compare with the no-pre-training start.
    """
    model, tok, _ = checkpoint.load_model(directory)
    model.eval()
    test_names = {d.name for d in split_catalogue(default_world(), seed)["test"]}
    drugs = [d for d in default_world().catalogue if capacity or d.name in test_names]  # capacity=False: the test drugs only
    is_test = np.array([d.name in test_names for d in drugs])
    truth = np.array([OUTCOMES.index(d.outcome) for d in drugs])
    out: dict[str, Any] = {"per_drug": {"name": [d.name for d in drugs if d.name in test_names],
                                        "outcome": [d.outcome for d in drugs if d.name in test_names]}}  # fmt: skip
    for probe in PROBES:
        pairs = [pair for drug in drugs for pair in probe_sentences(probe, drug)]
        scores = continuation_logprobs(model, tok, pairs).reshape(len(drugs), len(OUTCOMES))
        if probe in CALIBRATED:
            neutral = [pair for drug in drugs for pair in probe_sentences(probe, drug, name="the drug")]
            scores = scores - continuation_logprobs(model, tok, neutral).reshape(len(drugs), len(OUTCOMES))
        graded = graded_scores(scores, truth)
        for part, keep in (("test", is_test), ("all", np.ones_like(is_test)))[: 2 if capacity else 1]:
            out[f"{part}_{probe}"] = {k: float(v[keep].mean()) for k, v in graded.items()}
        out["per_drug"][probe] = {k: [round(float(x), 4) for x in v[is_test]] for k, v in graded.items()}
    return out


def knowledge_probe(directory: Path, seed: int) -> float:
    """The share of the seed's test drugs whose trial outcome the model prefers after
    ``In {disease}, {drug}`` in the corpus' wording (argmax; :func:`graded_probe` grades it)."""
    return graded_probe(directory, seed)["test_corpus"]["right"]
