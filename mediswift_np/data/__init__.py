"""Data: corpus readers, the embedded synthetic corpus and tasks, the training pipeline.

    corpus           streaming readers (PubMed XML, JSON lines, text), :func:`real_data_dir`
    world            the fixed facts the synthetic data is written about
    phrases          sentence templates shared by corpus and tasks
    synthetic        :func:`synthetic_corpus` (+ task generators re-exported)
    synthetic_tasks  :func:`synthetic_pubmedqa`, :func:`synthetic_hoc` in the real schemas, and their leak-free splits
    closed_book      drug profiles for pre-training; the catalogue split by drug
    pipeline         :func:`token_stream`, :func:`train_val_split`, :func:`sample_batch`,
                     :func:`iterate_val_batches`

Never imports the autograd engine or the model.
"""

from .corpus import (
    CorpusError,
    pubmedqa_abstracts,
    read_corpus,
    read_jsonl,
    read_pubmed_xml,
    read_text_blocks,
    real_data_dir,
)
from .pipeline import iterate_val_batches, sample_batch, token_stream, train_val_split
from .synthetic import (
    synthetic_corpus,
    synthetic_hoc,
    synthetic_pubmedqa,
    write_synthetic_corpus,
    write_synthetic_hoc,
    write_synthetic_pubmedqa,
)

__all__ = [
    "CorpusError",
    "iterate_val_batches",
    "pubmedqa_abstracts",
    "read_corpus",
    "read_jsonl",
    "read_pubmed_xml",
    "read_text_blocks",
    "real_data_dir",
    "sample_batch",
    "synthetic_corpus",
    "synthetic_hoc",
    "synthetic_pubmedqa",
    "token_stream",
    "train_val_split",
    "write_synthetic_corpus",
    "write_synthetic_hoc",
    "write_synthetic_pubmedqa",
]
