"""Training data pipeline: id stream with </s> between documents, 3% split, (x, y) batches."""

from __future__ import annotations

import numpy as np
import pytest

from mediswift_np.data import iterate_val_batches, sample_batch, synthetic_corpus, token_stream, train_val_split
from mediswift_np.errors import UserError
from mediswift_np.tokenizer import Tokenizer

DOCS = synthetic_corpus(60, seed=30)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(DOCS, 300, progress=False)


def test_stream_is_documents_each_followed_by_eos(tok):
    stream = token_stream(DOCS + [""], tok)
    assert stream.dtype == np.int32
    expected = [i for doc in DOCS for i in tok.encode(doc) + [tok.eos_id]]
    assert stream.tolist() == expected  # the empty document adds nothing
    assert int((stream == tok.eos_id).sum()) == len(DOCS)
    assert tok.decode(stream[: np.flatnonzero(stream == tok.eos_id)[0]]) == tok.decode(tok.encode(DOCS[0]))


def test_empty_corpus_is_a_user_error(tok):
    with pytest.raises(UserError, match="empty corpus"):
        token_stream(["", " \n "], tok)


def test_split_is_three_percent_at_a_document_boundary(tok):
    stream = token_stream(synthetic_corpus(400, seed=31), tok)
    train, val = train_val_split(stream)  # Table 1: 3% validation
    assert np.array_equal(np.concatenate([train, val]), stream)
    assert train[-1] == tok.eos_id and val[-1] == tok.eos_id  # no document is cut in two
    longest_doc = np.diff(np.flatnonzero(stream == tok.eos_id)).max()
    assert abs(len(val) - 0.03 * len(stream)) <= longest_doc / 2 + 1  # the nearest boundary


def test_split_worked_examples():
    s = np.array([5, 6, 2, 7, 2, 8, 9, 2])
    train, val = train_val_split(s, val_fraction=0.3)  # exact cut at round(8 * 0.7) = 6 -> boundary 5
    assert train.tolist() == [5, 6, 2, 7, 2] and val.tolist() == [8, 9, 2]
    one_doc = np.arange(10, 110) % 50 + 4  # no </s> inside: cut at the exact token
    train, val = train_val_split(one_doc, val_fraction=0.03)
    assert len(train) == 97 and len(val) == 3
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(UserError):
            train_val_split(s, bad)
    with pytest.raises(UserError):
        train_val_split(np.array([4]), 0.5)


def test_sample_batch_shapes_shift_and_reproducibility():
    stream = np.arange(1000, dtype=np.int32) * 7 % 997
    x, y = sample_batch(stream, 16, 64, np.random.default_rng(0))
    assert x.shape == y.shape == (16, 64) and x.dtype == y.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    offsets = np.random.default_rng(0).integers(0, 1000 - 64, size=16)  # the same draws, recomputed
    for b, o in enumerate(offsets):
        assert np.array_equal(x[b], stream[o : o + 64]) and np.array_equal(y[b], stream[o + 1 : o + 65])
    x2, y2 = sample_batch(stream, 16, 64, np.random.default_rng(0))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = sample_batch(stream, 16, 64, np.random.default_rng(1))
    assert not np.array_equal(x, x3)


def test_sample_batch_covers_every_valid_offset_and_no_other():
    stream = np.arange(20, dtype=np.int32)  # token value = position
    x, _ = sample_batch(stream, 4000, 5, np.random.default_rng(2))
    starts = np.bincount(x[:, 0], minlength=20)
    assert (starts[:15] > 0).all() and (starts[15:] == 0).all()  # offsets 0 .. len - T - 1
    x, y = sample_batch(stream[:6], 3, 5, np.random.default_rng(3))  # exactly one window fits
    assert (x == np.arange(5)).all() and (y == np.arange(1, 6)).all()


def test_val_batches_are_non_overlapping_windows_in_order():
    stream = np.arange(103, dtype=np.int32)
    batches = list(iterate_val_batches(stream, 4, 10))
    assert [b[0].shape for b in batches] == [(4, 10), (4, 10), (2, 10)]  # (103 - 1) // 10 = 10 windows
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert np.array_equal(x.ravel(), stream[:100]) and np.array_equal(y.ravel(), stream[1:101])
    assert x.dtype == np.int64
    assert [b[0].tolist() for b in iterate_val_batches(stream, 4, 10)] == [b[0].tolist() for b in batches]


@pytest.mark.parametrize("size, batch, seq", [(10, 2, 10), (5, 0, 2), (5, 2, 0)])
def test_too_short_streams_and_bad_shapes_are_user_errors(size, batch, seq):
    stream = np.arange(size, dtype=np.int32)
    with pytest.raises(UserError):
        sample_batch(stream, batch, seq, np.random.default_rng(0))
    with pytest.raises(UserError):
        list(iterate_val_batches(stream, batch, seq))


@pytest.mark.parametrize("name", ["corpus", "pipeline", "synthetic", "synthetic_tasks", "world"])
def test_docstring_examples(name):
    import doctest
    import importlib

    module = importlib.import_module(f"mediswift_np.data.{name}")
    assert doctest.testmod(module).failed == 0
