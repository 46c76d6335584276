"""Closed-book knowledge: drug profiles to pre-train on, and drug-disjoint task splits.

The question the paper's Table 3 asks is whether what a model learned in pre-training
survives sparsity and reaches the downstream task. To measure that, a task must need
facts that **only** pre-training supplies. Here those facts are about the world's
catalogue drugs (world.py: 360 invented drugs, each developed for one disease and tested
against its biomarker, which its trial found reduced, unchanged or mixed).

- **Pre-training** sees :func:`profile_document` texts: each states one drug's facts in
  a random order and in randomly chosen wordings. Allen-Zhu & Li (2023, "Physics of
  Language Models 3.1") found that a model can answer questions about people it was not
  fine-tuned on only when pre-training stated each person's facts several times in
  varied wordings and orders ("knowledge augmentation"); with a single fixed wording it
  memorises the text but cannot extract the facts. ``synthetic_corpus(...,
  profiles_per_drug=K)`` adds K profiles of every catalogue drug.
- **Fine-tuning** splits the catalogue by drug (:func:`split_catalogue`): the questions
  of the test split are about drugs that occur in no training or validation question.
  Fine-tuning can teach the model how to answer, but not what it should know about a
  test drug.

Does not handle: facts beyond class, disease, trial outcome and adverse event.
"""

from __future__ import annotations

import numpy as np

from .phrases import cap, pick
from .world import Drug, World

SPLITS = ("train", "val", "test")
# Drugs of each (disease, outcome) group in train / val / test: the test split keeps PQA-L's
# answer shares (5 : 3 : 1 per disease), every split has each outcome, and every disease
# has the same outcomes as every other within a split.
SPLIT_COUNTS = {"reduced": (10, 2, 5), "unchanged": (6, 1, 3), "mixed": (1, 1, 1)}


def split_catalogue(world: World, seed: int) -> dict[str, list[Drug]]:
    """The catalogue drugs split into train/val/test within every (disease, outcome) group
    (:data:`SPLIT_COUNTS`), so the disease says nothing about the outcome in any split.

    Example:
        >>> from mediswift_np.data.world import default_world
        >>> parts = split_catalogue(default_world(), seed=0)
        >>> [len(parts[k]) for k in SPLITS]
        [204, 48, 108]
    """
    rng = np.random.default_rng([seed, 31])
    parts: dict[str, list[Drug]] = {k: [] for k in SPLITS}
    for disease in world.diseases:
        for outcome, counts in SPLIT_COUNTS.items():
            drugs = [d for d in world.catalogue if (d.disease, d.outcome) == (disease, outcome)]
            order = rng.permutation(len(drugs))
            for k, idx in zip(SPLITS, np.split(order, np.cumsum(counts[:-1]))):
                parts[k] += [drugs[int(i)] for i in idx]
    for k in SPLITS:  # mix the diseases
        parts[k] = [parts[k][int(i)] for i in rng.permutation(len(parts[k]))]
    return parts


OUTCOME_WORDINGS = {  # name first, then what its trial showed
    "reduced": ("{x} lowered {m} in {d}.", "{x} significantly reduced {m} in patients with {d}.",
                "{x} met its primary endpoint: {m} fell in patients with {d}."),
    "unchanged": ("{x} did not lower {m} in {d}.", "{x} failed to reduce {m} in patients with {d}.",
                  "{x} missed its primary endpoint: {m} did not change in patients with {d}."),
    "mixed": ("{x} had mixed effects on {m} in {d}.", "{x} gave inconclusive results on {m} in patients with {d}.",
              "{x} reduced {m} in only some patients with {d}, so the evidence is inconclusive."),
}  # fmt: skip
OUTCOME_FIRST = {  # the disease first, then what the drug did there (the order of the questions)
    "reduced": ("in {d}, {x} lowered {m}.", "in patients with {d}, {x} significantly reduced {m}."),
    "unchanged": ("in {d}, {x} did not lower {m}.", "in patients with {d}, {x} had no effect on {m}."),
    "mixed": ("in {d}, {x} had mixed effects on {m}.", "in patients with {d}, results with {x} were inconclusive."),
}


def _fact_sentences(rng: np.random.Generator, drug: Drug) -> list[str]:
    """One sentence per fact of ``drug``, each in a randomly chosen wording (the lead-ins come later)."""
    x, d, m = drug.name, drug.disease, drug.target
    return [
        pick(rng, (
            f"{x} is {drug.a_class}.",
            f"{x} belongs to the class of {drug.drug_class}s.",
            f"{x}, {drug.a_class}, is given orally once daily.",
        )),
        pick(rng, (
            f"{x} was developed for {d}.",
            f"{x} was tested in a randomized trial in {d}.",
            f"{x} was studied in patients with {d}.",
        )),
        pick(rng, OUTCOME_WORDINGS[drug.outcome]).format(x=x, m=m, d=d),
        pick(rng, (
            f"{x} commonly causes {drug.adverse_event}.",
            f"{x} is generally well tolerated; the most common adverse event is {drug.adverse_event}.",
        )),
    ]


LEADS = ("the drug ", "clinically, ", "notably, ", "in practice, ", "overall, ")


def profile_document(rng: np.random.Generator, world: World, drug: Drug) -> str:
    """A short profile of one catalogue drug: its facts, shuffled, in random wordings.

    Most sentences name the drug before the fact they state, so a left-to-right model
    reads the name before the fact it predicts. A short lead-in keeps the name in lower
    case, as it is inside a question (BPE would otherwise learn the capitalised name as
    a different token). One more sentence states the trial outcome disease first, the
    order of the questions.
    """
    sentences = [pick(rng, LEADS) + s for s in _fact_sentences(rng, drug)]
    sentences.append(pick(rng, OUTCOME_FIRST[drug.outcome]).format(x=drug.name, m=drug.target, d=drug.disease))
    return " ".join(cap(sentences[int(i)]) for i in rng.permutation(len(sentences)))


def profile_documents(world: World, per_drug: int, rng: np.random.Generator) -> list[str]:
    """``per_drug`` independently worded profiles of every catalogue drug."""
    return [profile_document(rng, world, drug) for _ in range(per_drug) for drug in world.catalogue]
