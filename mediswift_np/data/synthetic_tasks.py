"""Synthetic PubMedQA-style and HoC-style examples in the real files' schemas.

Both are written about the fixed :mod:`~mediswift_np.data.world`, like the synthetic
pre-training corpus, and are deterministic in their seed.

:func:`synthetic_pubmedqa` returns records in the ``ori_pqal.json`` schema (PubMedQA,
Jin et al. 2019): keys are fake PMIDs (8 digits starting with 9, above any real PMID);
values have ``QUESTION``, ``CONTEXTS``, ``LABELS``, ``MESHES``, ``YEAR``,
``reasoning_required_pred``, ``reasoning_free_pred``, ``final_decision``,
``LONG_ANSWER``. The question asks whether a drug reduces a biomarker in a disease; the
answer follows from the results sentence of the context, and agrees with the world:

- ``yes``: the drug's own target in its indication -> "significantly reduced";
- ``no``: a biomarker the drug does not target -> "no significant difference";
- ``maybe``: its target in another disease (off-label) -> "mixed"/"inconclusive".

Labels are balanced like PQA-L (55.2% yes, 33.8% no, 11.0% maybe: counts are exact up to
rounding) and shuffled. Question + contexts stay below ~90 Moses tokens, so a tiny model
with a 128-256 token context sees all the evidence.

:func:`synthetic_hoc` returns ``(sentence, labels)`` pairs like the sentence-level HoC
TSVs: the sentence is Moses-tokenized without escaping (as the real files are), labels
are hallmark names from :data:`~mediswift_np.data.world.HALLMARKS` or ``["empty"]``.
A hallmark sentence contains that hallmark's cue phrase (about a gene that drives it in
the world); about 70% of sentences are ``empty`` (as in the real train split), and about
5% carry two hallmarks.

Does not handle: PQA-A/PQA-U style unlabeled data, abstract-level HoC.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sacremoses import MosesTokenizer

from ..errors import UserError
from ..fileio import atomic_write_json, atomic_write_text
from .phrases import cap, effect_sentence, methods_sentence, pick, question_sentence, trial_methods
from .world import HALLMARK_CUES, HALLMARKS, World, default_world

ANSWERS = ("yes", "no", "maybe")
ANSWER_SHARES = (0.552, 0.338, 0.110)  # PQA-L: 552 / 338 / 110 of 1000
OUTCOME_FOR_ANSWER = {"yes": "reduced", "no": "unchanged", "maybe": "mixed"}
HOC_EMPTY = "empty"
HOC_EMPTY_SHARE = 0.70  # sentence-level HoC train split: 7019 of 9972 sentences
HOC_MULTI_SHARE = 0.05  # ... and 466 sentences with more than one hallmark


def exact_counts(n: int, shares: tuple[float, ...]) -> list[int]:
    """Split ``n`` into integer counts proportional to ``shares`` (largest remainder).

    Example:
        >>> exact_counts(10, (0.552, 0.338, 0.110))
        [6, 3, 1]
    """
    raw = [n * s / sum(shares) for s in shares]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[: n - sum(counts)]:
        counts[i] += 1
    return counts


def fake_pmids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 8-digit strings starting with 9 (real PMIDs are still far below)."""
    return [str(90_000_000 + int(k)) for k in rng.choice(10_000_000, size=n, replace=False)]


# ----------------------------------------------------------------------------- PubMedQA


EVIDENCE = ("context", "knowledge")


def pubmedqa_record(rng: np.random.Generator, world: World, answer: str, evidence: str = "context") -> dict:
    """One PubMedQA-schema record whose context (or the world's facts) implies ``answer``."""
    drug = pick(rng, world.drugs)
    disease, marker = drug.disease, drug.target
    if answer == "no":
        marker = pick(rng, [m for m in world.biomarker.values() if m != drug.target])
    elif answer == "maybe":
        disease = pick(rng, [d for d in world.diseases if d != drug.disease])
    question = question_sentence(rng, drug.name, marker, disease)
    first_label, first = pick(rng, (
        ("BACKGROUND", f"{cap(world.biomarker[disease])} is elevated in {disease}."),
        ("OBJECTIVE", f"To test whether {drug.name}, {drug.a_class}, lowers {marker} in {disease}."),
    ))
    contexts = [first, trial_methods(rng, drug, disease), cap(effect_sentence(rng, drug.name, marker, OUTCOME_FOR_ANSWER[answer]))]
    labels = [first_label, "METHODS", "RESULTS"]
    if evidence == "knowledge":  # no results sentence: the answer must come from what pre-training taught
        contexts, labels = contexts[:2], labels[:2]
    long_answer = {
        "yes": f"{cap(drug.name)} lowers {marker} in patients with {disease}.",
        "no": f"{cap(drug.name)} does not change {marker} in {disease}.",
        "maybe": f"The effect of {drug.name} on {marker} in {disease} remains uncertain; larger trials are needed.",
    }[answer]
    return {
        "QUESTION": question,
        "CONTEXTS": contexts,
        "LABELS": labels,
        "MESHES": ["Humans", cap(disease), cap(drug.name), cap(marker)],
        "YEAR": str(int(rng.integers(1998, 2019))),
        "reasoning_required_pred": answer,
        "reasoning_free_pred": answer,
        "final_decision": answer,
        "LONG_ANSWER": long_answer,
    }


