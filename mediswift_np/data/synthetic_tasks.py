"""Synthetic PubMedQA-style and HoC-style examples in the real files' schemas.

Both are written about the fixed :mod:`~mediswift_np.data.world`, like the synthetic
pre-training corpus, and are deterministic in their seed.

:func:`synthetic_pubmedqa` returns records in the ``ori_pqal.json`` schema (PubMedQA,
Jin et al. 2019): keys are fake PMIDs (8 digits starting with 9, above any real PMID);
values have ``QUESTION``, ``CONTEXTS``, ``LABELS``, ``MESHES``, ``YEAR``,
``reasoning_required_pred``, ``reasoning_free_pred``, ``final_decision``,
``LONG_ANSWER``. The question asks whether a catalogue drug (world.py) reduces the
biomarker of the disease it was developed for; the answer is the drug's trial outcome:

- ``yes``: the biomarker was reduced -> "significantly reduced";
- ``no``: it was unchanged -> "no significant difference";
- ``maybe``: the results were mixed -> "mixed"/"inconclusive".

With ``evidence="context"`` the results sentence (quoted above) is in the context, so
cue words decide the answer. With ``evidence="knowledge"`` (closed book) it is not: the
question and context are drawn the same way whatever the answer, and only the drug's
facts, stated in the pre-training corpus's drug profiles (closed_book.py), decide it.
:func:`synthetic_pubmedqa_splits` puts disjoint drugs in train, validation and test.

Labels are balanced about like PQA-L (55.2% yes, 33.8% no, 11.0% maybe): 17, 10 and 3 of
the 30 catalogue drugs of every disease, so 57% / 33% / 10%. No question is written
twice. Question + contexts stay below ~90 Moses tokens, so a tiny model with a 128-256 token context sees all the evidence.

:func:`synthetic_hoc` returns ``(sentence, labels)`` pairs like the sentence-level HoC
TSVs: the sentence is Moses-tokenized without escaping (as the real files are), labels
are hallmark names from :data:`~mediswift_np.data.world.HALLMARKS` or ``["empty"]``.
A hallmark sentence contains that hallmark's cue phrase (about a gene that drives it in
the world); about 70% of sentences are ``empty`` (as in the real train split), and about
5% carry two hallmarks. No sentence is written twice, so :func:`synthetic_hoc_splits`
has no sentence in two splits.

Does not handle: PQA-A/PQA-U style unlabeled data, abstract-level HoC.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_json, atomic_write_text
from .closed_book import SPLIT_COUNTS, SPLITS, split_catalogue
from .phrases import cap, effect_sentence, methods_sentence, pick, question_sentence, trial_methods
from .world import HALLMARK_CUES, HALLMARKS, Drug, World, default_world

ANSWERS = ("yes", "no", "maybe")
ANSWER_SHARES = (0.552, 0.338, 0.110)  # PQA-L: 552 / 338 / 110 of 1000
OUTCOME_FOR_ANSWER = {"yes": "reduced", "no": "unchanged", "maybe": "mixed"}
ANSWER_FOR_OUTCOME = {o: a for a, o in OUTCOME_FOR_ANSWER.items()}
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
SPLIT_SHARES = {o: counts[-1] / sum(c[-1] for c in SPLIT_COUNTS.values()) for o, counts in SPLIT_COUNTS.items()}  # the test drugs' outcomes
QUESTION_WORDINGS = 4  # distinct questions per drug (phrases.question_sentence)
MAX_TRIES = 200  # redraws for a question (or HoC sentence) that another example already used


def pubmedqa_record(rng: np.random.Generator, world: World, drug: Drug, evidence: str = "context") -> dict:
    """One PubMedQA-schema record about catalogue ``drug``: does it lower its disease's biomarker?

    The answer is the drug's trial outcome (reduced -> yes, unchanged -> no, mixed ->
    maybe). Every question pairs the drug with its own disease and that disease's own
    biomarker, and every disease has drugs of each outcome in the same numbers: only
    the drug's facts decide the answer.
    """
    answer = ANSWER_FOR_OUTCOME[drug.outcome]
    disease, marker = drug.disease, drug.target
    question = question_sentence(rng, drug.name, marker, disease)
    background = pick(rng, (f"{cap(marker)} is elevated in {disease}.", f"{cap(disease)} is characterized by high {marker}."))
    contexts = [background, trial_methods(rng, drug, disease), cap(effect_sentence(rng, drug.name, marker, OUTCOME_FOR_ANSWER[answer]))]
    labels = ["BACKGROUND", "METHODS", "RESULTS"]
    if evidence == "knowledge":  # closed book: the same record without the results sentence that states the answer
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


def _check_request(n: int, evidence: str) -> None:
    if n < 0:
        raise UserError(f"number of examples must be >= 0, got {n}")
    if evidence not in EVIDENCE:
        raise UserError(f"evidence must be one of {', '.join(EVIDENCE)}, got {evidence!r}")


def _asked_drugs(rng: np.random.Generator, drugs: list[Drug], n: int, shares: dict[str, float] | None) -> list[Drug]:
    """The drug of each of ``n`` questions: each drug in turn (answer shares = the drugs' outcome
    shares) or, with ``shares`` {outcome: share}, those answer shares, the drugs of each
    outcome in turn. An outcome whose drugs have too few distinct questions
    (:data:`QUESTION_WORDINGS` each) for its share gets all they have, and the other outcomes
    share the rest in proportion."""
    order = [drugs[int(i)] for i in rng.permutation(len(drugs))]
    if shares is None:
        return [order[k % len(order)] for k in range(n)]
    groups = {o: [d for d in order if d.outcome == o] for o in shares}
    counts = dict(zip(shares, exact_counts(n, tuple(shares.values()))))
    for o in sorted(shares, key=shares.get):  # the rarest outcome first: it runs out first
        room = QUESTION_WORDINGS * len(groups[o])
        if counts[o] > room:
            rest = [k for k in shares if k != o and counts[k] < QUESTION_WORDINGS * len(groups[k])]
            extra = exact_counts(counts[o] - room, tuple(shares[k] for k in rest))
            counts[o] = room
            for k, e in zip(rest, extra):
                counts[k] += e
    asked = [groups[o][k % len(groups[o])] for o in shares for k in range(counts[o])]
    if len(asked) < n:
        raise UserError(f"cannot write {n} distinct questions about {len(drugs)} drugs ({QUESTION_WORDINGS} wordings each); ask for fewer")
    return asked


def _pubmedqa_records(rng: np.random.Generator, world: World, drugs: list[Drug], n: int, evidence: str,
                      seen: set[str], pmids: list[str], shares: dict[str, float] | None = None) -> dict[str, dict]:  # fmt: skip
    """``n`` records about ``drugs``, each drug asked about in turn (so about equally often),
    questions not in ``seen``. The answers' shares are those of the drugs' outcomes, or ``shares``."""
    asked = _asked_drugs(rng, drugs, n, shares)
    records = {}
    for k, pmid in enumerate(pmids[:n]):
        for _ in range(MAX_TRIES):
            record = pubmedqa_record(rng, world, asked[k], evidence)
            if record["QUESTION"] not in seen:
                break
        else:
            raise UserError(f"cannot write {n} distinct questions about {len(drugs)} drugs (4 wordings each); ask for fewer")
        seen.add(record["QUESTION"])
        records[pmid] = record
    answers = list(records.items())
    return {pmid: rec for pmid, rec in (answers[int(i)] for i in rng.permutation(len(answers)))}


def synthetic_pubmedqa(n: int, seed: int, evidence: str = "context") -> dict[str, dict]:
    """``n`` PubMedQA-style records about the catalogue drugs, keyed by fake PMID (``ori_pqal.json`` schema).

    Each catalogue drug is asked about in turn; labels follow the drugs' outcomes, about
    PQA-L's shares (17 / 10 / 3 of 30 = 57% yes, 33% no, 10% maybe). No question occurs twice. ``evidence="context"``: the
    results sentence states the answer (open book). ``evidence="knowledge"``: it is
    left out, so the answer follows only from the drug's facts, which the synthetic
    pre-training corpus states in its drug profiles (closed book). For train/val/test
    splits about disjoint drugs use :func:`synthetic_pubmedqa_splits`.

    Example:
        >>> qa = synthetic_pubmedqa(10, seed=0)
        >>> sorted(r["final_decision"] for r in qa.values()).count("yes")
        6
    """
    _check_request(n, evidence)
    rng = np.random.default_rng(seed)
    world = default_world()
    return _pubmedqa_records(rng, world, list(world.catalogue), n, evidence, set(), fake_pmids(rng, n))


def synthetic_pubmedqa_splits(sizes: tuple[int, int, int], seed: int, evidence: str = "context") -> tuple[dict, dict, dict]:
    """(train, val, test) records about **disjoint** catalogue drugs (closed_book.split_catalogue).

    No question, PMID or drug occurs in two splits, so a test question asks about a
    drug that fine-tuning never saw; what the model knows of it came from pre-training.
    Every split has the test split's answer mix (:data:`SPLIT_SHARES`: 5 : 3 : 1 yes/no/maybe,
    PQA-L's), so train and dev do not teach or select for another label prior.
    """
    for n in sizes:
        _check_request(n, evidence)
    rng = np.random.default_rng([seed, 17])
    world = default_world()
    drugs = split_catalogue(world, seed)
    pmids = fake_pmids(rng, sum(sizes))
    seen: set[str] = set()
    parts, start = [], 0
    for name, n in zip(SPLITS, sizes):
        parts.append(_pubmedqa_records(rng, world, drugs[name], n, evidence, seen, pmids[start : start + n], SPLIT_SHARES))
        start += n
    return tuple(parts)


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
        f"In {int(rng.integers(2, 10))} {cancer} cell lines, {genes[0].symbol} {does}.",
        f"In tumors from {int(rng.integers(20, 400))} patients with {cancer}, {genes[0].symbol} {does}.",
    ))


def _hoc_examples(rng: np.random.Generator, world: World, n: int, seen: set[str]) -> list[tuple[str, list[str]]]:
    """``n`` examples whose sentences are not in ``seen`` (labels drawn first, the sentence redrawn on a repeat)."""
    from sacremoses import MosesTokenizer  # imported here: it takes 0.3 s, and only HoC needs it

    moses = MosesTokenizer(lang="en")
    examples = []
    for _ in range(n):
        u = rng.random()
        if u < HOC_EMPTY_SHARE:
            labels = [HOC_EMPTY]
        else:
            chosen = sorted(rng.choice(len(HALLMARKS), size=2 if u > 1 - HOC_MULTI_SHARE else 1, replace=False))
            labels = [HALLMARKS[int(i)] for i in chosen]
        for _ in range(MAX_TRIES):
            if labels == [HOC_EMPTY]:
                text = methods_sentence(rng, world, pick(rng, world.cancers))
            else:
                text = hoc_hallmark_sentence(rng, world, labels)
            text = moses.tokenize(cap(text), return_str=True, escape=False)
            if text not in seen:
                break
        else:
            raise UserError(f"cannot write {n} distinct HoC sentences; ask for fewer")
        seen.add(text)
        examples.append((text, labels))
    return examples


def synthetic_hoc(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """``n`` HoC-style ``(sentence, labels)`` pairs, no sentence twice; labels in :data:`HALLMARKS` order or ``["empty"]``.

    Example:
        >>> synthetic_hoc(2, seed=1) == synthetic_hoc(2, seed=1)
        True
    """
    if n < 0:
        raise UserError(f"number of examples must be >= 0, got {n}")
    return _hoc_examples(np.random.default_rng(seed), default_world(), n, set())


def synthetic_hoc_splits(sizes: tuple[int, int, int], seed: int) -> tuple[list, list, list]:
    """(train, val, test) HoC examples; no sentence occurs in two splits (or twice in one)."""
    if any(n < 0 for n in sizes):
        raise UserError(f"numbers of examples must be >= 0, got {sizes}")
    rng, world, seen = np.random.default_rng([seed, 29]), default_world(), set()
    return tuple(_hoc_examples(rng, world, n, seen) for n in sizes)


def write_synthetic_hoc(path: str | os.PathLike, n: int, seed: int) -> Path:
    """Write :func:`synthetic_hoc` as a HoC TSV (``sentence<TAB>label|label``), atomically."""
    rows = "".join(f"{text}\t{'|'.join(labels)}\n" for text, labels in synthetic_hoc(n, seed))
    return atomic_write_text(path, rows)
