"""Where FLOP savings become wall-clock savings: one sparse linear layer, dense BLAS vs scipy.sparse.

Times forward + backward of ONE statically sparse linear layer y = x (W ⊙ m) + b (paper
Eq. 1) -- float32 input Tensor that requires a gradient, masked weight ``Parameter``,
dense bias -- on the two paths of :mod:`mediswift_np.sparse`:

- ``dense``: W ⊙ m through BLAS (multithreaded); its work does not shrink with s;
- ``scipy``: CSR × dense products for the forward and the input gradient and a sampled
  dense-dense product for the weight gradient (single-threaded); its work is (1-s) of
  the dense work, 2·nnz·N FLOPs per product.

The dense path also runs with BLAS limited to one thread ("dense 1 thread", needs
``threadpoolctl``, which scikit-learn installs): scipy's kernels use one core, and on a
shared machine a multithreaded BLAS competing with other jobs for the cores can be far
slower than a single-threaded one, so both comparisons are shown.

For each size (N tokens, in, out) and sparsity s the paths run interleaved (their order
rotates between repeats) so that machine noise hits them alike; the tables show
medians. s = 0 is the unmasked dense layer (``functional.linear``), the reference the
FLOP ratio 1-s refers to. A second table splits the time per phase -- forward,
input gradient, weight gradient -- timed on the layer's ops (``MaskedLinear``,
``ScipyMaskedLinear``) directly (each backward phase alone; the scipy path transposes the
upstream gradient in both). The break-even
sparsity is the smallest measured s at which scipy is faster overall, plus the
crossing of scipy/dense = 1 interpolated linearly in (1-s) between the measurements
around it (scipy's time is roughly a fixed cost plus a part proportional to 1-s).

This is the lesson of the paper's App. B: unstructured sparsity cuts FLOPs by (1-s),
but a CPU runs dense products near peak and sparse ones at the speed of irregular
memory access, so the FLOP savings only show up in wall-clock time when s is extreme.

``--tiny-runs`` adds whole ``python -m mediswift_np.pretrain --tiny`` runs at
s = 0, 0.5, 0.75 with both backends, the dense one also with
OPENBLAS_NUM_THREADS=1. Reported: the run's own ``wall_seconds``, the process's wall
time (start-up included) and its CPU time over all threads. At s = 0 there are no
masks, so every variant runs the same dense code -- their spread shows the noise. The
losses of the two backends agree to float32 rounding.

    python benchmarks/bench_sparse.py              # three sizes, 5/5/3 repeats (7-9 min on 2 cores)
    python benchmarks/bench_sparse.py --quick      # one small size, 3 repeats (~20 s)
    python benchmarks/bench_sparse.py --tiny-runs --no-layers

Measurements behind the library's choices (2-core cloud VM, AVX-512, OpenBLAS SkylakeX
kernels; 2026-11-27): scipy (one core) overtook one-core BLAS at s ≈ 0.96-0.98
(forward + backward), and two-core BLAS stayed faster up to s = 0.99, so the ``auto``
backend runs the dense path below ``AUTO_SCIPY_MIN_SPARSITY`` = 0.99
(mediswift_np/sparse/linear.py). ``transposed_copy`` (column blocks of 32) copied the
(N, in) activations about 4× faster than ``np.ascontiguousarray(a.T)``
(mediswift_np/sparse/scipy_path.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import scipy

from mediswift_np import functional as F
from mediswift_np import sparse
from mediswift_np.autograd import Tensor
from mediswift_np.nn import Parameter

# (N tokens, in, out) -> default timed repeats; the largest size takes ~1.5 min per repeat on 2 cores
SIZES = {(2048, 256, 1024): 5, (2048, 512, 2048): 5, (4096, 1024, 4096): 3}
QUICK_SIZES = {(2048, 256, 1024): 3}
SPARSITIES = (0.5, 0.75, 0.9, 0.95, 0.98, 0.99)  # up to sparse.AUTO_SCIPY_MIN_SPARSITY (printed with the tables)
PATHS = ("dense", "scipy")  # the two backends of mediswift_np.sparse
PHASES = ("forward", "input_grad", "weight_grad")
TINY_SPARSITIES = (0.0, 0.5, 0.75)


@dataclass(frozen=True)
class Variant:
    """A way to run the layer: a sparse backend, and optionally a cap on BLAS threads."""

    label: str
    backend: str
    blas_threads: int | None = None  # None: BLAS uses every core (its default)

    @contextmanager
    def active(self) -> Iterator[None]:
        with sparse.use_backend(self.backend):
            if self.blas_threads is None:
                yield
            else:
                from threadpoolctl import threadpool_limits

                with threadpool_limits(limits=self.blas_threads, user_api="blas"):
                    yield


DENSE, DENSE_1, SCIPY = Variant("dense", "dense"), Variant("dense 1 thread", "dense", 1), Variant("scipy", "scipy")


def variants() -> tuple[Variant, ...]:
    """dense, dense on one BLAS thread (when threadpoolctl is installed), scipy."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return DENSE, SCIPY
    return DENSE, DENSE_1, SCIPY


