"""Leak-free synthetic splits and a closed-book task that only pre-trained knowledge can answer.

- No question (PubMedQA) or sentence (HoC) is in two splits; no PMID either.
- Closed book: the test questions are about catalogue drugs that occur in no training
  or validation question, and the pre-training corpus states their facts but never
  asks a test question.
- No shortcut: a classifier that sees everything except the drug's identity -- the
  disease, biomarker, template, class stem, numbers, every other word -- stays at the
  majority baseline on the closed-book test split, while the same classifier scores far
  above it when the results sentence is in the context (so the check has power).
- ``python -m mediswift_np.tasks make`` writes exactly the splits the loaders read.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import numpy as np
import pytest

from mediswift_np.data import synthetic_corpus
from mediswift_np.data.closed_book import OUTCOME_FIRST, OUTCOME_WORDINGS, SPLITS, profile_document, split_catalogue
from mediswift_np.data.synthetic_tasks import synthetic_hoc_splits, synthetic_pubmedqa_splits
from mediswift_np.data.world import DRUG_CLASSES, OUTCOMES, default_world
from mediswift_np.tasks import stages
from mediswift_np.tasks.__main__ import main as tasks_main

WORLD = default_world()
SIZES = (600, 100, 400)


def drug_of(question: str) -> str:
    return re.search(r"(?:does|is|can) (?:treatment with )?(\w+)", question).group(1)


# ----------------------------------------------------------------------------- the catalogue


def test_catalogue_facts_are_balanced_and_names_carry_no_facts():
    cat = WORLD.catalogue
    assert len(cat) == 360 and len({d.name for d in cat}) == 360
    assert not {d.name for d in cat} & ({d.name for d in WORLD.drugs} | {g.symbol for g in WORLD.genes})
    assert all(d.target == WORLD.biomarker[d.disease] for d in cat)
    # every disease has the same outcomes: 17 reduced, 10 unchanged, 3 mixed (PQA-L's yes/no/maybe shares)
    assert Counter((d.disease, d.outcome) for d in cat) == {(dis, o): k for dis in WORLD.diseases
                                                           for o, k in zip(OUTCOMES, (17, 10, 3))}  # fmt: skip
    # the class stem says nothing about the outcome or the disease: each stem occurs with (almost) all of them
    for cls, stem in DRUG_CLASSES.items():
        drugs = [d for d in cat if d.drug_class == cls]
        assert all(d.name.endswith(stem) for d in drugs)
        assert len({d.disease for d in drugs}) >= 10 and {d.outcome for d in drugs} == set(OUTCOMES), cls


def test_split_catalogue_is_disjoint_and_stratified():
    parts = split_catalogue(WORLD, seed=3)
    names = [{d.name for d in parts[k]} for k in SPLITS]
    assert sum(map(len, names)) == 360 and set().union(*names) == {d.name for d in WORLD.catalogue}
    for k in SPLITS:  # within every split, each disease has the same outcomes
        per_disease = {dis: Counter(d.outcome for d in parts[k] if d.disease == dis) for dis in WORLD.diseases}
        assert len({tuple(sorted(c.items())) for c in per_disease.values()}) == 1, (k, per_disease)
    assert [len(parts[k]) for k in SPLITS] == [204, 48, 108]
    assert split_catalogue(WORLD, seed=3) == parts and split_catalogue(WORLD, seed=4) != parts


def test_profiles_state_the_facts_in_varied_orders_and_wordings():
    rng = np.random.default_rng(0)
    drug = WORLD.catalogue[0]
    docs = [profile_document(rng, WORLD, drug) for _ in range(20)]
    assert len(set(docs)) == 20
    for doc in docs:
        assert drug.disease in doc and drug.target in doc and drug.adverse_event in doc
        assert drug.name.capitalize() not in doc  # always lower case, as inside a question
        stated = [o for o in OUTCOMES if any(w.format(x=drug.name, m=drug.target, d=drug.disease).lower() in doc.lower()
                                             for w in OUTCOME_WORDINGS[o] + OUTCOME_FIRST[o])]  # fmt: skip
        assert stated == [drug.outcome]
    first_sentences = {doc.split(". ")[0].split(", ", 1)[-1] for doc in docs}
    assert len(first_sentences) > 5  # facts come in different orders and wordings


# ----------------------------------------------------------------------------- leak-free splits


@pytest.mark.parametrize("evidence", ["context", "knowledge"])
def test_pubmedqa_splits_share_no_question_pmid_or_drug(evidence):
    parts = synthetic_pubmedqa_splits(SIZES, seed=1, evidence=evidence)
    assert [len(p) for p in parts] == list(SIZES)
    questions = [[r["QUESTION"] for r in p.values()] for p in parts]
    assert sum(map(len, questions)) == len(set().union(*map(set, questions)))  # no question twice, anywhere
    assert sum(map(len, parts)) == len(set().union(*map(set, parts)))  # no PMID twice
    drugs = [{drug_of(q) for q in qs} for qs in questions]
    assert not drugs[0] & drugs[2] and not drugs[1] & drugs[2] and not drugs[0] & drugs[1]
    fine_tuning_text = " ".join(" ".join([r["QUESTION"], *r["CONTEXTS"]]) for p in parts[:2] for r in p.values())
    assert not any(name in fine_tuning_text for name in drugs[2])  # a test drug never occurs in fine-tuning text
    for p, n in zip(parts, SIZES):
        counts = Counter(r["final_decision"] for r in p.values())
        assert sum(counts.values()) == n and counts["maybe"] > 0


def test_hoc_splits_share_no_sentence():
    parts = synthetic_hoc_splits((2000, 300, 1000), seed=2)
    texts = [[t for t, _ in p] for p in parts]
    assert sum(map(len, texts)) == len(set().union(*map(set, texts))) == 3300


def test_pretraining_corpus_states_test_facts_but_never_asks_test_questions():
    _, _, test = synthetic_pubmedqa_splits((60, 20, 60), seed=0, evidence="knowledge")
    corpus = synthetic_corpus(200, seed=0, profiles_per_drug=2)
    text = "\n".join(corpus)
    for record in test.values():
        assert record["QUESTION"] not in text
        assert drug_of(record["QUESTION"]) in text  # its facts are there to learn
    # the abstracts are those of the corpus without profiles (profiles have their own generator), shuffled in
    abstracts = synthetic_corpus(200, seed=0)
    assert len(corpus) == 200 + 2 * 360 and sorted(d for d in corpus if d in set(abstracts)) == sorted(abstracts)


# ----------------------------------------------------------------------------- no shortcut


def masked_words(record: dict) -> list[str]:
    """Every word of question + contexts except the drug's name (its identity)."""
    name = drug_of(record["QUESTION"])
    text = " ".join([record["QUESTION"], *record["CONTEXTS"]]).replace(name, "DRUG").lower()
    return re.findall(r"[a-z0-9\-]+", text)


