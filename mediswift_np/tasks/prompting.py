"""Soft prompts and ``[source; prompt; target]`` sequences (paper Sec. 2.2.2, Eq. 3).

A sequence for the decoder is, in token ids::

    </s>  x_1 ... x_m   V  V+1 ... V+n-1   y_1 ... y_k  </s>
    start   source       n virtual tokens     target    end

The leading ``</s>`` marks a document start, as every document in the pre-training
stream follows a ``</s>``; the final ``</s>`` teaches the model to stop, so greedy
generation ends there. Virtual ids ``V .. V+n-1`` (V = vocabulary size) select the rows
of the soft prompt P (n, C), learned continuous embeddings (model.py looks them up together
with the token embeddings: row i of P for id V+i, as concat([wte, P])[ids] would, without
building the concatenated table). With n = 0 there is no prompt and no virtual id: plain
fine-tuning.

Loss (Eq. 3): the mean negative log-likelihood of y_1..y_k and the final ``</s>`` given
everything before them. ``loss_on="source"`` adds the source tokens as LM targets too
(next-token loss on x_1..x_m; BioGPT's fairseq code trains on the whole sequence), never
the virtual tokens, which have no output logits.

Too long for the context: the source is truncated *from its end* (its beginning --
for PubMedQA the question and the first sentences of the context -- is kept) so that
``</s>`` + source + prompt + the longest target of the task + ``</s>`` fits in ``n_ctx``.
The prompt and target are never cut. The same budget is used for training and for
prediction, so the model is tested on the view it was trained on.

Prompt initialisation (a choice; the paper does not say): ``"vocab"`` copies the
embeddings of n distinct random real tokens (Lester et al. 2021 found this better than
random vectors), ``"normal"`` draws N(0, 0.02²) like GPT-2's embeddings.

Prediction: greedy generation after ``[</s>; source; prompt]`` with the KV cache
(generate.py), decoded and parsed back to a label by the task's format.

Does not handle: prompts at other positions (prefix-tuning of every layer, P-tuning v2),
left padding, batched generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..autograd import no_grad
from ..generate import greedy
from ..nn import Parameter
from ..tokenizer import Tokenizer
from .base import Example, TaskDataError, TaskFormat, TextForms
from .metrics import FAILED

LOSS_ON = ("target", "source")
PROMPT_INITS = ("vocab", "normal")


def init_soft_prompt(wte: np.ndarray, n: int, rng: np.random.Generator, how: str = "vocab", n_special: int = 4) -> Parameter:
    """The soft prompt P (n, C) as a trainable parameter (no weight decay, like the embeddings)."""
    V, C = wte.shape
    if how == "vocab":
        if n > V - n_special:
            raise TaskDataError(f"cannot copy {n} distinct token embeddings from a vocabulary of {V - n_special} real tokens")
        rows = n_special + rng.choice(V - n_special, size=n, replace=False)  # skip <s>, <pad>, </s>, <unk>
        data = wte[rows]  # (n, C), a copy (fancy indexing)
    elif how == "normal":
        data = 0.02 * rng.standard_normal((n, C))  # GPT-2 embedding init
    else:
        raise TaskDataError(f"unknown prompt init {how!r}; choose from {', '.join(PROMPT_INITS)}")
    return Parameter(np.ascontiguousarray(data, dtype=wte.dtype))


@dataclass(frozen=True)
class Encoder:
    """Turns examples into id sequences for one tokenizer, prompt length and context size."""

    tokenizer: Tokenizer
    fmt: TaskFormat
    prompt_length: int  # n
    n_ctx: int
    target_budget: int  # tokens reserved for the longest target (+ its </s>)
    _ids: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)  # text -> ids, see encode

    MEMO_LIMIT = 50_000  # texts remembered by encode; more are tokenized every time (bounds the memory)

    @classmethod
    def build(cls, tokenizer: Tokenizer, fmt: TaskFormat, prompt_length: int, n_ctx: int, labels: Sequence[str] = ()) -> "Encoder":
        """An encoder reserving room for the longest target among the task's classes and ``labels``."""
        longest = max(len(tokenizer.encode(fmt.target(label))) for label in (*fmt.labels, *labels)) + 1
        if 1 + prompt_length + longest + 1 > n_ctx:  # </s>, prompt, target + </s>, and at least one source token
            raise TaskDataError(
                f"a prompt of {prompt_length} tokens and targets of up to {longest} tokens leave no room for the source in a {n_ctx}-token context"
            )
        return cls(tokenizer, fmt, prompt_length, n_ctx, longest)

    def encode(self, text: str) -> list[int]:
        """``tokenizer.encode(text)``, remembered: every epoch and every evaluation sees the same sources
        again, and Moses tokenization is most of what encoding costs."""
        ids = self._ids.get(text)
        if ids is None:
            ids = self.tokenizer.encode(text)
            if len(self._ids) < self.MEMO_LIMIT:
                self._ids[text] = ids
        return list(ids)

    @property
    def virtual_ids(self) -> list[int]:
        V = self.tokenizer.vocab_size
        return list(range(V, V + self.prompt_length))

    @property
    def source_budget(self) -> int:
        return self.n_ctx - 1 - self.prompt_length - self.target_budget

    def context(self, source: str) -> tuple[list[int], bool]:
        """``[</s>; source; prompt]`` ids (source cut from its end to fit) and whether it was cut."""
        src = self.encode(source)
        cut = len(src) > self.source_budget
        return [self.tokenizer.eos_id, *src[: self.source_budget], *self.virtual_ids], cut

    def sequence(self, ex: Example) -> tuple[list[int], int, int]:
        """Full ids ``[</s>; source; prompt; target; </s>]``, the context length and the source length."""
        ctx, _ = self.context(ex.source)
        tgt = self.encode(self.fmt.target(ex.label)) + [self.tokenizer.eos_id]
        if len(tgt) > self.target_budget:
            raise TaskDataError(f"example {ex.key}: target of {len(tgt)} tokens exceeds the {self.target_budget} reserved")
        return ctx + tgt, len(ctx), len(ctx) - self.prompt_length - 1