@dataclass
class Layer:
    """One sparse linear layer and its inputs: x (N, in) requiring grad, W (in, out) with mask m, b (out,)."""

    x: Tensor
    weight: Parameter
    bias: Parameter
    upstream: np.ndarray  # dL/dy (N, out), the gradient fed to backward


def make_layer(n_tokens: int, n_in: int, n_out: int, sparsity: float | None, rng: np.random.Generator) -> Layer:
    """A float32 layer; ``sparsity=None`` gives an unmasked weight (the dense reference)."""
    x = Tensor(rng.standard_normal((n_tokens, n_in), dtype=np.float32), requires_grad=True)
    weight = Parameter((rng.standard_normal((n_in, n_out), dtype=np.float32) * 0.02), weight_decay=True)
    if sparsity is not None:
        weight.mask = sparse.random_mask((n_in, n_out), sparsity, rng)
        weight.data[~weight.mask] = 0.0  # m ⊙ θ (Eq. 1)
        sparse.layout_of(weight)  # index arrays are built once per static mask, not per step
    bias = Parameter(np.zeros(n_out, dtype=np.float32))
    return Layer(x, weight, bias, rng.standard_normal((n_tokens, n_out), dtype=np.float32))


def forward_backward(layer: Layer, variant: Variant) -> tuple[float, float]:
    """Seconds for y = x (W ⊙ m) + b and for y.backward(dL/dy), through the public Tensor API."""
    layer.x.grad = layer.weight.grad = layer.bias.grad = None
    with variant.active():
        t0 = time.perf_counter()
        if layer.weight.mask is None:
            y = F.linear(layer.x, layer.weight, layer.bias)
        else:
            y = sparse.masked_linear(layer.x, layer.weight, layer.bias)
        t1 = time.perf_counter()
        y.backward(layer.upstream)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def phase_times(layer: Layer, variant: Variant) -> dict[str, float]:
    """Seconds of each phase of the masked layer (``MaskedLinear`` or ``ScipyMaskedLinear``): forward,
    input gradient alone, weight gradient alone."""
    fn = (sparse.ScipyMaskedLinear if variant.backend == "scipy" else sparse.MaskedLinear)((True, True, True))
    layout = sparse.layout_of(layer.weight)
    with variant.active():
        t0 = time.perf_counter()
        fn.forward(layer.x.data, layer.weight.data, layer.bias.data, layout=layout)
        t1 = time.perf_counter()
        fn.needs_grad = (True, False, False)  # dx = g (W ⊙ m)ᵀ
        fn.backward(layer.upstream)
        t2 = time.perf_counter()
        fn.needs_grad = (False, True, False)  # dW = (xᵀ g) ⊙ m
        fn.backward(layer.upstream)
        t3 = time.perf_counter()
    return {"forward": t1 - t0, "input_grad": t2 - t1, "weight_grad": t3 - t2}


