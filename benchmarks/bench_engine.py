"""Training-step throughput of the NumPy engine vs PyTorch CPU eager.

A step = forward + backward + global-norm clipping + AdamW update, float32, on random
token ids. Ours runs twice: on the speed layer (``GPT(cfg, fast=True)``, ``AdamW(...,
fast=True)``: what the training entry points run; "mediswift_np") and on the maths layer
(the readable whole-array code students read; "maths layer"), from the same weights.
PyTorch runs twice: with ``scaled_dot_product_attention`` (its fused kernel,
which skips the causally masked half of the scores and runs its softmax on all cores) and
with the attention written out as matmul + mask + softmax + matmul (full S×S scores, as
the analytic FLOP formula assumes). Both frameworks run the same architecture with the
same weights, taking turns so machine noise hits both alike; we report medians.

Taking turns fairly: each framework runs one untimed step before its timed one. Both keep
worker threads that spin for a while after their work is done (OpenBLAS's, PyTorch's
OpenMP pool); timed right after the other framework, a step shares the cores with those
spinning threads. Timed back to back, PyTorch's tiny step took 190 ms instead of 114 ms.

    python benchmarks/bench_engine.py            # tiny and small, 10 timed steps each
    python benchmarks/bench_engine.py --steps 20 --configs tiny
    python benchmarks/bench_engine.py --emulate-avx2   # both frameworks as on an AVX2 machine

PyTorch runs only if installed (pip install torch); its thread count is set to the
number of cores, the same as OpenBLAS uses for NumPy's matmuls and the speed layer's pool
(mediswift_np/fast/pool.py) for the elementwise ops (MEDISWIFT_NUM_THREADS overrides
ours). The script applies the speed layer's process settings (mediswift_np/fast/tuning.py)
before anything is timed: OpenBLAS's idle threads sleep at once and glibc keeps freed
memory for reuse, as they are whenever the speed layer runs; both frameworks run in this
one process, so both benefit.

Model FLOP utilisation: MFU = model FLOPs per second ÷ the machine's float32 GEMM rate
(the faster of NumPy's and PyTorch's on a 1024³ product, best of several). Model FLOPs are
the analytic training FLOPs of mediswift_np.flops (Hoffmann et al. App. F: forward +
2 × forward for every product) without the embedding term, which App. F prices as a
one-hot matmul but both frameworks run as a gather. Both frameworks get the same
numerator, so their MFUs compare like their tok/s.

``--emulate-avx2`` re-runs the script with the AVX-512 kernels of every library switched
off (``AVX2_ENV``): OpenBLAS's Haswell kernels, NumPy's AVX2 loops, ATen's AVX2 kernels,
and MKL / oneDNN (PyTorch's GEMMs) limited to AVX2. Close to, not the same as, a real
AVX2 machine: clock, caches and memory bandwidth stay those of this one.

Where the time goes, op by op: benchmarks/profile_step.py.

Measurements behind the speed layer's choices (mediswift_np/fast), kept here with their
dates because timings go stale; re-measure before relying on them:

- Blocks of 512 KB per array in ``pool.rows``: a 256 KB multiply (6 µs) ran no faster on
  two threads than on one, because a thread needs the GIL between NumPy calls; at 512 KB
  and up the handovers stopped mattering (2-core machine, 2026-12-03).
- ``OPENBLAS_THREAD_TIMEOUT=4``: a tiny training step 159 ms -> 140 ms, small 710 ms ->
  632 ms (AVX-512, 2 cores, 2026-12-03).
- Attention query blocks of 128 rows (``fast.attention.causal_blocks``), forward +
  backward on 2 cores: at T = 1024 they took 0.7-0.77× the time of one whole-T block; at
  T = 256 the same time as one block, while blocks of 64 took 1.3× longer (2026-12-03).
- Row sums by einsum (``fast.kernels._row_sum``): 2-4× faster than ``x.sum(axis=-1)`` on
  rows of 32-256 numbers (2026-12-03).
- Keeping freed memory (``fast.tuning.keep_freed_memory``): a fresh page costs ~0.1-0.3 µs
  to fault in on a laptop, several µs in some virtual machines, which added tens of
  percent to a step there (2026-11-27).
- Taking turns: timed right after PyTorch, without the untimed step, PyTorch's tiny step
  took 190 ms instead of 114 ms (2026-12-03).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from mediswift_np.config import GPTConfig
from mediswift_np.fast.tuning import tune_process
from mediswift_np.flops import training_flops_by_term
from mediswift_np.model import GPT
from mediswift_np.optim import AdamW, AdamWConfig
from mediswift_np.runtime import AVX2_ENV, machine_line
from mediswift_np.training import train_step

CONFIGS = {  # (config, batch size)
    "tiny": (GPTConfig(vocab_size=2048, n_ctx=128, n_layer=4, n_embd=128, n_head=4), 16),
    "small": (GPTConfig(vocab_size=8192, n_ctx=256, n_layer=6, n_embd=256, n_head=8), 8),
}


def emulate_avx2_if_asked(asked: bool) -> None:
    """Re-run this script with ``AVX2_ENV`` set (the libraries read it when they load)."""
    if asked and any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
        os.environ.update(AVX2_ENV)
        os.execv(sys.executable, [sys.executable, *sys.argv])


def gemm_rate(n: int = 1024, repeats: int = 10, use_torch: bool = False) -> float:
    """float32 FLOP/s of an (n, n) @ (n, n) product, best of ``repeats``: the machine's GEMM peak."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    if use_torch:
        import torch

        a = torch.from_numpy(a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def model_flops(cfg: GPTConfig, batch: int) -> float:
    """Analytic training FLOPs of one step (App. F, see the module docstring), embedding lookup left out."""
    terms = training_flops_by_term(cfg, cfg.n_ctx)
    return batch * (sum(terms.values()) - terms["embeddings"])


def numpy_step(model, opt, x, y):
    """One training step of ours: the library's own train_step (forward, backward, clip, AdamW)."""
    return train_step(opt, lambda: model(x, y)[1], lr=2e-4)[0]


def setup(name: str, fast: bool = True):
    """The model, optimizer and one fixed batch of a config: (cfg, x, y, model, opt), on the
    speed layer (``fast``, what training runs) or the maths layer."""
    cfg, B = CONFIGS[name]
    rng = np.random.default_rng(0)
    x = rng.integers(0, cfg.vocab_size, (B, cfg.n_ctx))  # (B, T)
    y = rng.integers(0, cfg.vocab_size, (B, cfg.n_ctx))
    model = GPT(cfg, seed=0, fast=fast)
    return cfg, x, y, model, AdamW(model.named_parameters(), AdamWConfig(), fast=fast)


def make_torch(cfg, state, fused_attention: bool):
    import torch

    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from torch_gpt import TorchGPT

    model = TorchGPT(cfg, dtype=torch.float32, fused_attention=fused_attention)
    model.load_numpy(state)
    matrices = ("c_attn/weight", "c_proj/weight", "c_fc/weight")  # weight decay as in nn.Linear: block matrices only
    decay = [p for n, p in model.params.items() if n.endswith(matrices)]
    rest = [p for n, p in model.params.items() if not n.endswith(matrices)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=2e-4, betas=(0.9, 0.95), eps=1e-8)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    return step


def bench(name: str, steps: int, warmup: int = 1) -> dict:
    cfg, x, y, model, opt = setup(name)
    *_, maths_model, maths_opt = setup(name, fast=False)  # the same weights, on the maths layer
    B, T = x.shape
    runners = {"numpy": lambda: numpy_step(model, opt, x, y), "maths": lambda: numpy_step(maths_model, maths_opt, x, y)}
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        sdpa = make_torch(cfg, model.state_dict(), fused_attention=True)
        manual = make_torch(cfg, model.state_dict(), fused_attention=False)
        runners["torch"] = lambda: sdpa(tx, ty)
        runners["torch_manual"] = lambda: manual(tx, ty)
    except ImportError:
        pass
    peak = gemm_rate()
    if "torch" in runners:
        peak = max(peak, gemm_rate(use_torch=True))
    times = {k: [] for k in runners}
    for i in range(warmup + steps):
        for k, run in runners.items():
            run()  # untimed: the other framework's spinning threads go to sleep meanwhile
            t0 = time.perf_counter()
            run()
            if i >= warmup:
                times[k].append(time.perf_counter() - t0)
    out = {"config": name, "tokens_per_step": B * T, "gemm_peak": peak}
    for k, ts in times.items():
        out[k] = B * T / statistics.median(ts)
        out[k + "_mfu"] = model_flops(cfg, B) / statistics.median(ts) / peak
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--emulate-avx2", action="store_true", help="switch off every library's AVX-512 kernels (AVX2_ENV) and re-run")
    args = ap.parse_args()
    emulate_avx2_if_asked(args.emulate_avx2)
    tuned = tune_process()  # for the whole process: PyTorch, timed beside us, benefits alike
    print(machine_line())
    print(f"numpy {np.__version__}, glibc keeps freed memory: {tuned['keep_freed_memory']}, "
          f"idle OpenBLAS threads sleep at once: {tuned['idle_blas_threads_sleep']}" + (", AVX2 emulated: " + " ".join(f"{k}={v}" for k, v in AVX2_ENV.items()) if args.emulate_avx2 else ""))
    try:
        import torch

        print(f"torch {torch.__version__}, ATen CPU capability {torch.backends.cpu.get_cpu_capability()}")
    except ImportError:
        print("torch not installed: mediswift_np only")
    print("| config | tokens/step | GEMM peak GFLOP/s | mediswift_np tok/s | MFU | maths layer tok/s | speed-up | PyTorch eager (SDPA) tok/s | MFU | ratio | PyTorch eager (same attention as ours) tok/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.configs:
        r = bench(name, args.steps)
        cells = [f"{r['gemm_peak'] / 1e9:.0f}", f"{r['numpy']:,.0f}", f"{r['numpy_mfu']:.0%}", f"{r['maths']:,.0f}", f"{r['numpy'] / r['maths']:.2f}"]
        t = r.get("torch")
        cells += [f"{t:,.0f}", f"{r['torch_mfu']:.0%}", f"{r['numpy'] / t:.2f}"] if t else ["n/a"] * 3
        t = r.get("torch_manual")
        cells += [f"{t:,.0f}", f"{r['numpy'] / t:.2f}"] if t else ["n/a"] * 2
        print(f"| {name} | {r['tokens_per_step']} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