def naive_bayes_accuracy(train: dict, test: dict) -> tuple[float, float]:
    """(accuracy, majority accuracy) of a multinomial naive Bayes on word counts (add-one smoothing)."""
    labels = ("yes", "no", "maybe")
    vocab = sorted({w for r in train.values() for w in masked_words(r)})
    index = {w: i for i, w in enumerate(vocab)}
    counts = np.ones((3, len(vocab)))
    prior = np.zeros(3)
    for r in train.values():
        k = labels.index(r["final_decision"])
        prior[k] += 1
        for w in masked_words(r):
            counts[k, index[w]] += 1
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    log_prior = np.log(prior / prior.sum())
    correct = 0
    for r in test.values():
        ids = [index[w] for w in masked_words(r) if w in index]
        correct += labels[int(np.argmax(log_prior + log_p[:, ids].sum(axis=1)))] == r["final_decision"]
    majority = Counter(r["final_decision"] for r in test.values()).most_common(1)[0][1] / len(test)
    return correct / len(test), majority


def test_closed_book_has_no_shortcut_but_the_open_book_does():
    train, _, test = synthetic_pubmedqa_splits((800, 10, 400), seed=5, evidence="knowledge")
    acc, majority = naive_bayes_accuracy(train, test)
    se = math.sqrt(majority * (1 - majority) / len(test))
    assert acc <= majority + 2 * se, (acc, majority)
    # the same classifier reads the answer off the results sentence when it is there
    train, _, test = synthetic_pubmedqa_splits((800, 10, 400), seed=5, evidence="context")
    acc_open, _ = naive_bayes_accuracy(train, test)
    assert acc_open > 0.95


