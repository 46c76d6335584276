"""The synthetic world, corpus and tasks: deterministic, consistent, in the real schemas, learnable."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from mediswift_np.data import (
    read_corpus,
    synthetic_corpus,
    synthetic_hoc,
    synthetic_pubmedqa,
    token_stream,
    write_synthetic_corpus,
    write_synthetic_hoc,
    write_synthetic_pubmedqa,
)
from mediswift_np.data.synthetic_tasks import ANSWER_SHARES, exact_counts
from mediswift_np.data.world import HALLMARK_CUES, HALLMARKS, build_world, default_world
from mediswift_np.tokenizer import Tokenizer, moses_tokenize

WORLD = default_world()
PQA_KEYS = ["QUESTION", "CONTEXTS", "LABELS", "MESHES", "YEAR", "reasoning_required_pred",
            "reasoning_free_pred", "final_decision", "LONG_ANSWER"]
REDUCED = re.compile(r"significantly reduced|significantly lower|significant reduction")
UNCHANGED = re.compile(r"no significant difference|did not significantly change|no significant effect")
MIXED = re.compile(r"inconclusive|mixed|inconsistent")


def test_world_is_fixed_and_consistent():
    assert build_world() == WORLD
    assert len({d.name for d in WORLD.drugs}) == len(WORLD.drugs)
    assert len({g.symbol for g in WORLD.genes}) == len(WORLD.genes)
    for drug in WORLD.drugs:
        assert drug.target == WORLD.biomarker[drug.disease]
    cancer_genes = [g for g in WORLD.genes if g.hallmarks]
    assert {g.disease for g in cancer_genes} == set(WORLD.cancers)
    assert {h for g in cancer_genes for h in g.hallmarks} == set(HALLMARKS)  # every hallmark has a gene


def test_deterministic_per_seed():
    assert synthetic_corpus(50, seed=1) == synthetic_corpus(50, seed=1)
    assert synthetic_corpus(50, seed=1) != synthetic_corpus(50, seed=2)
    assert synthetic_pubmedqa(40, seed=3) == synthetic_pubmedqa(40, seed=3)
    assert synthetic_pubmedqa(40, seed=3) != synthetic_pubmedqa(40, seed=4)
    assert synthetic_hoc(40, seed=5) == synthetic_hoc(40, seed=5)
    assert synthetic_hoc(40, seed=5) != synthetic_hoc(40, seed=6)
    assert synthetic_corpus(0, seed=0) == [] and synthetic_pubmedqa(0, seed=0) == {} and synthetic_hoc(0, seed=0) == []


def _sentences(doc: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", doc)


def test_corpus_states_only_true_facts():
    drugs = {d.name: d for d in WORLD.drugs}
    genes = {g.symbol: g for g in WORLD.genes}
    claims = Counter()
    for doc in synthetic_corpus(600, seed=8):
        for s in _sentences(doc):
            named = [drugs[w.lower()] for w in re.findall(r"[A-Za-z]+", s) if w.lower() in drugs]
            markers = [m for m in WORLD.biomarker.values() if re.search(rf"(?<![\w-]){re.escape(m)}(?![\w-])", s, re.I)]
            if named and markers and REDUCED.search(s):
                assert markers == [named[0].target], s  # a drug only ever significantly lowers its target
                claims["reduced"] += 1
            if named and markers and UNCHANGED.search(s):
                assert named[0].target not in markers, s  # "no difference" only for other biomarkers
                claims["unchanged"] += 1
            m = re.search(r"(\w+) (?:were|was) significantly associated with (.+?) \(", s)
            if m and m.group(1) in genes:
                assert genes[m.group(1)].disease == m.group(2), s
                claims["associated"] += 1
            symbols = [w for w in re.findall(r"\b[A-Z]{3,4}\d\b", s) if w in genes]
            stated = [h for h, cues in HALLMARK_CUES.items() if any(c in s for c in cues)]
            named_hallmarks = [h for h in HALLMARKS if h in s]
            if len(symbols) == 1 and (stated or named_hallmarks):
                assert set(stated + named_hallmarks) <= set(genes[symbols[0]].hallmarks), s
                claims["hallmark"] += 1
    assert min(claims.values()) > 30 and len(claims) == 4


def test_corpus_has_varied_sentence_structure():
    # Replace entity names by placeholders; many distinct sentence shapes must remain.
    names = sorted([d.name for d in WORLD.drugs] + [g.symbol for g in WORLD.genes] + list(WORLD.diseases)
                   + list(WORLD.biomarker.values()), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in names), re.I)
    shapes = {re.sub(r"\d+(\.\d+)?", "N", pattern.sub("X", s)) for doc in synthetic_corpus(500, seed=9) for s in _sentences(doc)}
    assert len(shapes) > 80


def test_corpus_is_learnable_by_a_bigram_model():
    """Held-out cross-entropy of a smoothed bigram model is far below the unigram entropy (nats/token)."""
    train_docs, held_out = synthetic_corpus(1500, seed=10), synthetic_corpus(150, seed=11)
    tok = Tokenizer.train(train_docs, 800, progress=False)
    train, val = token_stream(train_docs, tok), token_stream(held_out, tok)
    V = tok.vocab_size
    unigram = np.bincount(train, minlength=V) + 0.1
    unigram /= unigram.sum()
    h_unigram = -np.mean(np.log(unigram[val]))
    bigram = np.full((V, V), 0.01)
    np.add.at(bigram, (train[:-1], train[1:]), 1.0)
    bigram /= bigram.sum(axis=1, keepdims=True)
    h_bigram = -np.mean(np.log(bigram[val[:-1], val[1:]]))
    assert h_unigram < np.log(V)
    assert h_bigram < 0.45 * h_unigram
    assert len(train) > 100_000  # ~1500 docs give the ~300 x 16 x 64 tokens of a tiny run... in a few seconds


def test_pubmedqa_schema_and_fake_pmids():
    qa = synthetic_pubmedqa(200, seed=12)
    assert len(qa) == 200
    for pmid, record in qa.items():
        assert re.fullmatch(r"9\d{7}", pmid)
        assert list(record) == PQA_KEYS
        assert isinstance(record["QUESTION"], str) and record["QUESTION"].endswith("?")
        assert len(record["CONTEXTS"]) == len(record["LABELS"]) and all(isinstance(c, str) for c in record["CONTEXTS"])
        assert record["final_decision"] in ("yes", "no", "maybe")
        assert record["reasoning_required_pred"] == record["reasoning_free_pred"] == record["final_decision"]
        assert record["YEAR"].isdigit() and all(isinstance(m, str) for m in record["MESHES"])


def test_pubmedqa_schema_matches_the_real_file(shared_data):
    real = json.loads((shared_data / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    real_record = next(iter(real.values()))
    fake_record = next(iter(synthetic_pubmedqa(3, seed=0).values()))
    assert list(fake_record) == list(real_record)
    assert {k: type(v) for k, v in fake_record.items()} == {k: type(v) for k, v in real_record.items()}
    assert not set(real) & set(synthetic_pubmedqa(1000, seed=0))


def test_pubmedqa_answer_follows_from_context_and_world():
    drugs = {d.name: d for d in WORLD.catalogue}
    for record in synthetic_pubmedqa(400, seed=13).values():
        results = record["CONTEXTS"][-1]
        answer = {bool(REDUCED.search(results)): "yes", bool(UNCHANGED.search(results)): "no",
                  bool(MIXED.search(results)): "maybe"}.get(True)
        assert sum(bool(p.search(results)) for p in (REDUCED, UNCHANGED, MIXED)) == 1, results
        assert record["final_decision"] == answer, record
        drug = drugs[re.search(r"(?:does|is|can) (?:treatment with )?(\w+)", record["QUESTION"]).group(1)]
        (disease,) = [d for d in WORLD.diseases if re.match(rf"In (?:patients with |adults with )?{d},", record["QUESTION"])]
        assert disease == drug.disease and drug.target in record["QUESTION"]  # the drug's own disease and biomarker
        assert answer == {"reduced": "yes", "unchanged": "no", "mixed": "maybe"}[drug.outcome]


def test_pubmedqa_label_balance_like_pqa_l():
    counts = Counter(r["final_decision"] for r in synthetic_pubmedqa(1080, seed=14).values())
    assert counts == {"yes": 612, "no": 360, "maybe": 108}  # every drug 3 times: its outcome's share, 17 / 10 / 3 of 30
    assert exact_counts(7, ANSWER_SHARES) == [4, 2, 1] and sum(exact_counts(333, ANSWER_SHARES)) == 333


def test_pubmedqa_source_fits_a_tiny_context():
    lengths = [len(moses_tokenize(r["QUESTION"] + " " + " ".join(r["CONTEXTS"]))) for r in synthetic_pubmedqa(500, seed=15).values()]
    assert max(lengths) <= 100


def test_hoc_labels_follow_from_cue_phrases():
    for text, labels in synthetic_hoc(1500, seed=16):
        stated = [h for h, cues in HALLMARK_CUES.items() if any(c in text for c in cues)]
        assert labels == (stated or ["empty"]), (text, labels)
        assert labels == ["empty"] or labels == [h for h in HALLMARKS if h in labels]  # canonical order


def test_hoc_label_shares_and_tokenized_form():
    hoc = synthetic_hoc(4000, seed=17)
    empty = sum(labels == ["empty"] for _, labels in hoc) / len(hoc)
    multi = sum(len(labels) > 1 for _, labels in hoc) / len(hoc)
    assert abs(empty - 0.70) < 0.03 and abs(multi - 0.05) < 0.015
    assert {h for _, labels in hoc for h in labels} == set(HALLMARKS) | {"empty"}
    from sacremoses import MosesTokenizer

    moses = MosesTokenizer(lang="en")
    for text, _ in hoc[:200]:  # like the real TSVs: Moses-tokenized, not escaped
        assert moses.tokenize(text, return_str=True, escape=False) == text


def test_hoc_label_names_are_the_real_ones(shared_data):
    real = set()
    for line in (shared_data / "hoc" / "train.tsv").read_text(encoding="utf-8").splitlines():
        real.update(line.split("\t")[1].split("|"))
    assert real == set(HALLMARKS) | {"empty"}


def test_corpus_vocabulary_covers_the_tasks():
    corpus_words = Counter(w.lower() for doc in synthetic_corpus(2000, seed=18, profiles_per_drug=1) for w in moses_tokenize(doc))
    task_text = [r["QUESTION"] + " " + " ".join(r["CONTEXTS"]) for r in synthetic_pubmedqa(300, seed=19).values()]
    task_text += [t for t, _ in synthetic_hoc(300, seed=20)] + list(HALLMARKS)
    task_words = Counter(w.lower() for t in task_text for w in moses_tokenize(t))
    assert {c for w in task_words for c in w} <= {c for w in corpus_words for c in w}
    covered = sum(n for w, n in task_words.items() if w in corpus_words) / sum(task_words.values())
    assert covered > 0.97


def test_writers_round_trip_through_the_real_loaders(tmp_path):
    qa_path = write_synthetic_pubmedqa(tmp_path / "ori_pqal.json", 30, seed=21)
    assert json.loads(qa_path.read_text(encoding="utf-8")) == synthetic_pubmedqa(30, seed=21)
    hoc_path = write_synthetic_hoc(tmp_path / "train.tsv", 30, seed=22)
    rows = [line.split("\t") for line in hoc_path.read_text(encoding="utf-8").splitlines()]
    assert [(t, labels.split("|")) for t, labels in rows] == synthetic_hoc(30, seed=22)
    corpus_path = write_synthetic_corpus(tmp_path / "corpus.jsonl", 20, seed=23)
    assert list(read_corpus(corpus_path)) == synthetic_corpus(20, seed=23)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl", "ori_pqal.json", "train.tsv"]


@pytest.mark.parametrize("make", [synthetic_corpus, synthetic_pubmedqa, synthetic_hoc])
def test_negative_sizes_are_user_errors(make):
    from mediswift_np.errors import UserError

    with pytest.raises(UserError):
        make(-1, 0)


def test_knowledge_evidence_drops_the_results_sentence():
    drugs = {d.name: d for d in WORLD.catalogue}
    with_results = synthetic_pubmedqa(30, seed=4)
    knowledge = synthetic_pubmedqa(30, seed=4, evidence="knowledge")
    assert list(with_results) == list(knowledge)  # same questions and answers, same order
    for pmid, rec in knowledge.items():
        full = with_results[pmid]
        assert rec["QUESTION"] == full["QUESTION"] and rec["final_decision"] == full["final_decision"]
        assert rec["CONTEXTS"] == full["CONTEXTS"][:2] and "RESULTS" not in rec["LABELS"]
        drug = next(d for name, d in drugs.items() if name in rec["QUESTION"])
        # the answer is the world's fact: what the drug's trial showed
        assert rec["final_decision"] == {"reduced": "yes", "unchanged": "no", "mixed": "maybe"}[drug.outcome]
