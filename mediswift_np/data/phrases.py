"""Shared phrasing for the synthetic corpus and tasks: sentence templates and small helpers.

The same results sentences appear in pre-training documents and in PubMedQA-style
contexts, so that a model learns during pre-training what "significantly reduced",
"no significant difference" and "inconclusive" mean for the answer.

Does not handle: anything but English templates.
"""

from __future__ import annotations

import numpy as np

from .world import Drug, World

SIGNIFICANT_P = ("p < 0.001", "p < 0.01", "p = 0.002", "p = 0.004", "p = 0.01", "p = 0.02")


def pick(rng: np.random.Generator, options):
    """One element of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


def p_not_significant(rng: np.random.Generator) -> str:
    return f"p = 0.{int(rng.integers(21, 95)):02d}"


def cap(sentence: str) -> str:
    """Capitalise the first letter only (keeps gene symbols such as ``HbA1c`` intact)."""
    return sentence[:1].upper() + sentence[1:]


def trial_methods(rng: np.random.Generator, drug: Drug, disease: str) -> str:
    n, dose, weeks = int(rng.integers(40, 600)), pick(rng, (5, 10, 20, 25, 50, 100, 200)), pick(rng, (8, 12, 24, 26, 52))
    return pick(rng, (
        f"We randomized {n} patients with {disease} to {drug.name} {dose} mg daily or placebo for {weeks} weeks.",
        f"In this double-blind trial, {n} adults with {disease} received {drug.name} ({dose} mg) or placebo for {weeks} weeks.",
        f"A total of {n} patients with {disease} were assigned to {drug.name} or placebo and followed for {weeks} weeks.",
    ))


def effect_sentence(rng: np.random.Generator, drug: str, marker: str, outcome: str) -> str:
    """A results sentence whose wording states ``outcome``: 'reduced', 'unchanged' or 'mixed'."""
    if outcome == "reduced":
        drop, placebo = int(rng.integers(15, 46)), int(rng.integers(1, 9))
        return pick(rng, (
            f"{drug} significantly reduced {marker} compared with placebo (-{drop}% vs -{placebo}%; {pick(rng, SIGNIFICANT_P)}).",
            f"{cap(marker)} was significantly lower with {drug} than with placebo ({pick(rng, SIGNIFICANT_P)}).",
            f"Treatment with {drug} produced a significant reduction in {marker} ({pick(rng, SIGNIFICANT_P)}).",
        ))
    if outcome == "unchanged":
        return pick(rng, (
            f"There was no significant difference in {marker} between the {drug} and placebo groups ({p_not_significant(rng)}).",
            f"{drug} did not significantly change {marker} compared with placebo ({p_not_significant(rng)}).",
            f"{cap(marker)} was similar in both groups, with no significant effect of {drug} ({p_not_significant(rng)}).",
        ))
    return pick(rng, (
        f"Results for {marker} were inconclusive: it decreased in some patients but not in others ({p_not_significant(rng)}).",
        f"The effect of {drug} on {marker} was mixed, with a reduction in a subgroup only ({p_not_significant(rng)}).",
        f"Changes in {marker} with {drug} were inconsistent across visits, and the evidence remained inconclusive.",
    ))


def question_sentence(rng: np.random.Generator, drug: str, marker: str, disease: str) -> str:
    """A yes/no research question: in ``disease``, does ``drug`` lower ``marker``?

    The disease comes first and the drug second, the order in which the corpus states
    whether a drug works in a disease ("In gout, X lowers serum uric acid").
    """
    return pick(rng, (
        f"In patients with {disease}, does {drug} reduce {marker}?",
        f"In {disease}, is {drug} effective at lowering {marker}?",
        f"In adults with {disease}, can {drug} lower {marker} levels?",
        f"In {disease}, does treatment with {drug} decrease {marker}?",
    ))


def methods_sentence(rng: np.random.Generator, world: World, cancer: str) -> str:
    """A background/methods sentence about ``cancer`` that states no hallmark (HoC's ``empty``)."""
    gene = pick(rng, [g for g in world.genes if g.disease == cancer])
    drug = pick(rng, world.drugs_for(cancer))
    n = int(rng.integers(20, 400))
    return pick(rng, (
        f"{cap(cancer)} is a common malignancy with a poor prognosis.",
        f"Tumor samples were obtained from {n} patients with {cancer}.",
        f"{gene.symbol} expression was measured by quantitative PCR in {n} tumors.",
        f"Patients were followed for a median of {int(rng.integers(12, 80))} months.",
        f"{cap(drug.name)} was administered at {pick(rng, (5, 10, 20, 40))} mg/kg twice weekly.",
        "Statistical significance was assessed with the Student t test.",
        f"{gene.symbol} is located on chromosome {int(rng.integers(1, 23))}.",
        "Clinical data were collected from medical records.",
        "The study was approved by the local ethics committee.",
        f"{int(rng.integers(2, 7))} {cancer} cell lines were cultured in standard medium.",
        f"Serum {world.biomarker[cancer]} was measured at baseline.",
    ))