@dataclass
class SizeResult:
    size: tuple[int, int, int]
    sparsities: tuple[float, ...]
    variants: tuple[Variant, ...]
    reference: dict = field(default_factory=dict)  # variant label -> [fwd+bwd seconds] of the unmasked layer
    total: dict = field(default_factory=dict)  # (s, label) -> [fwd+bwd seconds]
    phases: dict = field(default_factory=dict)  # (s, label, phase) -> [seconds]

    def median_ms(self, s: float, label: str, phase: str | None = None) -> float:
        times = self.total[(s, label)] if phase is None else self.phases[(s, label, phase)]
        return 1e3 * statistics.median(times)

    def ratios(self, baseline: str = "dense") -> list[float]:
        """scipy / baseline median time ratio per sparsity (fwd+bwd)."""
        return [self.median_ms(s, "scipy") / self.median_ms(s, baseline) for s in self.sparsities]

    def spread(self, label: str) -> float:
        """Median over sparsities of (upper quartile - lower quartile) / median: how noisy the timings were."""
        rel = []
        for s in self.sparsities:
            t = self.total[(s, label)]
            if len(t) >= 3:
                q1, _, q3 = statistics.quantiles(t, n=4, method="inclusive")
                rel.append((q3 - q1) / statistics.median(t))
        return statistics.median(rel) if rel else float("nan")


def rotated(items: tuple, r: int) -> tuple:
    """``items`` started at position r (mod len): repeat r runs the variants in this order."""
    k = r % len(items)
    return items[k:] + items[:k]


def bench_size(size: tuple[int, int, int], sparsities, repeats: int, rng: np.random.Generator, warmup: int = 1):
    """Time every variant at every sparsity, interleaved; the variant order rotates between repeats."""
    n_tokens, n_in, n_out = size
    runs = variants()
    reference = make_layer(n_tokens, n_in, n_out, None, rng)
    layers = {s: make_layer(n_tokens, n_in, n_out, s, rng) for s in sparsities}
    result = SizeResult(tuple(size), tuple(sparsities), runs)
    for r in range(warmup + repeats):
        record = r >= warmup
        order = rotated(runs, r)
        for v in order:
            if v.backend == "dense":
                fwd, bwd = forward_backward(reference, v)
                if record:
                    result.reference.setdefault(v.label, []).append(fwd + bwd)
        for s in sparsities:
            for v in order:
                fwd, bwd = forward_backward(layers[s], v)
                phases = phase_times(layers[s], v)
                if record:
                    result.total.setdefault((s, v.label), []).append(fwd + bwd)
                    for name, t in phases.items():
                        result.phases.setdefault((s, v.label, name), []).append(t)
    return result


def break_even(sparsities, ratios) -> tuple[float | None, float | None]:
    """(smallest measured s with ratio < 1, crossing of ratio = 1 interpolated linearly in 1-s).

    Between the last measured s with ratio >= 1 and the next one (ratio < 1) the ratio is
    taken as linear in (1-s) -- scipy's time is about fixed + c·(1-s), the dense time
    constant. Both are None when no measured ratio is < 1; the crossing equals the first
    measured s when scipy is already faster there.

    Example: break_even([0.5, 0.9, 0.99], [3.0, 1.5, 0.6]) -> (0.99, 0.95)
    """
    pairs = sorted(zip(sparsities, ratios))
    first = next((i for i, (_, q) in enumerate(pairs) if q < 1.0), None)
    if first is None:
        return None, None
    if first == 0:
        return pairs[0][0], pairs[0][0]
    (s0, q0), (s1, q1) = pairs[first - 1], pairs[first]
    d0, d1 = 1.0 - s0, 1.0 - s1  # densities
    d = d1 + (1.0 - q1) * (d0 - d1) / (q0 - q1)  # where the line through (d0, q0), (d1, q1) hits ratio 1
    return s1, 1.0 - d


def fmt_size(size) -> str:
    return f"({size[0]}, {size[1]}, {size[2]})"


def baselines(res: SizeResult) -> list[str]:
    return [v.label for v in res.variants if v.backend == "dense"]


