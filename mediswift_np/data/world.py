"""The fixed "world" behind the synthetic biomedical corpus and tasks.

Every synthetic document, PubMedQA-style question and HoC-style sentence is written
about one small, consistent set of facts, built once from :data:`WORLD_SEED`:

- each **disease** has a characteristic **biomarker** that is elevated in it
  (type 2 diabetes -> HbA1c, prostate cancer -> PSA, ...);
- each invented **drug** belongs to a class (its name ends in the class stem, as real
  INN names do: ``-tinib`` kinase inhibitors, ``-mab`` antibodies, ...), is indicated
  for one disease and works by lowering that disease's biomarker; it does not change
  the other biomarkers; it has one common adverse event;
- each invented **gene** is associated with one disease (and not with the others), and
  each gene linked to a cancer drives one or two **hallmarks of cancer** (Hanahan &
  Weinberg), described by the cue phrases of :data:`HALLMARK_CUES`.

Beside these, the world has a **catalogue** of :data:`CATALOGUE_PER_DISEASE` × 12 = 360
further invented drugs for the closed-book task (data/closed_book.py). Each was developed
for one disease (30 per disease) and tested against that disease's biomarker; its trial
found the biomarker reduced, unchanged or mixed (17 / 10 / 3 drugs of every disease).
Their class (and so their name's stem) is drawn independently of all that, so nothing in
a catalogue drug's name tells what it does: only text stating its facts does.

Documents and tasks sample from this world with their own seeds, so a model pre-trained
on the corpus has seen the facts that the task answers depend on. Disease and biomarker
names are real terms; drug and gene names are made up, and so are all facts.

Does not handle: anything beyond these relations (no dosing, pharmacokinetics,
interactions); it is a teaching world, not medical knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

WORLD_SEED = 2403_00952  # the paper's arXiv number

# (disease, biomarker elevated in it, is it a cancer)
DISEASES = (
    ("type 2 diabetes", "HbA1c", False),
    ("hypertension", "systolic blood pressure", False),
    ("chronic kidney disease", "serum creatinine", False),
    ("rheumatoid arthritis", "C-reactive protein", False),
    ("heart failure", "NT-proBNP", False),
    ("hypercholesterolemia", "LDL cholesterol", False),
    ("gout", "serum uric acid", False),
    ("colorectal cancer", "CEA", True),
    ("prostate cancer", "PSA", True),
    ("ovarian cancer", "CA-125", True),
    ("hepatocellular carcinoma", "alpha-fetoprotein", True),
    ("breast cancer", "CA 15-3", True),
)

# drug class -> INN-like name stem
DRUG_CLASSES = {
    "kinase inhibitor": "tinib",
    "monoclonal antibody": "zumab",
    "SGLT2 inhibitor": "gliflozin",
    "receptor antagonist": "sartan",
    "enzyme inhibitor": "stat",
    "PARP inhibitor": "parib",
}
CLASS_ARTICLE = {"SGLT2 inhibitor": "an", "enzyme inhibitor": "an"}  # by sound: "an ess-gee-ell-tee"
CANCER_CLASSES = ("kinase inhibitor", "monoclonal antibody", "PARP inhibitor")
OTHER_CLASSES = ("monoclonal antibody", "SGLT2 inhibitor", "receptor antagonist", "enzyme inhibitor")

ADVERSE_EVENTS = ("nausea", "headache", "fatigue", "diarrhea", "rash", "dizziness", "anemia", "elevated liver enzymes")

# The ten hallmark labels exactly as spelled in the HoC label set, with cue phrases
# (verb phrases with a gene as subject) that signal each of them.
HALLMARK_CUES = {
    "sustaining proliferative signaling": (
        "drives cell proliferation", "activates growth factor signaling",
        "enhances EGFR signaling", "stimulates mitogenic signaling through the MAPK pathway"),
    "evading growth suppressors": (
        "inactivates the retinoblastoma protein", "bypasses p53-mediated growth arrest",
        "overrides contact inhibition", "silences the tumor suppressor p16"),
    "resisting cell death": (
        "inhibits apoptosis", "protects cells from apoptotic death",
        "upregulates BCL-2", "blocks caspase activation"),
    "enabling replicative immortality": (
        "increases telomerase activity", "maintains telomere length",
        "prevents replicative senescence"),
    "inducing angiogenesis": (
        "promotes angiogenesis", "increases VEGF secretion", "stimulates new blood vessel formation"),
    "activating invasion and metastasis": (
        "promotes invasion and metastasis", "induces epithelial-mesenchymal transition",
        "enhances cell migration", "increases MMP-9 expression"),
    "genomic instability and mutation": (
        "causes DNA damage", "impairs DNA repair", "increases the mutation rate",
        "induces chromosomal instability"),
    "tumor promoting inflammation": (
        "increases IL-6 production", "activates NF-kappaB signaling",
        "recruits inflammatory macrophages", "promotes chronic inflammation"),
    "cellular energetics": (
        "enhances aerobic glycolysis", "shifts metabolism toward glycolysis",
        "increases glucose uptake", "reprograms energy metabolism"),
    "avoiding immune destruction": (
        "suppresses T cell responses", "upregulates PD-L1",
        "helps tumor cells escape immune surveillance", "impairs natural killer cell activity"),
}
HALLMARKS = tuple(HALLMARK_CUES)


@dataclass(frozen=True)
class Drug:
    name: str
    drug_class: str
    disease: str  # its indication
    target: str  # the biomarker it lowers
    adverse_event: str
    outcome: str = "reduced"  # catalogue drugs: what its trial showed for ``target`` (OUTCOMES); the others lower it

    @property
    def a_class(self) -> str:
        """The class with its indefinite article: ``"an enzyme inhibitor"``."""
        return f"{CLASS_ARTICLE.get(self.drug_class, 'a')} {self.drug_class}"


@dataclass(frozen=True)
class Gene:
    symbol: str
    disease: str  # the one disease it is associated with
    hallmarks: tuple[str, ...]  # empty unless the disease is a cancer


@dataclass(frozen=True)
class World:
    diseases: tuple[str, ...]
    biomarker: dict  # disease -> biomarker elevated in it
    cancers: tuple[str, ...]
    drugs: tuple[Drug, ...]
    genes: tuple[Gene, ...]
    catalogue: tuple[Drug, ...] = ()  # the closed-book drugs (see build_catalogue)

    def drugs_for(self, disease: str) -> list[Drug]:
        return [d for d in self.drugs if d.disease == disease]

    def genes_for(self, disease: str) -> list[Gene]:
        return [g for g in self.genes if g.disease == disease]


_SYLLABLES = ("vel", "zor", "tam", "lix", "quen", "dor", "mav", "sel", "ral", "fen", "bex", "cor", "nid", "pax", "tor", "ux")
_VOWELS = ("a", "i", "o", "e", "u")
_GENE_LETTERS = "ABCDEFGHKLMNPRSTVWXZ"


def _drug_name(rng: np.random.Generator, syllable: str, stem: str, taken: set[str]) -> str:
    while True:
        name = syllable + str(rng.choice(_VOWELS)) + stem
        if name not in taken:
            taken.add(name)
            return name
        syllable = str(rng.choice(_SYLLABLES))


def _gene_symbol(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        letters = "".join(str(c) for c in rng.choice(list(_GENE_LETTERS), size=int(rng.integers(3, 5))))
        symbol = f"{letters}{int(rng.integers(1, 10))}"
        if symbol not in taken:
            taken.add(symbol)
            return symbol


def build_world(seed: int = WORLD_SEED) -> World:
    """Draw drugs (two per disease) and genes (two per disease) for the fixed diseases.

    Example:
        >>> w = build_world()
        >>> d = w.drugs[0]; d.target == w.biomarker[d.disease]
        True
    """
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    drugs, genes = [], []
    syllables = [_SYLLABLES[int(i)] for i in rng.permutation(len(_SYLLABLES))]  # distinct names first
    for disease, marker, is_cancer in DISEASES:
        classes = CANCER_CLASSES if is_cancer else OTHER_CLASSES
        for k in rng.choice(len(classes), size=2, replace=False):
            cls = classes[int(k)]
            event = str(rng.choice(ADVERSE_EVENTS))
            syllable = syllables[len(drugs) % len(syllables)]
            drugs.append(Drug(_drug_name(rng, syllable, DRUG_CLASSES[cls], taken), cls, disease, marker, event))
    hallmark_cycle = list(rng.permutation(len(HALLMARKS)))
    for disease, _, is_cancer in DISEASES:
        for _ in range(2):
            hallmarks: tuple[str, ...] = ()
            if is_cancer:
                first = HALLMARKS[int(hallmark_cycle.pop(0))] if hallmark_cycle else HALLMARKS[int(rng.integers(10))]
                second = HALLMARKS[int(rng.integers(len(HALLMARKS)))]
                hallmarks = (first,) if rng.random() < 0.5 or second == first else (first, second)
            genes.append(Gene(_gene_symbol(rng, taken), disease, hallmarks))
    return World(
        diseases=tuple(d for d, _, _ in DISEASES),
        biomarker={d: m for d, m, _ in DISEASES},
        cancers=tuple(d for d, _, c in DISEASES if c),
        drugs=tuple(drugs),
        genes=tuple(genes),
        catalogue=build_catalogue(np.random.default_rng([seed, 1]), taken),
    )


CATALOGUE_PER_DISEASE = 30
OUTCOMES = ("reduced", "unchanged", "mixed")  # a catalogue drug's pivotal trial: the PubMedQA answers yes / no / maybe
OUTCOMES_PER_DISEASE = (17, 10, 3)  # of 30: PQA-L's 55% yes, 34% no, 11% maybe, the same for every disease


def build_catalogue(rng: np.random.Generator, taken: set[str], per_disease: int = CATALOGUE_PER_DISEASE) -> tuple[Drug, ...]:
    """``per_disease`` drugs developed for each disease, with their trial outcomes, in random order.

    Every disease has the same number of drugs of each outcome, so the disease says
    nothing about the outcome. Nothing in a name depends on the drug's facts either:
    the class (name stem) is uniform over all classes, the two syllables are random.
    """
    counts = [round(k * per_disease / sum(OUTCOMES_PER_DISEASE)) for k in OUTCOMES_PER_DISEASE]
    counts[0] = per_disease - sum(counts[1:])
    facts = [(d, o) for d in range(len(DISEASES)) for o, k in enumerate(counts) for _ in range(k)]
    classes = tuple(DRUG_CLASSES)
    drugs = []
    for i in rng.permutation(len(facts)):
        d, o = facts[int(i)]
        cls = classes[int(rng.integers(len(classes)))]
        while True:
            name = f"{rng.choice(_SYLLABLES)}{rng.choice(_SYLLABLES)}{rng.choice(_VOWELS)}{DRUG_CLASSES[cls]}"
            if name not in taken:
                taken.add(name)
                break
        disease, marker, _ = DISEASES[d]
        drugs.append(Drug(name, cls, disease, marker, str(rng.choice(ADVERSE_EVENTS)), OUTCOMES[o]))
    return tuple(drugs)


@lru_cache(maxsize=1)
def default_world() -> World:
    """The world all synthetic data is written about (built from :data:`WORLD_SEED`)."""
    return build_world(WORLD_SEED)
