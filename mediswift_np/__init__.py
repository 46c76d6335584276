"""mediswift_np: a NumPy-only teaching implementation of MediSwift.

MediSwift (Thangarasa et al., 2024, arXiv:2403.00952) pre-trains GPT-3-style
biomedical language models with static unstructured weight sparsity, then fine-tunes
them densely with soft prompts. Every stage lives in its own small module here:

    config        model presets (paper Table 5) and validation
    autograd      a reverse-mode autodiff engine over NumPy arrays (+ FLOP counting)
    functional    fused ops with closed-form backward passes (softmax, LayerNorm, ...)
    nn, model     Module/Parameter and the GPT-3 decoder (GPT-2 parameter layout)
    sparse        static random masks, masked matmuls on scipy.sparse or dense BLAS
    dst           dynamic sparse training (SET, RigL) beside static sparsity
    optim         AdamW with decoupled weight decay, warmup + cosine schedule
    tokenizer     Moses + BPE trainer/encoder with fastBPE files
    data          corpus readers, the synthetic biomedical corpus and tasks (closed-book drug
                  profiles, leak-free splits), batching
    flops         the analytic FLOP counter (Hoffmann et al. 2022, App. F)
    flop_audit    sparse-equivalent, executed and analytic FLOPs, term by term
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
    parallel      one helper that runs an elementwise op on row blocks, on all cores
    runtime       the machine a timing ran on (CPU, SIMD, BLAS); keep freed memory
    cli, errors   the shared command line: options from config dataclasses, one-line errors

Import submodules explicitly, e.g. ``from mediswift_np.model import GPT``.
"""

import os

# Before NumPy loads OpenBLAS: its idle threads sleep at once instead of spinning for ~0.1 s
# after every matrix product, which took the cores from parallel.rows (see parallel.py).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"
