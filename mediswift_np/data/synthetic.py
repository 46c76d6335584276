"""The embedded synthetic biomedical corpus (no files needed; deterministic per seed).

:func:`synthetic_corpus` writes abstract-like documents about the fixed
:mod:`~mediswift_np.data.world` (drugs, genes, diseases, biomarkers, outcomes), so that
every stage of the paper runs offline. Four kinds of abstract, each sentence drawn from
several templates (varied structure, consistent facts):

- **trial** (40%): a randomized trial of a drug. In its indication it significantly
  lowers its target biomarker and leaves a non-target biomarker unchanged; in another
  disease (off-label) the effect on its target is mixed/inconclusive.
- **association** (20%): a genetic study; a gene is associated with its own disease
  and not with another one.
- **mechanism** (25%): a cancer gene drives its hallmarks of cancer (cue phrases of
  :data:`~mediswift_np.data.world.HALLMARK_CUES`); silencing it reverses them; one
  methods sentence of the kind HoC labels ``empty``.
- **review** (15%): a disease, its biomarker, its drugs and genes (for cancers, the
  hallmark names), stated plainly.

Documents are 45-130 Moses tokens (about 80 on average). Entities and phrasings recur
often, so the text is very predictable: on held-out documents a smoothed bigram model
needs under half the unigram entropy (tests/test_synthetic.py), the kind of structure a
tiny GPT picks up within a few hundred steps.
The matching tasks are in :mod:`~mediswift_np.data.synthetic_tasks`
(:func:`synthetic_pubmedqa`, :func:`synthetic_hoc`, re-exported here).

Does not handle: realism beyond the templates (the text is formulaic on purpose).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_text
from .phrases import (
    SIGNIFICANT_P,
    cap,
    effect_sentence,
    methods_sentence,
    p_not_significant,
    pick,
    question_sentence,
    trial_methods,
)
from .closed_book import profile_documents
from .synthetic_tasks import synthetic_hoc, synthetic_pubmedqa, write_synthetic_hoc, write_synthetic_pubmedqa
from .world import HALLMARK_CUES, Gene, World, default_world

DOC_KINDS = ("trial", "association", "mechanism", "review")
DOC_WEIGHTS = (0.40, 0.20, 0.25, 0.15)


# ----------------------------------------------------------------------------- trials


def trial_document(rng: np.random.Generator, world: World) -> str:
    drug = pick(rng, world.drugs)
    off_label = rng.random() < 0.25
    disease = pick(rng, [d for d in world.diseases if d != drug.disease]) if off_label else drug.disease
    other = pick(rng, [m for d, m in world.biomarker.items() if m != drug.target])
    background = pick(rng, (
        f"{cap(disease)} is characterized by elevated {world.biomarker[disease]}.",
        f"Patients with {disease} often have high {world.biomarker[disease]} and poor outcomes.",
        f"{cap(world.biomarker[disease])} is a key marker of disease activity in {disease}.",
    ))
    rationale = pick(rng, (
        f"{cap(drug.name)} is {drug.a_class} that lowers {drug.target}.",
        f"We asked whether {drug.name}, {drug.a_class}, reduces {drug.target} in patients with {disease}.",
        f"{cap(drug.name)}, {drug.a_class}, was developed to lower {drug.target}.",
        question_sentence(rng, drug.name, drug.target, disease),
    ))
    primary = effect_sentence(rng, drug.name, drug.target, "mixed" if off_label else "reduced")
    secondary = effect_sentence(rng, drug.name, other, "unchanged")
    safety = pick(rng, (
        f"The most common adverse event was {drug.adverse_event}.",
        f"{cap(drug.adverse_event)} occurred more often with {drug.name} than with placebo.",
    ))
    if off_label:
        conclusion = pick(rng, (
            f"The benefit of {drug.name} in {disease} remains uncertain, and larger trials are needed.",
            f"Evidence for {drug.name} outside {drug.disease} is inconclusive.",
        ))
    else:
        conclusion = pick(rng, (
            f"{cap(drug.name)} lowers {drug.target} and is effective in patients with {disease}.",
            f"These results support {drug.name} for the treatment of {disease}.",
            f"In {disease}, {drug.name} reduced {drug.target} without changing {other}.",
        ))
    sentences = [background, rationale, trial_methods(rng, drug, disease), primary, secondary, safety, conclusion]
    return " ".join(cap(s) for s in sentences)


# ----------------------------------------------------------------------------- genes


def association_document(rng: np.random.Generator, world: World) -> str:
    gene = pick(rng, world.genes)
    other = pick(rng, [d for d in world.diseases if d != gene.disease])
    n, odds = int(rng.integers(300, 9000)), rng.uniform(1.3, 2.8)
    sentences = [
        pick(rng, (
            f"Genetic factors contribute to the risk of {gene.disease}.",
            f"The genetic basis of {gene.disease} is incompletely understood.",
        )),
        pick(rng, (
            f"We genotyped {n} participants for common variants in {gene.symbol}.",
            f"This case-control study of {n} individuals examined variants of the {gene.symbol} gene.",
        )),
        pick(rng, (
            f"Variants in {gene.symbol} were significantly associated with {gene.disease} (odds ratio {odds:.2f}; {pick(rng, SIGNIFICANT_P)}).",
            f"Carriers of the {gene.symbol} risk allele had a higher risk of {gene.disease} (odds ratio {odds:.2f}).",
        )),
        pick(rng, (
            f"Carriers also had higher {world.biomarker[gene.disease]}.",
            f"The risk allele was linked to elevated {world.biomarker[gene.disease]}.",
        )),
        pick(rng, (
            f"No association was found between {gene.symbol} and {other} ({p_not_significant(rng)}).",
            f"In contrast, {gene.symbol} variants were not associated with {other}.",
        )),
        pick(rng, (
            f"{gene.symbol} is a susceptibility gene for {gene.disease}.",
            f"These findings link {gene.symbol} to {gene.disease}.",
        )),
    ]
    return " ".join(cap(s) for s in sentences)


def mechanism_document(rng: np.random.Generator, world: World) -> str:
    gene = pick(rng, [g for g in world.genes if g.hallmarks])
    cues = [pick(rng, HALLMARK_CUES[h]) for h in gene.hallmarks]
    does = " and ".join(cues)
    sentences = [
        pick(rng, (
            f"{gene.symbol} is frequently overexpressed in {gene.disease}.",
            f"High {gene.symbol} expression predicts poor survival in {gene.disease}.",
            f"The role of {gene.symbol} in {gene.disease} is unclear.",
        )),
        pick(rng, (
            f"We silenced {gene.symbol} in {gene.disease} cell lines and xenograft models.",
            f"Using knockdown and overexpression experiments, we studied {gene.symbol} in {gene.disease} cells.",
        )),
        methods_sentence(rng, world, gene.disease),
        pick(rng, (
            f"{gene.symbol} {does} in {gene.disease} cells.",
            f"We found that {gene.symbol} {does}.",
            f"Overexpression of {gene.symbol} {does}.",
        )),
        pick(rng, (
            f"Silencing {gene.symbol} reversed these effects.",
            f"Loss of {gene.symbol} reversed these effects and slowed tumor growth.",
        )),
        pick(rng, (
            f"{gene.symbol} may be a therapeutic target in {gene.disease}.",
            f"Targeting {gene.symbol} could benefit patients with {gene.disease}.",
        )),
    ]
    return " ".join(cap(s) for s in sentences)


def gene_hallmark_sentence(gene: Gene) -> str:
    names = " and ".join(gene.hallmarks)
    return f"{gene.symbol} contributes to {names}, a hallmark of cancer."


def review_document(rng: np.random.Generator, world: World) -> str:
    disease = pick(rng, world.diseases)
    marker = world.biomarker[disease]
    drugs, genes = world.drugs_for(disease), world.genes_for(disease)
    sentences = [
        pick(rng, (f"{disease} is characterized by elevated {marker}.", f"In {disease}, {marker} is typically elevated.")),
        *(f"{d.name} is {d.a_class} that lowers {marker} in {disease}." for d in drugs),
        f"Genes associated with {disease} include {' and '.join(g.symbol for g in genes)}.",
    ]
    sentences += [gene_hallmark_sentence(g) for g in genes if g.hallmarks]
    sentences.append(pick(rng, (
        f"Monitoring {marker} helps to guide treatment of {disease}.",
        f"This review summarizes current evidence on {disease}.",
    )))
    return " ".join(cap(s) for s in sentences)


_WRITERS = {"trial": trial_document, "association": association_document,
            "mechanism": mechanism_document, "review": review_document}


def synthetic_corpus(n_docs: int, seed: int, profiles_per_drug: int = 0) -> list[str]:
    """``n_docs`` abstract-like documents about the fixed world, deterministic in ``seed``.

    ``profiles_per_drug`` = K adds K drug profiles (closed_book.py) of each of the 360
    catalogue drugs, shuffled in among the abstracts: the facts that the closed-book
    PubMedQA task asks about.

    Example:
        >>> docs = synthetic_corpus(3, seed=0)
        >>> len(docs), docs == synthetic_corpus(3, seed=0)
        (3, True)
    """
    if n_docs < 0 or profiles_per_drug < 0:
        raise UserError(f"numbers of documents must be >= 0, got {n_docs} and {profiles_per_drug} profiles per drug")
    rng = np.random.default_rng(seed)
    world = default_world()
    kinds = rng.choice(len(DOC_KINDS), size=n_docs, p=DOC_WEIGHTS)
    docs = [_WRITERS[DOC_KINDS[int(k)]](rng, world) for k in kinds]
    if profiles_per_drug:  # its own generator, so the abstracts are the same with or without profiles
        profile_rng = np.random.default_rng([seed, 5])
        docs += profile_documents(world, profiles_per_drug, profile_rng)
        docs = [docs[int(i)] for i in profile_rng.permutation(len(docs))]
    return docs


def write_synthetic_corpus(path: str | os.PathLike, n_docs: int, seed: int) -> Path:
    """Write :func:`synthetic_corpus` as JSON lines (``{"text": ...}``), atomically."""
    lines = "".join(json.dumps({"text": doc}, ensure_ascii=False) + "\n" for doc in synthetic_corpus(n_docs, seed))
    return atomic_write_text(path, lines)


__all__ = [
    "synthetic_corpus",
    "synthetic_hoc",
    "synthetic_pubmedqa",
    "write_synthetic_corpus",
    "write_synthetic_hoc",
    "write_synthetic_pubmedqa",
]
