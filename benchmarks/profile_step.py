"""Where the time of one training step goes, op by op, next to its GEMM-peak bound.

Every ``Function`` subclass (Linear, CausalSelfAttention, LayerNorm, GELU, ...) gets its
``forward`` and ``backward`` wrapped by a timer and a FLOP counter for the duration of
the profile; the optimizer (global-norm clipping + AdamW) is timed as one more row, and
whatever is left of the step (graph walk, gradient accumulation, Python) is "engine".

For each op the table prints its share of the step and its *GEMM-peak bound*: its
counted FLOPs divided by the machine's measured float32 GEMM rate -- the time it would
take if every FLOP ran as fast as a large matrix product. "× bound" is the measured time
over that bound: about 1-2 for the matrix products, 10-100× for elementwise ops, which
are limited by memory traffic, not arithmetic (counter.py's "does not handle").

    python benchmarks/profile_step.py                  # tiny, 10 profiled steps, speed layer
    python benchmarks/profile_step.py --config small --steps 5
    python benchmarks/profile_step.py --maths          # the maths layer's step instead
    python benchmarks/profile_step.py --emulate-avx2   # as on an AVX2 machine (see bench_engine.py)

Does not handle: time inside an op is wall time including its share of BLAS threads; the
per-op timers add a few µs per call (a small bias towards many-small-op rows).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from bench_engine import CONFIGS, emulate_avx2_if_asked, gemm_rate, model_flops, numpy_step, setup
from mediswift_np.autograd import Function, count_flops
from mediswift_np.fast.tuning import tune_process
from mediswift_np.runtime import machine_line


def _all_functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


class OpTimer:
    """Wraps forward/backward of every Function subclass with a timer + FLOP counter."""

    def __init__(self):
        self.seconds = defaultdict(float)  # (op, phase) -> s
        self.flops = defaultdict(int)  # (op, phase) -> FLOPs
        self.saved = []
        self.paused = False

    def _wrap(self, cls, phase):
        original = cls.__dict__[phase]
        timer = self

        def timed(fn_self, *args, **kwargs):
            with count_flops() as c:
                t0 = time.perf_counter()
                out = original(fn_self, *args, **kwargs)
                dt = time.perf_counter() - t0
            key = (type(fn_self).__name__, phase)
            timer.flops[key] += c.total()
            if not timer.paused:
                timer.seconds[key] += dt
            return out

        self.saved.append((cls, phase, original))
        setattr(cls, phase, timed)

    def __enter__(self):
        for cls in set(_all_functions()):
            for phase in ("forward", "backward"):
                if phase in cls.__dict__:
                    self._wrap(cls, phase)
        return self

    def __exit__(self, *exc):
        for cls, phase, original in reversed(self.saved):
            setattr(cls, phase, original)


def profile(name: str, steps: int, warmup: int = 2, statistic=statistics.median, fast: bool = True) -> None:
    cfg, x, y, model, opt = setup(name, fast)
    B, T = x.shape
    for _ in range(warmup):
        numpy_step(model, opt, x, y)
    plain, per_step = [], []  # step times without timers; per-step {row: seconds} with them
    with OpTimer() as timer:
        for _ in range(steps):
            timer.seconds.clear()
            t0 = time.perf_counter()
            opt.zero_grad()
            _, loss = model(x, y)
            loss.backward()
            t1 = time.perf_counter()
            opt.clip_grad_norm()
            opt.step(2e-4)
            t2 = time.perf_counter()
            rows = dict(timer.seconds)
            rows[("optimizer (clip+AdamW)", "backward")] = t2 - t1
            rows[("engine (graph, +=)", "backward")] = (t1 - t0) - sum(timer.seconds.values())
            rows[("step", "backward")] = t2 - t0
            per_step.append(rows)
            timer.paused = True  # an untimed step between timed ones, for tok/s and MFU
            t0 = time.perf_counter()
            numpy_step(model, opt, x, y)
            plain.append(time.perf_counter() - t0)
            timer.paused = False
    peak = gemm_rate()
    step = statistic(plain)
    med = {k: statistic([r.get(k, 0.0) for r in per_step]) for k in per_step[0]}  # per row: robust to a noisy machine
    flops = {k: n / (2 * steps) for k, n in timer.flops.items()}  # counted in timed and untimed steps
    total = med.pop(("step", "backward"))
    ops = sorted({op for op, _ in med}, key=lambda op: -(med.get((op, "forward"), 0) + med.get((op, "backward"), 0)))
    print(f"\n{name} ({'speed' if fast else 'maths'} layer): B={B}, T={T}, {B * T / step:,.0f} tok/s ({statistic.__name__} of {steps} untimed steps), "
          f"float32 GEMM peak {peak / 1e9:.0f} GFLOP/s, MFU {model_flops(cfg, B) / step / peak:.0%}")
    print(f"{'op':<24}{'fwd ms':>9}{'bwd ms':>9}{'share':>8}{'GFLOP':>9}{'bound ms':>10}{'× bound':>9}")
    for op in ops:
        f, b = med.get((op, "forward"), 0.0), med.get((op, "backward"), 0.0)
        fl = flops.get((op, "forward"), 0) + flops.get((op, "backward"), 0)
        bound = fl / peak
        ratio = f"{(f + b) / bound:.1f}" if bound > 0 else "-"
        gflop = f"{fl / 1e9:.3f}" if fl else "-"
        print(f"{op:<24}{f * 1e3:>9.2f}{b * 1e3:>9.2f}{(f + b) / total:>8.1%}{gflop:>9}{bound * 1e3:>10.2f}{ratio:>9}")
    print(f"{'step (with timers)':<24}{'':>9}{total * 1e3:>9.2f}{f'({statistic.__name__}s per row; they need not add up)':>44}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="tiny", choices=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--emulate-avx2", action="store_true", help="re-run as on an AVX2 machine (see bench_engine.py)")
    ap.add_argument("--min", action="store_true", help="report the fastest step instead of the median (a busy machine)")
    ap.add_argument("--maths", action="store_true", help="profile the maths layer (GPT(cfg)) instead of the speed layer")
    args = ap.parse_args()
    emulate_avx2_if_asked(args.emulate_avx2)
    tune_process()  # as the speed layer does when it first runs; the maths layer's profile gets it too
    print(machine_line())
    profile(args.config, args.steps, statistic=min if args.min else statistics.median, fast=not args.maths)


if __name__ == "__main__":
    main()
