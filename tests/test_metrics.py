"""Metrics equal the official scripts': hand-worked cases and scikit-learn (when installed)."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest

from mediswift_np.tasks import metrics
from mediswift_np.tasks.hoc import HOC_CLASSES
from mediswift_np.tasks.metrics import FAILED, accuracy, binarize, confusion_matrix, f1_per_class, hoc_micro_f1, macro_f1, micro_f1

ANSWERS = ["yes", "no", "maybe"]


def test_docstring_examples():
    assert doctest.testmod(metrics).failed == 0


def test_majority_baseline_on_the_official_split_counts():
    # test_ground_truth.json: 276 yes, 169 no, 55 maybe; always "yes":
    truth = ["yes"] * 276 + ["no"] * 169 + ["maybe"] * 55
    pred = ["yes"] * 500
    assert accuracy(truth, pred) == pytest.approx(0.552)
    f1_yes = 2 * 276 / (2 * 276 + 224 + 0)  # TP 276, FP 224, FN 0
    assert macro_f1(truth, pred) == pytest.approx(f1_yes / 3)  # "no", "maybe": never predicted -> F1 0
    assert round(macro_f1(truth, pred), 3) == 0.237


def test_hand_worked_macro_f1_and_confusion():
    truth = ["yes", "yes", "no", "maybe", "no", "yes"]
    pred = ["yes", "no", "no", "yes", "no", FAILED]
    # yes: TP 1, FP 1, FN 2 -> 2/5; no: TP 2, FP 1, FN 0 -> 4/5; maybe: TP 0, FP 0, FN 1 -> 0; failed: FP 1 -> 0
    assert f1_per_class(truth, pred, ANSWERS).tolist() == pytest.approx([0.4, 0.8, 0.0])
    assert macro_f1(truth, pred) == pytest.approx((0.4 + 0.8 + 0 + 0) / 4)  # union includes "failed"
    assert macro_f1(truth, pred, labels=ANSWERS) == pytest.approx(0.4)
    assert accuracy(truth, pred) == pytest.approx(3 / 6)
    assert confusion_matrix(truth, pred, ANSWERS).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]  # "failed" in no column


def test_hand_worked_hoc_micro_f1():
    classes = list(HOC_CLASSES)
    gold = ["empty", "inducing angiogenesis|resisting cell death", "cellular energetics"]
    pred = ["empty", "resisting cell death", FAILED]
    # TP 2 (empty, resisting cell death), FP 0, FN 2 (angiogenesis, energetics) -> 4 / 6
    assert hoc_micro_f1(gold, pred, classes) == pytest.approx(4 / 6)
    assert binarize(["empty | empty"], classes).sum() == 1  # repeated label counts once, pieces stripped
    assert micro_f1(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0  # 0/0 -> 0 (sklearn's zero_division default)


def random_labels(rng, n, pool, p=None):
    return [pool[int(i)] for i in rng.choice(len(pool), size=n, p=p)]


@pytest.mark.parametrize("seed", range(6))
def test_pubmedqa_metrics_equal_sklearn(seed):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    truth = random_labels(rng, n, ANSWERS, [0.55, 0.34, 0.11])
    pool = ANSWERS + [FAILED] if seed % 2 else ANSWERS[:2]  # sometimes a class is never predicted
    pred = random_labels(rng, n, pool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about ill-defined precision; the value is what matters
        assert accuracy(truth, pred) == pytest.approx(skm.accuracy_score(truth, pred), abs=1e-15)
        assert macro_f1(truth, pred) == pytest.approx(skm.f1_score(truth, pred, average="macro"), abs=1e-12)
        assert macro_f1(truth, pred, ANSWERS) == pytest.approx(skm.f1_score(truth, pred, labels=ANSWERS, average="macro"), abs=1e-12)
        assert f1_per_class(truth, pred, ANSWERS).tolist() == pytest.approx(skm.f1_score(truth, pred, labels=ANSWERS, average=None).tolist(), abs=1e-12)
        assert np.array_equal(confusion_matrix(truth, pred, ANSWERS), skm.confusion_matrix(truth, pred, labels=ANSWERS))


@pytest.mark.parametrize("seed", range(6))
def test_hoc_micro_f1_equals_biogpt_hard_match(seed):
    skm = pytest.importorskip("sklearn.metrics")
    prep = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(100 + seed)
    classes = list(HOC_CLASSES)

    def line():
        u = rng.random()
        if u < 0.5:
            return "empty"
        if u < 0.9:
            return " | ".join(random_labels(rng, int(rng.integers(1, 4)), classes))
        return rng.choice([FAILED, "not a hallmark", "", "empty|bogus"])

    n = int(rng.integers(1, 60))
    gold, pred = [line() for _ in range(n)], [line() for _ in range(n)]
    gold = [g if g not in (FAILED, "not a hallmark", "", "empty|bogus") else "empty" for g in gold]

    def sk_binarize(lines):  # BioGPT's convert_hoc_labels
        return prep.MultiLabelBinarizer(classes=classes).fit_transform([[w.strip() for w in x.strip().split("|")] for x in lines])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown labels are ignored with a warning
        expected = skm.f1_score(sk_binarize(gold), sk_binarize(pred), average="micro")
        assert np.array_equal(binarize(pred, classes), sk_binarize(pred))
    assert hoc_micro_f1(gold, pred, classes) == pytest.approx(expected, abs=1e-12)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        accuracy(["yes", "no"], ["yes"])
    with pytest.raises(ValueError, match="2 gold lines but 1 predictions"):
        hoc_micro_f1(["empty", "empty"], ["empty"], HOC_CLASSES)
