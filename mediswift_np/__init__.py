"""mediswift_np: a NumPy-only teaching implementation of MediSwift.

MediSwift (Thangarasa et al., 2024, arXiv:2403.00952) pre-trains GPT-3-style
biomedical language models with static unstructured weight sparsity, then fine-tunes
them densely with soft prompts. Every stage lives in its own small module here:

    config        model presets (paper Table 5) and validation
    autograd      a reverse-mode autodiff engine over NumPy arrays (+ FLOP counting)
    functional    ops with closed-form backward passes (softmax, LayerNorm, attention, ...)
    nn, model     Module/Parameter and the GPT-3 decoder (GPT-2 parameter layout)
    sparse        static random masks, the masked linear layer (Eq. 1; dense BLAS or
                  scipy.sparse), dynamic sparse training (SET, RigL) in sparse.dst
    optim         AdamW with decoupled weight decay, warmup + cosine schedule
    tokenizer     Moses + BPE trainer/encoder with fastBPE files
    data          corpus readers, the synthetic biomedical corpus and tasks (closed-book drug
                  profiles, leak-free splits), batching
    flops         the analytic FLOP counter (Hoffmann et al. 2022, App. F); flops.audit
                  reconciles it with the engine's sparse-equivalent and executed counts
    checkpoint    .npz + JSON checkpoints, atomic and verified
    training      the optimizer step shared by pre-training and fine-tuning
    pretrain      sparse pre-training (python -m mediswift_np.pretrain)
    tasks         PubMedQA and HoC formats, loaders and official-script metrics
    generate      greedy generation with a key/value cache
    finetune      dense fine-tuning with soft prompts (python -m mediswift_np.finetune)
    recovery      does dense fine-tuning recover what sparse pre-training lost? (Table 3 analog)
    accelerator   an emulator of a dataflow (wafer-scale) accelerator
    interop       Hugging Face GPT-2 / BioGPT-format export and import
    exercises     build-it-yourself tracks for every stage and their checker (tutorials/exercises/)
    fast          the speed layer: the same ops block by block on all cores, blocked
                  attention, process tuning; switched on by GPT(..., fast=True)
    runtime       the machine a timing ran on (CPU, SIMD, BLAS)
    cli, errors   the shared command line: options from config dataclasses, one-line errors

The maths layer (functional, nn, model, optim, sparse) is what to read: whole-array
NumPy, one line per equation. The speed layer (fast) computes the same equations faster
and is tested against it.

Import submodules explicitly, e.g. ``from mediswift_np.model import GPT``. Importing
the package or any submodule changes nothing in the process (environment, allocator,
threads): the speed layer does that when it first runs (fast/tuning.py).
"""

__version__ = "0.1.0"
