"""Property tests (hypothesis): round trips and fast == reference BPE on generated input."""

from __future__ import annotations

import pytest

from mediswift_np.data import synthetic_corpus
from mediswift_np.tokenizer import Tokenizer, learn_bpe, learn_bpe_reference, moses_detokenize, moses_tokenize

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TRAINING_EXTRA = "IL-6 Δψm ± ≥ µg/mL α β γ δ 中文 😀 & < > | [ ] \" ' café — e.g. 3.5%"
TRAINING = synthetic_corpus(200, seed=17) + [TRAINING_EXTRA]
ALPHABET = sorted({c for doc in TRAINING for c in doc} | {" ", "\t", "\n", "\r"})
TOKENIZER = Tokenizer.train(TRAINING, 500, progress=False)

seen_text = st.text(alphabet=ALPHABET, max_size=80)
# Words of the training text glued with random separators: realistic tokens, odd spacing.
words = sorted({w for doc in TRAINING for w in doc.split()})
glued_text = st.lists(st.tuples(st.sampled_from(words), st.sampled_from(["", " ", "  ", "\r\n", "-", "/"])),
                      max_size=12).map(lambda parts: "".join(w + sep for w, sep in parts))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(seen_text, glued_text))
def test_decode_encode_is_moses_normalisation(text):
    ids = TOKENIZER.encode(text)
    assert TOKENIZER.unk_id not in ids  # every character was seen in training
    assert TOKENIZER.decode(ids) == moses_detokenize(moses_tokenize(text))


@settings(max_examples=150, deadline=None, database=None)
@given(st.one_of(seen_text, glued_text))
def test_bpe_text_form_matches_ids(text):
    pieces = TOKENIZER.encode_bpe(text).split()
    assert [TOKENIZER.token_to_id[p] for p in pieces] == TOKENIZER.encode(text)
    assert " ".join(pieces).replace("@@ ", "").split() == moses_tokenize(text)


@settings(max_examples=80, deadline=None, database=None)
@given(
    st.dictionaries(st.text(alphabet="aabbc\u00e9\u4e2d", min_size=1, max_size=9),
                    st.integers(min_value=1, max_value=7), min_size=1, max_size=25),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=0, max_value=60),
)
def test_fast_trainer_equals_reference(counts, min_frequency, num_merges):
    fast = learn_bpe(counts, num_merges, min_frequency=min_frequency)
    assert fast == learn_bpe_reference(counts, num_merges, min_frequency=min_frequency)
