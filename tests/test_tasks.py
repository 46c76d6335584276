"""Task loaders, BioGPT formats, splits, prediction files and bad input (tasks/)."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from mediswift_np.data import synthetic_pubmedqa, write_synthetic_hoc, write_synthetic_pubmedqa
from mediswift_np.data.synthetic_tasks import synthetic_hoc_splits, synthetic_pubmedqa_splits
from mediswift_np.errors import UserError
from mediswift_np.tasks import HOC, HOC_CLASSES, PUBMEDQA, Example, TaskData, TaskDataError, base, hoc, pubmedqa, report, stages
from mediswift_np.tasks.metrics import FAILED


def test_docstring_examples():
    for module in (base, hoc, pubmedqa, report):
        assert doctest.testmod(module).failed == 0, module.__name__


# ----------------------------------------------------------------------------- formats


def test_pubmedqa_strings_are_biogpts():
    rec = {"QUESTION": " Is X safe? ", "CONTEXTS": ["A  trial.\n", "It was safe. "], "final_decision": "yes", "LONG_ANSWER": "Yes."}
    ex = pubmedqa.examples_from_records({"123": rec})[0]
    assert ex == Example("123", "question: Is X safe? context: A trial. It was safe. ", "yes")  # no long answer
    assert PUBMEDQA.target("maybe") == "the answer to the question given the context is maybe."
    assert PUBMEDQA.default_prompt_length == 9 and HOC.default_prompt_length == 1


def test_hoc_strings_are_biogpts():
    assert hoc.source_text(" Cells divide ") == "Cells divide."
    assert HOC.target("inducing angiogenesis|empty") == "the type of this document is inducing angiogenesis|empty."
    assert len(HOC_CLASSES) == 11 and "empty" in HOC_CLASSES


@pytest.mark.parametrize(
    "text, label",
    [
        ("the answer to the question given the context is yes.", "yes"),
        ("  the answer to the question given the context is  no .", "no"),
        ("learned0 the answer to the question given the context is maybe", "maybe"),  # prefix found anywhere
        ("the answer to the question given the context is perhaps.", None),  # not a label
        ("the answer to the question given the context is yes|no.", None),  # PubMedQA is single-label
        ("the answer to the question given the context is.", None),
        ("yes", None),
        ("", None),
    ],
)
def test_pubmedqa_parse(text, label):
    assert PUBMEDQA.parse(text) == label


def test_hoc_parse_splits_on_bars():
    assert HOC.parse("the type of this document is resisting cell death | empty.") == "resisting cell death|empty"
    forms = base.TextForms("the type of this document is", "& <unk> 124;", {c: c for c in HOC_CLASSES})
    assert HOC.parse("the type of this document is empty & <unk> 124; cellular energetics.", forms) == "empty|cellular energetics"


def test_hoc_partial_answer_keeps_its_known_pieces():
    """BioGPT keeps the whole answer and its hard-match evaluation ignores unknown pieces: so do we."""
    prefix = "the type of this document is"
    assert HOC.parse(f"{prefix} inducing angiogenesis|bogus.") == "inducing angiogenesis"
    assert HOC.parse(f"{prefix} fame | resisting cell death|empty") == "resisting cell death|empty"
    for unreadable in (f"{prefix} bogus.", f"{prefix} bogus|fame.", f"{prefix} |.", "inducing angiogenesis"):
        assert HOC.parse(unreadable) is None  # no known piece (or no prefix): stays failed
    forms = base.TextForms(prefix, "& <unk> 124;", {c: c for c in HOC_CLASSES})  # the decoded forms of a tokenizer round trip
    assert HOC.parse(f"{prefix} inducing angiogenesis & <unk> 124; bogus.", forms) == "inducing angiogenesis"
    assert PUBMEDQA.parse("the answer to the question given the context is yes|bogus.") is None  # single-label: the whole answer


def test_hoc_partial_answer_scores_its_known_pieces_like_hard_match_evaluation(tmp_path):
    gold = tmp_path / "test.tsv"
    gold.write_text("a .\tinducing angiogenesis\nb .\tempty\nc .\tempty\n", encoding="utf-8")
    generated = ["the type of this document is inducing angiogenesis|bogus.", "the type of this document is bogus.", "empty"]
    labels = [HOC.parse(text) or FAILED for text in generated]  # as tasks/prompting.predict writes them
    assert labels == ["inducing angiogenesis", FAILED, FAILED]
    hoc.write_predictions(tmp_path / "pred.txt", labels)
    (tmp_path / "raw.txt").write_text("inducing angiogenesis|bogus\nbogus\nfailed\n", encoding="utf-8")  # BioGPT's extracted lines
    for pred in ("pred.txt", "raw.txt"):
        s = hoc.score_prediction_file(tmp_path / pred, gold)
        # TP 1 (angiogenesis), FP 0, FN 2 (both "empty"): F1 = 2·1 / (2·1 + 0 + 2)
        assert s["micro_f1"] == pytest.approx(2 / 4) and s["per_class"]["inducing angiogenesis"]["correct"] == 1
    skm = pytest.importorskip("sklearn.metrics")
    prep = pytest.importorskip("sklearn.preprocessing")
    binarizer = prep.MultiLabelBinarizer(classes=list(HOC_CLASSES))  # BioGPT's convert_hoc_labels
    with pytest.warns(UserWarning, match="unknown class"):
        pred = binarizer.fit_transform([[w.strip() for w in line.split("|")] for line in ["inducing angiogenesis|bogus", "bogus", "failed"]])
    truth = binarizer.fit_transform([["inducing angiogenesis"], ["empty"], ["empty"]])
    assert skm.f1_score(truth, pred, average="micro") == pytest.approx(2 / 4)


# ----------------------------------------------------------------------------- loaders and bad input


def write_json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_pubmedqa_loader_reads_the_schema(tmp_path):
    path = write_synthetic_pubmedqa(tmp_path / "ori_pqal.json", 20, seed=1)
    exs = pubmedqa.load_examples(path)
    raw = json.loads(path.read_text())
    assert [e.key for e in exs] == list(raw)
    assert [e.label for e in exs] == [r["final_decision"] for r in raw.values()]
    assert all(e.source.startswith("question: ") and " context: " in e.source and e.source.endswith(" ") for e in exs)
    assert not any(r["LONG_ANSWER"] in e.source for e, r in zip(exs, raw.values()))  # reasoning required


def test_pqa_u_records_have_no_label(tmp_path):
    recs = synthetic_pubmedqa(3, seed=0)
    for r in recs.values():
        del r["final_decision"]
    exs = pubmedqa.load_examples(write_json(tmp_path / "pqau.json", recs))
    assert [e.label for e in exs] == [None] * 3


@pytest.mark.parametrize(
    "content, message",
    [
        ([1, 2], "expected a JSON object keyed by PMID"),
        ({}, "no records"),
        ({"1": "text"}, "record 1: expected an object"),
        ({"1": {"CONTEXTS": ["c"]}}, "record 1: missing or empty 'QUESTION'"),
        ({"1": {"QUESTION": "q?", "CONTEXTS": "c"}}, "record 1: 'CONTEXTS' must be a non-empty list"),
        ({"1": {"QUESTION": "q?", "CONTEXTS": ["c"], "final_decision": "probably"}}, "record 1: label 'probably' is not in the pubmedqa label set"),
    ],
)
def test_pubmedqa_bad_input(tmp_path, content, message):
    with pytest.raises(TaskDataError, match=message):
        pubmedqa.load_examples(write_json(tmp_path / "bad.json", content))


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"1": {\n"QUESTION": }', encoding="utf-8")
    with pytest.raises(TaskDataError, match=r"broken.json: line 2: malformed JSON"):
        pubmedqa.load_examples(path)


def test_hoc_loader_and_bad_lines(tmp_path):
    path = write_synthetic_hoc(tmp_path / "train.tsv", 30, seed=2)
    exs = hoc.load_examples(path)
    assert len(exs) == 30 and all(e.source.endswith(".") for e in exs)
    assert all(all(p in HOC_CLASSES for p in e.label.split("|")) for e in exs)
    with_blank = tmp_path / "blank.tsv"
    with_blank.write_text("A sentence .\tempty\n\nAnother one\tinducing angiogenesis|cellular energetics\n", encoding="utf-8")
    assert [e.label for e in hoc.load_examples(with_blank)] == ["empty", "inducing angiogenesis|cellular energetics"]
    for text, message in [
        ("no tab here\n", r"line 1: expected 'text<TAB>label\|label', found 1"),
        ("a\tb\tc\n", "found 3 tab-separated"),
        ("ok .\tempty\nbad .\tfame\n", "line 2: label 'fame' is not in the hoc label set"),
        ("\tempty\n", "line 1: empty text"),
        ("text .\t \n", "line 1: no label"),
    ]:
        bad = tmp_path / "bad.tsv"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(TaskDataError, match=message):
            hoc.load_examples(bad)


# ----------------------------------------------------------------------------- splits and stages


def test_stratified_split_keeps_label_shares_and_is_deterministic():
    exs = [Example(str(i), "s", lab) for i, lab in enumerate(["yes"] * 276 + ["no"] * 169 + ["maybe"] * 55)]
    tr, va = base.stratified_split(exs, 0.1, np.random.default_rng(0))
    assert Counter(e.label for e in va) == {"yes": 28, "no": 17, "maybe": 6}  # round(0.1 n) per label
    assert len(tr) + len(va) == 500 and not {e.key for e in tr} & {e.key for e in va}
    tr2, va2 = base.stratified_split(exs, 0.1, np.random.default_rng(0))
    assert va == va2 and tr == tr2


def make_pqal(tmp_path, n=40):
    path = write_synthetic_pubmedqa(tmp_path / "ori_pqal.json", n, seed=3)
    raw = json.loads(path.read_text())
    gold = {p: r["final_decision"] for p, r in list(raw.items())[: n // 2]}
    write_json(tmp_path / "test_ground_truth.json", gold)
    return path, gold


def test_official_split_uses_the_ground_truth_pmids(tmp_path):
    path, gold = make_pqal(tmp_path)
    (st,) = stages.load_stages("pubmedqa", [str(tmp_path)])  # a folder with ori_pqal.json + test_ground_truth.json
    assert [e.key for e in st.test] == list(gold) and [e.label for e in st.test] == list(gold.values())
    pool = {e.key for e in st.train} | {e.key for e in st.val}
    assert len(pool) == 20 and not pool & set(gold)


def test_multi_stage_pubmedqa_drops_test_questions_from_earlier_stages(tmp_path):
    path, gold = make_pqal(tmp_path)
    pqaa = write_json(tmp_path / "pqaa.json", {**json.loads(path.read_text()), **synthetic_pubmedqa(10, seed=9)})
    st1, st2 = stages.load_stages("pubmedqa", [str(pqaa), str(path)])
    assert not ({e.key for e in st1.train + st1.val} & set(gold)) and len(st1.train + st1.val) == 30
    assert st1.test == [] and len(st2.test) == 20


def test_stage_errors(tmp_path):
    path, gold = make_pqal(tmp_path)
    write_json(tmp_path / "gt_extra.json", {**gold, "99999999": "yes"})
    with pytest.raises(TaskDataError, match="1 test PMID"):
        stages.load_stages("pubmedqa", [str(path)], test=str(tmp_path / "gt_extra.json"))
    with pytest.raises(TaskDataError, match="no such file"):
        stages.load_stages("pubmedqa", [str(path)], test=str(tmp_path / "missing.json"))
    with pytest.raises(TaskDataError, match="needs a test file"):
        stages.load_stages("hoc", [str(write_synthetic_hoc(tmp_path / "t.tsv", 10, seed=0))])


def test_hoc_folder_with_identical_valid_and_test(tmp_path):
    train, _, test = synthetic_hoc_splits((40, 1, 40), seed=0)  # no sentence in both
    for name, pairs in (("train", train), ("test", test)):
        (tmp_path / f"{name}.tsv").write_text("".join(f"{text}\t{'|'.join(labels)}\n" for text, labels in pairs), encoding="utf-8")
    (tmp_path / "valid.tsv").write_bytes((tmp_path / "test.tsv").read_bytes())
    (st,) = stages.load_stages("hoc", [str(tmp_path)])
    assert "sentence-level" in st.description and "valid.tsv is identical to test.tsv" in st.description
    assert len(st.train) + len(st.val) == 40 and len(st.test) == 40


def test_subsampling_and_synthetic_sizes():
    (st,) = stages.load_stages("pubmedqa", [], synthetic_sizes=(30, 8, 12), max_train=10, max_test=5)
    assert (len(st.train), len(st.val), len(st.test)) == (10, 8, 5) and st.description == "synthetic"
    (h,) = stages.load_stages("hoc", [], synthetic_sizes=(20, 5, 6))
    assert "sentence-level" in h.description


# ----------------------------------------------------------------------------- prediction files (official formats)


def test_pubmedqa_prediction_file_scores_like_evaluation_py(tmp_path):
    skm = pytest.importorskip("sklearn.metrics")
    gold = {"1": "yes", "2": "no", "3": "maybe", "4": "yes"}
    gold_path = write_json(tmp_path / "gt.json", gold)
    preds = {"4": "yes", "3": "no", "2": "no", "1": FAILED}
    pubmedqa.write_predictions(tmp_path / "pred.json", preds)
    s = pubmedqa.score_prediction_file(tmp_path / "pred.json", gold_path)
    truth, p = list(gold.values()), [preds[k] for k in gold]
    assert s["accuracy"] == skm.accuracy_score(truth, p)
    assert s["macro_f1_file"] == pytest.approx(skm.f1_score(truth, p, average="macro", zero_division=0.0))  # evaluation.py
    assert s["macro_f1"] == pytest.approx(skm.f1_score(truth, p, labels=["yes", "no", "maybe"], average="macro", zero_division=0.0))
    assert s["macro_f1"] != s["macro_f1_file"]  # "failed" is a fourth class only in the file's union of labels
    assert s["unparseable"] == 1 and s["n"] == 4


def test_failed_answers_are_counted_per_true_class():
    """The confusion matrix has no 'failed' column; failed_per_class holds it, so every row adds up to the gold count."""
    gold = {"1": "yes", "2": "yes", "3": "no", "4": "maybe", "5": "no"}
    preds = {"1": FAILED, "2": FAILED, "3": "no", "4": "yes", "5": FAILED}
    s = pubmedqa.score_predictions(gold, preds)
    assert s["confusion_matrix"] == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]  # rows truth yes/no/maybe
    assert s["failed_per_class"] == {"yes": 2, "no": 1, "maybe": 0}
    rows = [sum(row) + s["failed_per_class"][a] for row, a in zip(s["confusion_matrix"], pubmedqa.ANSWERS)]
    assert rows == [Counter(gold.values())[a] for a in pubmedqa.ANSWERS] == [2, 2, 1]


def test_prediction_pmids_must_match(tmp_path):
    gold_path = write_json(tmp_path / "gt.json", {"1": "yes", "2": "no"})
    write_json(tmp_path / "pred.json", {"1": "yes", "3": "no"})
    with pytest.raises(TaskDataError, match=r"PMIDs do not match the test set: 1 missing \(e.g. 2\), 1 not in the test set \(e.g. 3\)"):
        pubmedqa.score_prediction_file(tmp_path / "pred.json", gold_path)


def test_hoc_prediction_file(tmp_path):
    gold = tmp_path / "test.tsv"
    gold.write_text("a .\tempty\n\nb .\tinducing angiogenesis|cellular energetics\n", encoding="utf-8")
    hoc.write_predictions(tmp_path / "pred.txt", ["empty", "cellular energetics"])
    s = hoc.score_prediction_file(tmp_path / "pred.txt", gold)
    assert s["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1)) and s["accuracy"] == 0.5
    hoc.write_predictions(tmp_path / "short.txt", ["empty"])
    with pytest.raises(TaskDataError, match="1 prediction lines but .* has 2 sentences"):
        hoc.score_prediction_file(tmp_path / "short.txt", gold)


def test_score_cli(tmp_path):
    gold_path = write_json(tmp_path / "gt.json", {"1": "yes", "2": "no"})
    write_json(tmp_path / "pred.json", {"1": "yes", "2": "yes"})
    run = lambda *a: subprocess.run([sys.executable, "-m", "mediswift_np.tasks", "score", *a], capture_output=True, text=True)  # noqa: E731
    ok = run("--task", "pubmedqa", "--predictions", str(tmp_path / "pred.json"), "--gold", str(gold_path), "--json")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout.strip().splitlines()[-1])
    assert out["accuracy"] == 0.5 and out["macro_f1_file"] == pytest.approx((2 / 3) / 2)  # over {yes, no}: evaluation.py
    assert out["macro_f1"] == pytest.approx((2 / 3) / 3)  # over yes/no/maybe ("maybe": no support, never predicted -> 0)
    assert "Accuracy 0.500000\nMacro-F1 0.333333\n" in ok.stdout
    write_json(tmp_path / "bad.json", {"1": "yes"})
    bad = run("--task", "pubmedqa", "--predictions", str(tmp_path / "bad.json"), "--gold", str(gold_path))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1


def test_labels_outside_the_label_set_are_unparseable(tmp_path):
    """'Yes' and null count as wrong, as evaluation.py scores them, and are reported as unparseable."""
    skm = pytest.importorskip("sklearn.metrics")
    gold = {"1": "yes", "2": "no", "3": "maybe", "4": "yes"}
    preds = {"1": "Yes", "2": "no", "3": None, "4": FAILED}
    s = pubmedqa.score_predictions(gold, preds)
    assert s["unparseable"] == 3 and s["first_unparseable"] == 'PMID 1: "Yes"' and s["accuracy"] == 0.25
    truth, p = list(gold.values()), [str(preds[k]) for k in gold]
    assert s["macro_f1_file"] == pytest.approx(skm.f1_score(truth, p, average="macro", zero_division=0.0))
    gold_tsv = tmp_path / "test.tsv"
    gold_tsv.write_text("a .\tempty\nb .\tinducing angiogenesis\nc .\tempty\n", encoding="utf-8")
    (tmp_path / "pred.txt").write_text("empty\ninducing angiogenesis|Bogus\nYes\n", encoding="utf-8")
    h = hoc.score_prediction_file(tmp_path / "pred.txt", gold_tsv)  # "Bogus" is ignored, as hard_match_evaluation does
    assert h["unparseable"] == 2 and h["first_unparseable"] == "line 2: 'inducing angiogenesis|Bogus'"
    assert h["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))


def test_a_test_question_in_train_or_dev_is_a_leak(tmp_path):
    train, dev, test = (pubmedqa.examples_from_records(p) for p in synthetic_pubmedqa_splits((20, 5, 8), 0, "context"))
    clean = [TaskData(train, dev, test, "synthetic")]
    assert stages.first_leak("pubmedqa", clean) is None
    same_pmid = Example(test[3].key, train[0].source, train[0].label)
    assert stages.first_leak("pubmedqa", [TaskData(train + [same_pmid], dev, test, "")]) == f"test PMID {test[3].key} is also in the training data"
    copied = Example("99999999", test[5].source.replace("question: ", "question:  ").upper().lower(), "no")
    assert stages.first_leak("pubmedqa", [TaskData(train, dev + [copied], test, "")]) == (
        f"the test question of {test[5].key} ({pubmedqa.question_of(test[5].source)[:60]!r}) is also in the validation data (99999999)")
    earlier = TaskData([copied], [], [], "PQA-A")
    assert "is also in the training data of stage 1 (99999999)" in stages.first_leak("pubmedqa", [earlier, clean[0]])


def test_a_test_sentence_in_train_is_a_leak_of_hoc(tmp_path):
    train, val, test = synthetic_hoc_splits((30, 5, 10), seed=0)
    train = train + [test[4]]
    for name, pairs in (("train", train), ("valid", val), ("test", test)):
        (tmp_path / f"{name}.tsv").write_text("".join(f"{t}\t{'|'.join(labels)}\n" for t, labels in pairs), encoding="utf-8")
    with pytest.raises(TaskDataError, match=r"^the test sentence of test.tsv:5 \(.*\) is also in the training data \(train.tsv:31\): a test leak"):
        stages.load_stages("hoc", [str(tmp_path)])
    (st,) = stages.load_stages("hoc", [str(tmp_path)], allow_overlap=True)
    assert len(st.train) == 31


def test_errors_are_user_errors():
    assert issubclass(TaskDataError, UserError)


# ----------------------------------------------------------------------------- the real files (when present)


def test_real_pqal_split(shared_data):
    (st,) = stages.load_stages("pubmedqa", [str(shared_data / "pubmedqa")])
    assert len(st.test) == 500 and Counter(e.label for e in st.test) == {"yes": 276, "no": 169, "maybe": 55}
    assert (len(st.train), len(st.val)) == (449, 51)  # round(0.1 n) of each label: 28 + 17 + 6


def test_real_hoc_files(shared_data):
    """BioGPT's sentence-level files share one sentence between train.tsv and test.tsv: refused as a leak unless allowed."""
    with pytest.raises(TaskDataError) as err:
        stages.load_stages("hoc", [str(shared_data / "hoc")])
    assert str(err.value) == ("the test sentence of test.tsv:7279 ('Conclusion .') is also in the training data (train.tsv:3025): "
                              "a test leak; remove it, or pass --allow-overlap true to fine-tune anyway")
    (st,) = stages.load_stages("hoc", [str(shared_data / "hoc")], allow_overlap=True)
    assert len(st.train) + len(st.val) == 9972 and len(st.test) == 4947
    assert "sentence-level" in st.description


def test_synthetic_knowledge_stage_has_no_results_sentence():
    from mediswift_np.tasks.stages import load_stages

    (stage,) = load_stages("pubmedqa", [], synthetic_sizes=(20, 5, 10), synthetic_evidence="knowledge", seed=1)
    assert "knowledge" in stage.description
    (plain,) = load_stages("pubmedqa", [], synthetic_sizes=(20, 5, 10), seed=1)
    for a, b in zip(stage.train, plain.train):
        assert a.label == b.label and len(a.source) < len(b.source)  # same question, shorter context