def synthetic_pubmedqa(n: int, seed: int, evidence: str = "context") -> dict[str, dict]:
    """``n`` PubMedQA-style records keyed by fake PMID (``ori_pqal.json`` schema).

    ``evidence="context"``: the results sentence states the answer (cue words suffice).
    ``evidence="knowledge"``: the results sentence is left out, so the answer follows only
    from the world's facts -- which drug lowers which biomarker in which disease -- that
    the synthetic pre-training corpus teaches. Fine-tuning then measures what the
    pre-trained model knows, not how fast it learns cue words.

    Example:
        >>> qa = synthetic_pubmedqa(10, seed=0)
        >>> sorted(r["final_decision"] for r in qa.values()).count("yes")
        6
    """
    if n < 0:
        raise UserError(f"number of examples must be >= 0, got {n}")
    if evidence not in EVIDENCE:
        raise UserError(f"evidence must be one of {', '.join(EVIDENCE)}, got {evidence!r}")
    rng = np.random.default_rng(seed)
    world = default_world()
    answers = [a for a, k in zip(ANSWERS, exact_counts(n, ANSWER_SHARES)) for _ in range(k)]
    answers = [answers[int(i)] for i in rng.permutation(n)]
    pmids = fake_pmids(rng, n)
    return {pmid: pubmedqa_record(rng, world, a, evidence) for pmid, a in zip(pmids, answers)}


def write_synthetic_pubmedqa(path: str | os.PathLike, n: int, seed: int) -> Path:
    """Write :func:`synthetic_pubmedqa` as an ``ori_pqal.json``-style file, atomically."""
    return atomic_write_json(path, synthetic_pubmedqa(n, seed))


# ----------------------------------------------------------------------------- HoC


def hoc_hallmark_sentence(rng: np.random.Generator, world: World, hallmarks: list[str]) -> str:
    """A sentence whose cue phrases state exactly ``hallmarks`` (one or two)."""
    genes = [pick(rng, [g for g in world.genes if h in g.hallmarks]) for h in hallmarks]
    cues = [pick(rng, HALLMARK_CUES[h]) for h in hallmarks]
    cancer = genes[0].disease
    if len(hallmarks) == 2 and genes[0] != genes[1]:
        return pick(rng, (
            f"{genes[0].symbol} {cues[0]}, whereas {genes[1].symbol} {cues[1]}.",
            f"We show that {genes[0].symbol} {cues[0]} and that {genes[1].symbol} {cues[1]}.",
        ))
    does = " and ".join(cues)
    return pick(rng, (
        f"{genes[0].symbol} {does} in {cancer} cells.",
        f"In {cancer}, {genes[0].symbol} {does}.",
        f"Our data show that {genes[0].symbol} {does} in {cancer}.",
        f"Overexpression of {genes[0].symbol} {does}.",
        f"We found that {genes[0].symbol} {does} and predicts poor survival in {cancer}.",
    ))


def synthetic_hoc(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """``n`` HoC-style ``(sentence, labels)`` pairs; labels in :data:`HALLMARKS` order or ``["empty"]``.

    Example:
        >>> synthetic_hoc(2, seed=1) == synthetic_hoc(2, seed=1)
        True
    """
    if n < 0:
        raise UserError(f"number of examples must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    world = default_world()
    moses = MosesTokenizer(lang="en")
    examples = []
    for _ in range(n):
        u = rng.random()
        if u < HOC_EMPTY_SHARE:
            labels, text = [HOC_EMPTY], methods_sentence(rng, world, pick(rng, world.cancers))
        else:
            k = 2 if u > 1 - HOC_MULTI_SHARE else 1
            chosen = sorted(rng.choice(len(HALLMARKS), size=k, replace=False))
            labels = [HALLMARKS[int(i)] for i in chosen]
            text = hoc_hallmark_sentence(rng, world, labels)
        examples.append((moses.tokenize(cap(text), return_str=True, escape=False), labels))
    return examples


def write_synthetic_hoc(path: str | os.PathLike, n: int, seed: int) -> Path:
    """Write :func:`synthetic_hoc` as a HoC TSV (``sentence<TAB>label|label``), atomically."""
    rows = "".join(f"{text}\t{'|'.join(labels)}\n" for text, labels in synthetic_hoc(n, seed))
    return atomic_write_text(path, rows)
