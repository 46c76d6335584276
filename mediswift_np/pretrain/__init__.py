"""Sparse pre-training: ``python -m mediswift_np.pretrain --tiny [--sparsity S]``.

The paper's pre-training (Sec. 3.2-3.3, App. A.1) at whatever scale fits: a corpus is
Moses+BPE tokenized (the tokenizer is trained on it and saved with the checkpoint),
turned into one id stream with 3% held out for validation (Table 1), and a GPT-3
decoder minimises the next-token loss of Eq. 1 with a static random mask on the six
matrices of every block (``--sparsity``), using AdamW with linear warmup over 10% of
the steps and cosine decay to 10% of the peak. Eq. 1 writes the loss as a sum over
tokens; the code minimises the mean over the B·T tokens of a batch: the sum divided by
a constant, so the same minimiser, with gradients B·T times smaller (AdamW's step does
not depend on that scale; the gradient-clipping threshold ``--grad-clip`` does).

``--tiny`` is the classroom recipe: the tiny preset on the embedded synthetic biomedical
corpus, a ~1M-parameter model trained in about a minute on two cores. ``--model
med|large|xl`` builds the paper's sizes (slow in NumPy, but every step is the same code,
and a model that cannot fit in memory is refused up front); ``--corpus PATH`` trains on
real text (PubMed XML, JSON lines, plain text). Tiny models learn better at a larger
peak learning rate than the paper's 2e-4 (chosen for 302M-1.2B models), so the tiny
preset defaults to 2e-3; the schedule's shape is the paper's.

Checkpoints (see checkpoint.py) hold everything needed to continue bit-identically with
``--resume DIR``: weights, masks, AdamW moments and step, the RNG states, the loss
history, the tokenizer, and the SHA-256 of the corpus files and of the token stream, so
that a resume refuses anything that changed (resume.py). A run never writes into an
``--out`` that holds something else, unless ``--overwrite`` is given.

Modules (this file only re-exports their public names)::

    config.py    PretrainConfig (one frozen dataclass; the CLI is built from its fields), check_memory
    start.py     start_run: corpus, tokenizer, stream, model, masks, optimizer, RNGs (fresh or resumed)
    loop.py      train: batch -> lr -> step -> log -> evaluate -> save; the summary
    resume.py    what a resumed run verifies: state.json entries, corpus, token stream, masks
    __main__.py  the command line

Does not handle: multiple processes (reference/train_ddp.py continues an exported run on
PyTorch DDP), gradient accumulation, mixed precision.
"""

from ..training import TrainingDiverged
from .config import PAPER_RECIPE, PretrainConfig, check_memory
from .loop import evaluate, train
from .resume import resumable_state
from .start import load_texts

__all__ = ["PAPER_RECIPE", "PretrainConfig", "TrainingDiverged", "check_memory", "evaluate", "load_texts", "resumable_state", "train"]
