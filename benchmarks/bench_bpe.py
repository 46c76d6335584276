"""Benchmark: BPE training time vs subword-nmt ``learn-bpe``, and encoding throughput.

Side by side in one run, medians over ``--repeats`` runs, on the same Moses-tokenized
text: the PubMedQA PQA-L abstracts (``CONTEXTS`` joined) when the real data folder is
found by :func:`mediswift_np.data.real_data_dir`, else the synthetic corpus.

Training (``--merges``, default 8000, or as many as the text allows):
  1. ours: :func:`learn_bpe` (incremental pair counts + lazy max-heap), word counting included;
  2. subword-nmt ``learn_bpe`` (in process, reading the same tokenized file), if installed;
  3. the slow reference trainer on ``--reference-merges`` merges only, for scale.
The merge lists of 1 and 2 are compared and the result printed.

Encoding (cold word cache each run):
  4. ``Tokenizer.encode`` on raw text (Moses + BPE + ids);
  5. ``Tokenizer.bpe_words`` on the tokenized words (BPE only, fastBPE ``applybpe`` form);
  6. subword-nmt ``BPE.segment_tokens`` on the same words, if installed.

    python benchmarks/bench_bpe.py [--merges 8000] [--repeats 3] [--synthetic-docs 3000]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from mediswift_np.data import pubmedqa_abstracts, real_data_dir, synthetic_corpus
from mediswift_np.tokenizer import (
    Tokenizer,
    build_dictionary,
    learn_bpe,
    learn_bpe_reference,
    moses_tokenize,
    word_frequencies,
)
from timing import median_seconds


def load_documents(n_synthetic: int) -> tuple[str, list[str]]:
    data = real_data_dir()
    if data is not None and (data / "pubmedqa" / "ori_pqal.json").is_file():
        return "PubMedQA PQA-L abstracts (real)", list(pubmedqa_abstracts(data / "pubmedqa" / "ori_pqal.json"))
    return f"synthetic corpus ({n_synthetic} documents)", synthetic_corpus(n_synthetic, seed=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--merges", type=int, default=8000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--reference-merges", type=int, default=300)
    p.add_argument("--synthetic-docs", type=int, default=3000)
    args = p.parse_args()

    source, docs = load_documents(args.synthetic_docs)
    lines = [" ".join(moses_tokenize(d)) for d in docs]
    words_per_doc = [line.split() for line in lines]
    n_words = sum(len(w) for w in words_per_doc)
    counts = word_frequencies(lines, pretokenized=True)
    print(f"text: {source}: {len(docs)} documents, {n_words:,} Moses tokens, {len(counts):,} distinct words\n")

    rows = []  # (what, seconds, figure)
    t_ours, merges = median_seconds(lambda: learn_bpe(word_frequencies(lines, pretokenized=True), args.merges), args.repeats)
    rows.append((f"train: ours, learn_bpe ({len(merges)} merges)", t_ours, ""))
    same = "subword-nmt not installed"
    try:
        from subword_nmt import learn_bpe as snmt
    except ImportError:
        snmt = None
    if snmt is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tokenized.txt"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")

            def run_snmt():
                out = io.StringIO()
                with open(path, encoding="utf-8") as f:
                    snmt.learn_bpe(f, out, args.merges)
                return [tuple(line.split(" ")) for line in out.getvalue().splitlines()[1:]]

            t_snmt, theirs = median_seconds(run_snmt, args.repeats)
        same = "identical" if theirs == [(m.left, m.right) for m in merges] else "DIFFERENT"
        rows.append((f"train: subword-nmt learn_bpe ({len(theirs)} merges)", t_snmt, f"ours is {t_snmt / t_ours:.1f}x faster"))
    t_ref, ref = median_seconds(lambda: learn_bpe_reference(counts, args.reference_merges), 1)
    t_fast_small, fast_small = median_seconds(lambda: learn_bpe(counts, args.reference_merges), args.repeats)
    assert ref == fast_small, "reference and fast trainers disagree"
    rows.append((f"train: reference trainer ({args.reference_merges} merges)", t_ref, f"fast: {t_fast_small:.3f} s"))

    dictionary = build_dictionary(counts, merges)

    def encode_all():
        tok = Tokenizer(merges, dictionary)  # a fresh tokenizer: empty word cache
        return sum(len(tok.encode(d)) for d in docs)

    def bpe_all():
        tok = Tokenizer(merges, dictionary)
        return [tok.bpe_words(w) for w in words_per_doc]

    t_enc, n_ids = median_seconds(encode_all, args.repeats)
    rows.append(("encode: Moses + BPE + ids (cold cache)", t_enc, f"{n_words / t_enc:,.0f} words/s, {n_ids / t_enc:,.0f} ids/s"))
    t_bpe, ours = median_seconds(bpe_all, args.repeats)
    rows.append(("encode: BPE only, tokenized words (cold cache)", t_bpe, f"{n_words / t_bpe:,.0f} words/s"))
    try:
        from subword_nmt.apply_bpe import BPE
    except ImportError:
        BPE = None
    if BPE is not None:
        codes = "#version: 0.2\n" + "".join(f"{m.left} {m.right}\n" for m in merges)

        def snmt_all():
            bpe = BPE(io.StringIO(codes))
            return [" ".join(bpe.segment_tokens(w)) for w in words_per_doc]

        t_apply, theirs = median_seconds(snmt_all, args.repeats)
        rows.append(("encode: subword-nmt segment_tokens (cold cache)", t_apply,
                     f"{n_words / t_apply:,.0f} words/s, output {'identical' if ours == theirs else 'DIFFERENT'}"))

    print(f"| step (median of {args.repeats}) | seconds | notes |")
    print("|---|---:|---|")
    for what, seconds, note in rows:
        print(f"| {what} | {seconds:.3f} | {note} |")
    print(f"\nmerges vs subword-nmt: {same}")


if __name__ == "__main__":
    main()
