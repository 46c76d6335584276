"""Training-step throughput of the NumPy engine vs PyTorch CPU eager.

A step = forward + backward + global-norm clipping + AdamW update, float32, on random
token ids. PyTorch runs twice: with ``scaled_dot_product_attention`` (its fused kernel,
which skips the causally masked half of the scores and runs its softmax on all cores) and
with the attention written out as matmul + mask + softmax + matmul, the algorithm
mediswift_np runs (full S×S scores, as the analytic FLOP formula assumes). Both
frameworks run the same architecture with the same weights, alternating step by step so
machine noise hits both alike; we report medians.

    python benchmarks/bench_engine.py            # tiny and small, 10 timed steps each
    python benchmarks/bench_engine.py --steps 20 --configs tiny

PyTorch runs only if installed (pip install torch); its thread count is set to the
number of cores, the same as OpenBLAS uses for NumPy's matmuls. The process asks glibc to
keep freed memory for reuse (mediswift_np.runtime), as the training CLIs do; both
frameworks run in this one process, so both benefit.
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
from mediswift_np.model import GPT
from mediswift_np.optim import AdamW, AdamWConfig
from mediswift_np.runtime import keep_freed_memory

CONFIGS = {  # (config, batch size)
    "tiny": (GPTConfig(vocab_size=2048, n_ctx=128, n_layer=4, n_embd=128, n_head=4), 16),
    "small": (GPTConfig(vocab_size=8192, n_ctx=256, n_layer=6, n_embd=256, n_head=8), 8),
}


def numpy_step(model, opt, x, y):
    opt.zero_grad()
    _, loss = model(x, y)
    loss.backward()
    opt.clip_grad_norm()
    opt.step(2e-4)
    return loss.item()


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


def bench(name: str, steps: int, warmup: int = 2) -> dict:
    cfg, B = CONFIGS[name]
    T = cfg.n_ctx
    rng = np.random.default_rng(0)
    x = rng.integers(0, cfg.vocab_size, (B, T))
    y = rng.integers(0, cfg.vocab_size, (B, T))
    model = GPT(cfg, seed=0)
    opt = AdamW(model.named_parameters(), AdamWConfig())
    runners = {"numpy": lambda: numpy_step(model, opt, x, y)}
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
    times = {k: [] for k in runners}
    for i in range(warmup + steps):
        for k, run in runners.items():
            t0 = time.perf_counter()
            run()
            if i >= warmup:
                times[k].append(time.perf_counter() - t0)
    out = {"config": name, "tokens_per_step": B * T}
    for k, ts in times.items():
        out[k] = B * T / statistics.median(ts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = ap.parse_args()
    applied = keep_freed_memory()  # for the whole process: PyTorch, timed beside us, benefits alike
    print(f"cores: {os.cpu_count()}, numpy {np.__version__}, glibc keeps freed memory: {applied}")
    print("| config | tokens/step | mediswift_np tok/s | PyTorch eager (SDPA) tok/s | ratio | PyTorch eager (same attention as ours) tok/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.configs:
        r = bench(name, args.steps)
        cells = []
        for key in ("torch", "torch_manual"):
            t = r.get(key)
            cells += [f"{t:,.0f}", f"{r['numpy'] / t:.2f}"] if t else ["n/a", "n/a"]
        print(f"| {name} | {r['tokens_per_step']} | {r['numpy']:,.0f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
