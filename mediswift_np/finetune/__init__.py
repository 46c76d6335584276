"""Dense fine-tuning with soft prompts: ``python -m mediswift_np.finetune --task {pubmedqa,hoc} --init CKPT``.

The paper's fine-tuning (Sec. 2.2, 4, App. A.2-A.3) at whatever scale fits:

1. **Densify** (Sec. 2.2.1, Eq. 2): the pre-trained checkpoint's masks are removed; the
   Σ_l s_l·N_l reactivated weights start at exactly 0 (they are 0 already) and every
   weight θ^j + Δθ is trained.
2. **Soft prompt** (Sec. 2.2.2, Eq. 3): n virtual tokens with learned embeddings between
   source and target, ``[source; prompt; target]``; n = 9 for PubMedQA and 1 for HoC by
   default (``--prompt-len``; 0 = plain fine-tuning). Loss on the target tokens only
   (``--loss-on source`` adds the source, as BioGPT's code does). See tasks/prompting.py
   for the sequence layout, truncation and prompt initialisation.
3. **Protocol** (App. A.2/A.3): AdamW, linear warmup over 10% of the steps then cosine
   decay (to 10% of the peak, as in pre-training), at most ``--epochs`` epochs per stage
   with early stopping on the validation metric -- accuracy for PubMedQA, micro-F1 for
   HoC, ties broken by the lower validation target loss (``--patience`` epochs without
   improvement; the best epoch's weights are kept). A grid over batch size × learning
   rate is searched with the first seed and chosen on the final stage's validation metric;
   then ``--seeds`` runs of the chosen point give mean ± std (sample std, ddof = 1).
   ``--grid`` searches the paper's grid (PubMedQA {8,16,32,64} × {2e-4,1e-4,5e-5,2.5e-5};
   HoC {16,32,64} × {8e-5,4e-5,2e-5,1e-5}); the default is a single point so the CLI
   stays fast, and tiny models want larger learning rates than the paper's 302M-1.2B ones.
4. **Stages**: ``--data`` may be repeated (PQA-A, PQA-U, PQA-L in the paper): each stage
   starts from the weights (and prompt) the previous stage ended with; the last stage has
   the test split (tasks/stages.py). A stage without labels (PQA-U) is pseudo-labelled by
   the model of the previous stage (Jin et al.'s bootstrapping, here in the reasoning-
   required format); answers it cannot parse are dropped.
5. **Evaluation**: greedy generation after ``[source; prompt]`` with the KV cache, parsed
   back to a label; an unparseable answer counts as wrong and is reported. Metrics are
   the official scripts' (tasks/metrics.py) next to the majority-class baseline. For
   PubMedQA the summary has two macro-F1s: ``macro_f1`` over yes/no/maybe (an
   unparseable answer is a miss of its true class) and ``macro_f1_official``, what
   the official ``evaluation.py`` prints for the prediction file (sklearn's macro-F1
   over the labels that occur in truth and predictions, so ``failed`` is a fourth
   class); they agree when every answer parses and the test set has all three. The KV
   cache runs the context once and one position per answer token; recomputing instead
   costs about (answer length) × (context length) positions (benchmarks/bench_finetune_predict.py).

A run whose loss or weights become NaN or infinite (too high a learning rate) stops with
an error: the training loss is checked every step, the weights and the validation loss
at the end of every epoch, so no diverged epoch is kept and no diverged checkpoint is
written.

Weight decay 0.1 on the block matrices (the GPT convention of optim.py; the soft prompt,
like the embeddings, has none); gradient clipping at global norm 1. Seeds change the
soft-prompt initialisation and the order of the training examples; every seed starts
from the same pre-trained weights.

FLOPs of all training steps (every grid point and seed): ``finetune_flops_counted`` is
the engine's sparse-equivalent count, ``finetune_flops_executed`` what the CPU ran; after
densification they are equal (with ``--keep-masks`` the executed count is larger, as in
pre-training: see sparse.py).

Outputs (``--out``): the fine-tuned checkpoint of the seed with the best validation score
(dense weights + ``prompt/embeddings``, state ``kind: "finetune"``) and one prediction
file per seed in the official format.

Does not handle: k-fold cross-validation on PQA-L, abstract-level HoC, resuming an
interrupted fine-tuning run, mixed precision.

Modules (this file only re-exports their public names)::

    config.py         FinetuneConfig (one frozen dataclass; the CLI is built from its fields), PAPER_GRID
    start.py          build_model: densify the checkpoint (Sec. 2.2.1), make the soft prompt (Sec. 2.2.2)
    train.py          train_stage: epochs of training.train_step with early stopping (App. A.2/A.3)
    experiment.py     run_seed (all stages, one seed) and finetune (grid, seeds, summary)
    checkpoint_io.py  load_init, save_finetuned, load_finetuned
    __main__.py       the command line
"""

from .checkpoint_io import load_finetuned, load_init, save_finetuned
from .config import PAPER_GRID, REVIVED_INITS, FinetuneConfig
from .experiment import finetune, run_seed
from .start import build_model, pretrained_length, revive_randomly
from .train import PROMPT_KEY, TrainingDiverged, train_stage

__all__ = [
    "PAPER_GRID", "PROMPT_KEY", "REVIVED_INITS", "FinetuneConfig", "TrainingDiverged", "build_model", "finetune",
    "load_finetuned", "load_init", "pretrained_length", "revive_randomly", "run_seed", "save_finetuned", "train_stage",
]  # fmt: skip