def make_batch(encoder: Encoder, examples: Sequence[Example], loss_on: str = "target") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(idx, targets, loss_mask), each (B, T), right-padded with ``<pad>``.

    targets[b, t] = idx[b, t+1]; loss_mask[b, t] = 1 where that next token is scored
    (Eq. 3: the target tokens and the final </s>; with ``loss_on="source"`` also the source
    tokens x_1..x_m). Right padding needs no attention mask: causal attention never lets
    a real token see a later pad, and pads carry no loss.
    """
    if loss_on not in LOSS_ON:
        raise TaskDataError(f"unknown loss_on {loss_on!r}; choose from {', '.join(LOSS_ON)}")
    rows = [encoder.sequence(ex) for ex in examples]
    T = max(len(ids) for ids, _, _ in rows) - 1
    pad = encoder.tokenizer.pad_id
    idx = np.full((len(rows), T), pad, dtype=np.int64)
    targets = np.full((len(rows), T), pad, dtype=np.int64)
    mask = np.zeros((len(rows), T), dtype=np.float32)
    for b, (ids, n_context, n_source) in enumerate(rows):
        L = len(ids) - 1
        idx[b, :L] = ids[:-1]
        targets[b, :L] = ids[1:]
        mask[b, n_context - 1 : L] = 1.0  # predicting y_1 (from the last prompt position) .. the final </s>
        if loss_on == "source":
            mask[b, :n_source] = 1.0  # predicting x_1 .. x_m (from </s>, x_1, .., x_{m-1}); x_m -> virtual id is not scored
    targets[mask == 0] = pad  # unscored positions (incl. virtual ids >= V, which have no logit) get a harmless id
    return idx, targets, mask


def decoded_forms(tokenizer: Tokenizer, fmt: TaskFormat) -> TextForms:
    """The forms prefix, separator and labels take after ``decode(encode(.))``.

    They equal the plain strings when the vocabulary covers every character (BioGPT's
    does). A tiny vocabulary may not: ``|`` is Moses-escaped to ``&#124;`` and a corpus
    without ``#`` makes that ``& <unk> 124;``. Parsing against the round-trip forms reads
    back exactly what the model was trained to write.
    """
    rt = lambda s: tokenizer.decode(tokenizer.encode(s))  # noqa: E731
    a, b = "x", "y"  # the separator between two words, as it decodes in a target
    sep = rt(f"{a}|{b}")
    labels = {rt(label): label for label in fmt.labels}
    if len(labels) != len(fmt.labels):
        raise TaskDataError(f"two {fmt.name} labels decode to the same text with this tokenizer")
    return TextForms(rt(fmt.target_prefix), sep[len(a) : len(sep) - len(b)].strip() or "|", labels)


def predict(
    model, encoder: Encoder, prompt: Parameter | None, examples: Sequence[Example], progress: bool = False, desc: str = "predicting",
    use_cache: bool = True,
) -> tuple[list[str], list[str], int]:
    """(labels, generated texts, number of truncated sources): greedy answers parsed by the task format.

    Unparseable answers get the label ``"failed"`` (counted wrong by every metric).
    ``use_cache=False`` recomputes the whole sequence for every new token (same answers,
    see benchmarks/bench_finetune_predict.py for what the cache saves).
    """
    tok = encoder.tokenizer
    forms = decoded_forms(tok, encoder.fmt)
    labels, texts, truncated = [], [], 0
    for ex in tqdm(examples, desc=desc, unit="ex", disable=not progress, leave=False):
        ctx, cut = encoder.context(ex.source)
        truncated += cut
        with no_grad():
            out = greedy(model, ctx, encoder.target_budget, prompt=prompt if encoder.prompt_length else None, stop_ids=[tok.eos_id],
                         use_cache=use_cache)  # fmt: skip
        text = tok.decode(out)
        label = encoder.fmt.parse(text, forms)
        labels.append(FAILED if label is None else label)
        texts.append(text)
    return labels, texts, truncated
