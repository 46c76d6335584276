"""The Moses step of the tokenizer: split text into words before BPE (paper Sec. 3.1).

MediSwift, like BioGPT, runs the Moses tokenizer (Koehn et al., 2007) over the corpus
and learns BPE on the resulting words. We use ``sacremoses`` (a Python port of the
Moses perl scripts) with exactly the settings of Hugging Face's ``BioGptTokenizer``, so
that a vocabulary made here gives the same ids there:

- language ``en``;
- ``aggressive_dash_splits=True``: a hyphen between letters or digits becomes its own
  token ``@-@`` (``IL-6`` -> ``IL @-@ 6``), which the detokenizer joins back;
- ``escape=True``: the characters ``& | < > ' " [ ]`` are written as XML entities
  (``&amp; &#124; &lt; &gt; &apos; &quot; &#91; &#93;``). This keeps ``<`` and ``>`` out
  of the tokens, so text can never spell a special token such as ``</s>`` or the
  end-of-word marker ``</w>``. Detokenizing unescapes them again;
- no punctuation normalisation, no lower-casing, no protected patterns.

Moses collapses every run of whitespace (including ``\\r\\n`` and other Unicode spaces)
to one space and drops ASCII control characters, so ``detok(tok(text))`` is a
*normalised* form of ``text`` (``"IL-6-induced  Δψm"`` -> ``"IL-6-induced Δψm"``), not
``text`` itself. This normalised text is what ``decode(encode(text))`` returns.

Example:
    >>> moses_tokenize("IL-6 levels were 3.5 µg/mL (p < 0.05).")
    ['IL', '@-@', '6', 'levels', 'were', '3.5', 'µg', '/', 'mL', '(', 'p', '&lt;', '0.05', ')', '.']
    >>> moses_detokenize(['IL', '@-@', '6', 'levels', '(', 'p', '&lt;', '0.05', ')', '.'])
    'IL-6 levels (p < 0.05).'

Does not handle: languages other than English, or Moses's ``-penn`` mode.
"""

from __future__ import annotations

from functools import lru_cache

LANG = "en"


@lru_cache(maxsize=None)
def moses_tokenizer():
    """sacremoses's English tokenizer (one per process), with its two character-class tests
    answered from sets built once.

    sacremoses builds ``set(IsLower)`` (2,253 characters) or ``set(IsAlpha)`` (10,862) again
    on every call of ``islower`` / ``isanyalpha``, that is for every word that ends in a full
    stop: that was half the time of tokenizing a corpus. Same answers, same tokens
    (tests/test_tokenizer.py compares with a plain ``MosesTokenizer``).
    """
    from sacremoses import MosesTokenizer  # imported here: it takes 0.3 s, and most commands never tokenize

    tok = MosesTokenizer(lang=LANG)
    lower, alpha = frozenset(tok.IsLower), frozenset(tok.IsAlpha)
    tok.islower = lambda text: set(text) <= lower  # every character lower-case
    tok.isanyalpha = lambda text: not alpha.isdisjoint(text)  # some character alphabetic
    return tok


@lru_cache(maxsize=None)
def _detokenizer():
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang=LANG)


def moses_tokenize(text: str) -> list[str]:
    """Split ``text`` into Moses tokens (English, aggressive dash splits, XML-escaped)."""
    return moses_tokenizer().tokenize(text, aggressive_dash_splits=True, return_str=False, escape=True)


def moses_detokenize(tokens: list[str]) -> str:
    """Join Moses tokens back into text (undoes dash splits and XML escaping)."""
    return _detokenizer().detokenize(list(tokens), return_str=True, unescape=True)
