"""Benchmark: greedy prediction of fine-tuned answers with and without the KV cache.

Prediction (paper Sec. 2.2.2; tasks/prompting.py) generates the whole target sentence
after ``[</s>; source; prompt]``: for PubMedQA with the tiny vocabulary that is a context
of up to ~100 tokens and ~25 answer tokens. Without a cache, new token i reruns the model
over all T + i positions (T = context length; Σ_i (T + i) ≈ 25·T for the whole answer);
with it the context is processed once and each new token costs one position (T + 25).
Both paths must give the same answers (checked here).

The model is a freshly initialised GPT of the ``tiny`` preset's size with the vocabulary
of a tokenizer trained on the synthetic corpus (weights do not change the cost; the
answers are whatever it generates, up to the full target budget). Medians over
``--repeats`` runs, side by side in one process.

    python benchmarks/bench_finetune_predict.py [--questions 20] [--repeats 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from mediswift_np.config import PRESETS
from mediswift_np.data import synthetic_corpus
from mediswift_np.model import GPT
from mediswift_np.tasks import PUBMEDQA, pubmedqa
from mediswift_np.tasks.prompting import Encoder, init_soft_prompt, predict
from mediswift_np.tokenizer import Tokenizer
from timing import median_seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    tok = Tokenizer.train(synthetic_corpus(3000, seed=0), 1200, progress=False)  # the --tiny recipe's tokenizer
    cfg = PRESETS["tiny"].with_(vocab_size=tok.vocab_size)
    model = GPT(cfg, seed=0)
    prompt = init_soft_prompt(model.transformer.wte.weight.data, 9, np.random.default_rng(0))
    enc = Encoder.build(tok, PUBMEDQA, 9, cfg.n_ctx)
    questions = pubmedqa.synthetic_data(args.questions, 0, 0, seed=0).train
    contexts = [len(enc.context(q.source)[0]) for q in questions]
    print(f"model: tiny preset (V {cfg.vocab_size}, L {cfg.n_layer}, d {cfg.n_embd}); {len(questions)} questions, "
          f"context {np.mean(contexts):.0f} tokens on average, up to {enc.target_budget} generated")

    t_cache, (ans_cache, texts, _) = median_seconds(lambda: predict(model, enc, prompt, questions, use_cache=True), args.repeats)
    t_full, (ans_full, texts_full, _) = median_seconds(lambda: predict(model, enc, prompt, questions, use_cache=False), args.repeats)
    print(f"{'path':<22}{'median s':>10}{'ms/question':>13}")
    print(f"{'KV cache':<22}{t_cache:>10.3f}{1e3 * t_cache / len(questions):>13.1f}")
    print(f"{'full recomputation':<22}{t_full:>10.3f}{1e3 * t_full / len(questions):>13.1f}")
    print(f"speedup {t_full / t_cache:.1f}x; same answers and texts: {ans_cache == ans_full and texts == texts_full}")


if __name__ == "__main__":
    main()
