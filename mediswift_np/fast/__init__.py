"""The speed layer: the maths layer's equations again, computed faster on a CPU.

Nothing here is new mathematics. The maths layer (functional, optim, the masked linear
layer of sparse) writes each equation as one line of whole-array NumPy; that is what a
student reads and what the tests derive. On a CPU that code spends its time on memory
traffic, not arithmetic: every line allocates a temporary, every elementwise pass runs
on one core over an array larger than the cache, and attention computes the half of the
score matrix the causal mask throws away. The speed layer removes those costs:

    pool.py       rows(fn, *arrays): a function on blocks of rows, on every core
    kernels.py    softmax, cross-entropy, LayerNorm, GELU as fused in-place row kernels;
                  linear with the tied output layer's gradient in the table's layout
    attention.py  causal attention in query blocks that skip the keys the mask hides
    adamw.py      the AdamW update in place, block by block
    ops.py        the twins above under the maths layer's names
    tuning.py     process settings: glibc keeps freed memory, idle OpenBLAS threads sleep

It is switched on in one place, as nanoGPT's ``if self.flash:`` switches its fused
attention: ``GPT(cfg, fast=True)`` (or ``model.use_fast()``) and ``AdamW(..., fast=True)``,
which the training entry points (pretrain, finetune) pass. A model or optimizer built
without the flag runs the maths layer. ``nn.kernels`` is the only place the maths layer
imports this package; this package imports the maths layer, never the reverse.

Each twin subclasses or wraps its maths op, counts the same FLOPs, and is tested against
it (tests/test_fast_*.py): bit-identical where the order of operations is the same, within
a stated tolerance where sums run in another order. The torch reference tests and the
float64 gradient checks run on both layers. What the speed layer buys is measured by
benchmarks/bench_engine.py (both layers, side by side) and benchmarks/profile_step.py.

Importing this package changes nothing in the process. The speed layer's process
settings (tuning.py) are applied when it first runs, so only a process that uses it gets them.
"""