def total_table(results: list[SizeResult]) -> str:
    dense = baselines(results[0])
    head = " | ".join(f"{b} ms" for b in dense)
    ratio_head = " | ".join(f"scipy / {b}" for b in dense)
    lines = [f"| size (N, in, out) | s | {head} | scipy ms | {ratio_head} | FLOP ratio 1-s |",
             "|---|---:|" + "---:|" * (2 * len(dense) + 2)]  # fmt: skip
    for res in results:
        ref = " | ".join(f"{1e3 * statistics.median(res.reference[b]):.1f}" for b in dense)
        lines.append(f"| {fmt_size(res.size)} | 0 (unmasked) | {ref} | — | {' | '.join('—' for _ in dense)} | 1.00 |")
        ratios = list(zip(*(res.ratios(b) for b in dense)))
        for s, qs in zip(res.sparsities, ratios):
            ms = " | ".join(f"{res.median_ms(s, b):.1f}" for b in dense)
            q = " | ".join(f"{x:.2f}" for x in qs)
            lines.append(f"| {fmt_size(res.size)} | {s:g} | {ms} | {res.median_ms(s, 'scipy'):.1f} | {q} | {1 - s:.2f} |")
    return "\n".join(lines)


def phase_table(results: list[SizeResult]) -> str:
    lines = [
        "| size (N, in, out) | s | path | forward ms | input grad ms | weight grad ms | weight grad share |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for res in results:
        for s in res.sparsities:
            for v in res.variants:
                ms = [res.median_ms(s, v.label, ph) for ph in PHASES]
                cells = " | ".join(f"{t:.1f}" for t in ms)
                lines.append(f"| {fmt_size(res.size)} | {s:g} | {v.label} | {cells} | {ms[2] / sum(ms):.0%} |")
    return "\n".join(lines)


def break_even_lines(results: list[SizeResult], baseline: str) -> tuple[list[str], float | None]:
    """One plain sentence per size, and the largest interpolated break-even over sizes (inf: never)."""
    lines, worst = [], None
    for res in results:
        first, crossing = break_even(res.sparsities, res.ratios(baseline))
        if first is None:
            lines.append(f"- {fmt_size(res.size)}: scipy is never faster than {baseline} up to s = {max(res.sparsities):g}.")
            worst = float("inf")
            continue
        lines.append(
            f"- {fmt_size(res.size)}: scipy is faster than {baseline} from s = {first:g} on (smallest measured s); "
            f"scipy/{baseline} crosses 1 at s ≈ {crossing:.3f} (interpolated)."
        )
        worst = crossing if worst is None else max(worst, crossing)
    return lines, worst


# -- whole tiny pre-training runs ------------------------------------------------------------------------


def pretrain_available() -> bool:
    return importlib.util.find_spec("mediswift_np.pretrain") is not None


def last_json_line(stdout: str) -> dict:
    """The JSON object on the last non-empty stdout line (the CLI's ``--json`` contract)."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("no output")
    return json.loads(lines[-1])


def run_tiny(sparsity: float, variant: Variant, out_dir: str, extra: list[str]) -> dict:
    """One ``pretrain --tiny --json`` process; its summary plus process wall and CPU seconds."""
    cmd = [sys.executable, "-m", "mediswift_np.pretrain", "--tiny", "--sparsity", str(sparsity),
           "--sparse-backend", variant.backend, "--json", "--quiet", "--out", out_dir, *extra]  # fmt: skip
    env = dict(os.environ)
    if variant.blas_threads is not None:  # read by OpenBLAS (and OpenMP/MKL builds) at start-up
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(variant.blas_threads)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise RuntimeError(f"{' '.join(cmd[2:])} exited {proc.returncode}: {tail}")
    summary = last_json_line(proc.stdout)
    summary["process_seconds"] = seconds
    summary["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # all threads
    return summary


def tiny_runs(repeats: int, extra: list[str]) -> str:
    """Markdown table of whole --tiny runs, the variants interleaved, medians over repeats."""
    runs: dict[tuple[float, str], list[dict]] = {}
    order = (DENSE, DENSE_1, SCIPY)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for s in TINY_SPARSITIES:
                for v in rotated(order, r):
                    out = os.path.join(tmp, f"s{s}-{v.backend}-{v.blas_threads}-{r}")
                    summary = run_tiny(s, v, out, extra)
                    runs.setdefault((s, v.label), []).append(summary)
                    print(f"  tiny run s={s:g} {v.label}: {summary['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
    lines = [
        "| s | path | wall_seconds | process s | CPU s (all threads) | final_loss | wall / dense |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for s in TINY_SPARSITIES:
        wall = {v.label: statistics.median(x["wall_seconds"] for x in runs[(s, v.label)]) for v in order}
        for v in order:
            proc = statistics.median(x["process_seconds"] for x in runs[(s, v.label)])
            cpu = statistics.median(x["cpu_seconds"] for x in runs[(s, v.label)])
            loss = statistics.median(x["final_loss"] for x in runs[(s, v.label)])
            lines.append(
                f"| {s:g} | {v.label} | {wall[v.label]:.1f} | {proc:.1f} | {cpu:.1f} | {loss:.4f} "
                f"| {wall[v.label] / wall['dense']:.2f} |"
            )
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one size, 3 repeats")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per cell (default: 5, 5, 3 by size; quick 3)")
    ap.add_argument("--sizes", nargs="+", default=None, metavar="N,IN,OUT", help="e.g. 2048,256,1024")
    ap.add_argument("--sparsities", nargs="+", type=float, default=list(SPARSITIES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-layers", action="store_true", help="skip the single-layer tables")
    ap.add_argument("--tiny-runs", action="store_true", help="also time whole `pretrain --tiny` runs")
    ap.add_argument("--tiny-repeats", type=int, default=1)
    ap.add_argument("--tiny-args", default="", help="extra arguments for pretrain, e.g. '--steps 100'")
    args = ap.parse_args(argv)
    if args.sizes:
        sizes = {tuple(int(v) for v in s.split(",")): 5 for s in args.sizes}
    else:
        sizes = QUICK_SIZES if args.quick else SIZES
    if args.repeats:
        sizes = {size: args.repeats for size in sizes}
    sparsities = tuple(sorted(sparse.check_sparsity(s) for s in args.sparsities))
    rng = np.random.default_rng(args.seed)

    print(f"cores: {os.cpu_count()}, numpy {np.__version__}, scipy {scipy.__version__}, float32, "
          f"load average before: {os.getloadavg()[0]:.2f}")  # fmt: skip
    if not args.no_layers:
        results = []
        for size, repeats in sizes.items():
            t0 = time.perf_counter()
            results.append(bench_size(size, sparsities, repeats, rng))
            print(f"  {fmt_size(size)} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        counts = "/".join(str(n) for n in sizes.values())
        print(f"\n### One sparse linear layer, forward + backward (medians of {counts} repeats, paths interleaved)\n")
        print(total_table(results))
        print(f"\n### Per phase (medians of {counts} repeats)\n")
        print(phase_table(results))
        print("\n### Break-even sparsity (scipy faster than the dense path, forward + backward)\n")
        for baseline in baselines(results[0]):
            lines, worst = break_even_lines(results, baseline)
            print("\n".join(lines))
            if worst == float("inf"):
                print(f"  => against {baseline}, scipy does not win at every size up to s = {max(sparsities):g}.")
            elif worst is not None:
                print(f"  => against {baseline}, the largest interpolated break-even over these sizes is s ≈ {worst:.3f}.")
        print(f"\n(AUTO_SCIPY_MIN_SPARSITY is currently {sparse.AUTO_SCIPY_MIN_SPARSITY}.)")
        spreads = "; ".join(
            f"{fmt_size(r.size)} " + ", ".join(f"{v.label} {r.spread(v.label):.0%}" for v in r.variants) for r in results
        )
        print(f"Timing spread, interquartile range / median (median over s): {spreads}.")
    if args.tiny_runs:
        print("\n### Whole `pretrain --tiny` runs\n")
        if pretrain_available():
            print(tiny_runs(args.tiny_repeats, args.tiny_args.split()))
        else:
            print("skipped: mediswift_np.pretrain does not exist yet.")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