def test_disease_is_independent_of_the_answer():
    """P(disease | answer) is uniform for every answer: a chi-square test does not reject it."""
    train, _, test = synthetic_pubmedqa_splits((800, 10, 400), seed=6, evidence="knowledge")
    table = np.zeros((3, len(WORLD.diseases)))
    for r in [*train.values(), *test.values()]:
        (d,) = [i for i, dis in enumerate(WORLD.diseases) if re.match(rf"In (?:patients with |adults with )?{dis},", r["QUESTION"])]
        table[("yes", "no", "maybe").index(r["final_decision"]), d] += 1
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    dof = 2 * (len(WORLD.diseases) - 1)
    assert chi2 < dof + 3.5 * math.sqrt(2 * dof), chi2  # about the 99.9% quantile of chi2(22)


def test_logistic_regression_finds_no_shortcut_either():
    linear_model = pytest.importorskip("sklearn.linear_model")
    feature_extraction = pytest.importorskip("sklearn.feature_extraction.text")
    train, _, test = synthetic_pubmedqa_splits((800, 10, 400), seed=7, evidence="knowledge")
    vec = feature_extraction.CountVectorizer(analyzer=masked_words, ngram_range=(1, 1))
    x_train = vec.fit_transform(list(train.values()))
    clf = linear_model.LogisticRegression(max_iter=2000).fit(x_train, [r["final_decision"] for r in train.values()])
    acc = clf.score(vec.transform(list(test.values())), [r["final_decision"] for r in test.values()])
    majority = Counter(r["final_decision"] for r in test.values()).most_common(1)[0][1] / len(test)
    assert acc <= majority + 2 * math.sqrt(majority * (1 - majority) / len(test)), (acc, majority)


# ----------------------------------------------------------------------------- tasks make


def test_tasks_make_writes_what_the_loaders_read(tmp_path, capsys):
    out = tmp_path / "pq"
    assert tasks_main(["make", "--task", "pubmedqa", "--evidence", "knowledge", "--seed", "3", "--out", str(out),
                       "--n-train", "60", "--n-val", "20", "--n-test", "40", "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["files"] == ["dev.json", "test.json", "test_ground_truth.json", "train.json"]
    train, val, test = synthetic_pubmedqa_splits((60, 20, 40), seed=3, evidence="knowledge")
    assert json.loads((out / "train.json").read_text()) == train and json.loads((out / "dev.json").read_text()) == val
    assert json.loads((out / "test_ground_truth.json").read_text()) == {k: r["final_decision"] for k, r in test.items()}
    (stage,) = stages.load_stages("pubmedqa", [str(out)])
    assert [ex.key for ex in stage.train] == list(train) and [ex.key for ex in stage.val] == list(val)
    assert [(ex.key, ex.label) for ex in stage.test] == [(k, r["final_decision"]) for k, r in test.items()]
    (synthetic,) = stages.load_stages("pubmedqa", [], synthetic_sizes=(60, 20, 40), synthetic_evidence="knowledge", seed=3)
    assert [ex.source for ex in synthetic.test] == [ex.source for ex in stage.test]  # the in-memory task is the same

    out = tmp_path / "hoc"
    assert tasks_main(["make", "--task", "hoc", "--seed", "4", "--out", str(out), "--n-train", "80", "--n-val", "20", "--n-test", "30"]) == 0
    (stage,) = stages.load_stages("hoc", [str(out)])
    parts = synthetic_hoc_splits((80, 20, 30), seed=4)
    for split, part in zip((stage.train, stage.val, stage.test), parts):
        assert [(ex.source.rstrip("."), ex.label) for ex in split] == [(t.rstrip("."), "|".join(labels)) for t, labels in part]


def test_tasks_make_refuses_bad_requests_with_one_line(tmp_path, capsys):
    from mediswift_np.errors import run_cli

    for argv in (["make", "--task", "hoc", "--evidence", "knowledge", "--out", str(tmp_path / "a")],
                 ["make", "--task", "pubmedqa", "--n-test", "0", "--out", str(tmp_path / "b")],
                 ["make", "--task", "pubmedqa", "--n-train", "100000", "--out", str(tmp_path / "c")]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            run_cli(tasks_main, argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
    assert not list(tmp_path.iterdir())  # nothing half-written
