"""An emulator of a wafer-scale dataflow accelerator (paper App. B, Fig. 3).

Why does MediSwift's unstructured weight sparsity save wall-clock time on a Cerebras
CS-2 but not on a GPU? This package answers with a small, readable machine model:

    machine     the named machine parameters (WSE-2-like PEs and fabric; an A100-like SIMD machine)
    mapping     tiling W over the mesh of PEs; compressed tile storage (values + indices)
    emulate     the element-by-element reference emulator: computes X @ W.T, counts events per PE
    fast        the same counts in closed form and the same result vectorised (bitwise equal)
    costs       counts -> cycles: compute, metadata, fabric stall, load imbalance,
                pipeline fill, reduction, SRAM capacity -- each named and switchable
    simd        the dense SIMD baseline (fixed tiles: unstructured zeros save nothing)
    sweep       a streamed layer at several sparsities: the Fig. 3 analog
    model_view  the cycles of one training step of a whole GPT (Amdahl's law)

Command line: ``python -m mediswift_np.accelerator --rows R --cols C --sparsity S``
(``--sweep`` for the Fig. 3 table, ``--model tiny`` for the whole-model view).

Does not handle: real hardware timing. Every number is a cost model whose assumptions
are written next to the parameter they set (see :mod:`.machine`). Never imports the
autograd engine.
"""
