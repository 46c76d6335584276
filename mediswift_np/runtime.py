"""What machine a timing ran on: the CPU, NumPy's SIMD level and the BLAS.

``machine_info()`` / ``machine_line()`` name the CPU, the SIMD level NumPy dispatches to and
the BLAS library with its kernel and thread count. Every benchmark and every timing cell of
the tutorials prints ``machine_line()``: a ratio measured on an AVX-512 machine with
OpenBLAS's SkylakeX kernels need not hold on an AVX2 laptop. ``openblas_function`` finds a
C function of the OpenBLAS NumPy loaded (the speed layer also uses it, in fast/pool.py and
fast/tuning.py, to set OpenBLAS's threads).

It only reads: the settings that change the process (kept memory, BLAS threads) are the
speed layer's, in mediswift_np/fast/tuning.py.

Does not handle: non-Linux platforms read no ``/proc``, so ``machine_info`` reports less
there (the CPU from ``platform``, the BLAS from NumPy's build configuration).
"""

from __future__ import annotations

import ctypes
import os
import platform

import numpy as np

# NumPy's dispatch targets by SIMD level, highest first (numpy 2.4 names its x86 targets by
# micro-architecture level: X86_V4 = AVX-512, X86_V3 = AVX2; older releases by extension).
SIMD_LEVELS = (("AVX-512", ("X86_V4", "AVX512")), ("AVX2", ("X86_V3", "AVX2")), ("AVX", ("AVX",)),
               ("SSE4", ("X86_V2", "SSE4")), ("NEON", ("ASIMD", "NEON")))  # fmt: skip


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _simd_level() -> str:
    """The widest SIMD level NumPy dispatches to in this process (NPY_DISABLE_CPU_FEATURES lowers it)."""
    try:
        from numpy._core import _multiarray_umath as umath  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import _multiarray_umath as umath
    usable = [t for t in [*umath.__cpu_baseline__, *umath.__cpu_dispatch__] if umath.__cpu_features__.get(t)]
    for level, markers in SIMD_LEVELS:
        if any(m in target for target in usable for m in markers):
            return level
    return "baseline"


def openblas_function(name: str, restype=ctypes.c_int, exact: bool = False):
    """OpenBLAS's C function ``openblas_<name>`` as loaded into this process (via ctypes), or None.

    scipy-openblas (NumPy's and SciPy's wheels) prefixes and suffixes its symbols
    (``scipy_openblas_get_config64_``); plain builds do not. With ``exact``, the symbol
    ``name`` itself (an internal one such as ``blas_thread_shutdown_``). None when no
    OpenBLAS is loaded (MKL, Accelerate) or off Linux (the library is found through
    /proc/self/maps).
    """
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.split()[-1].lower()})
    except OSError:
        return None
    names = [name] if exact else [f"{prefix}_{name}{suffix}" for prefix in ("scipy_openblas", "openblas") for suffix in ("64_", "")]
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in names:
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.restype = restype
                return fn
    return None


def _openblas() -> tuple[str, str, int] | None:
    """(config, kernel, threads) of the OpenBLAS loaded into this process."""
    config, corename = openblas_function("get_config", ctypes.c_char_p), openblas_function("get_corename", ctypes.c_char_p)
    threads = openblas_function("get_num_threads")
    if config is None or corename is None or threads is None:
        return None
    return config().decode().split(" USE")[0].strip(), corename().decode(), int(threads())


def machine_info() -> dict[str, str]:
    """Name the CPU, NumPy's SIMD level and the BLAS (kernel and threads) of this process.

    Example (a 2-core cloud VM)::

        {'cpu': 'Intel(R) Xeon(R) Processor @ 2.90GHz', 'cores': '2', 'simd': 'AVX-512',
         'blas': 'OpenBLAS 0.3.31.188.0', 'blas_kernel': 'SkylakeX', 'blas_threads': '2'}
    """
    info = {"cpu": _cpu_model(), "cores": str(os.cpu_count() or 1), "simd": _simd_level()}
    found = _openblas()
    if found is not None:
        info["blas"], info["blas_kernel"], info["blas_threads"] = found[0], found[1], str(found[2])
    else:  # MKL, Accelerate, ...: NumPy's build configuration names the library, not its kernel
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        info["blas"] = f"{blas.get('name', 'unknown BLAS')} {blas.get('version', '')}".strip()
        info["blas_kernel"], info["blas_threads"] = "unknown", "unknown"
    return info


def machine_line() -> str:
    """``machine_info()`` as one line, e.g. for the top of a benchmark's output."""
    m = machine_info()
    return f"{m['cpu']} ({m['cores']} cores, NumPy SIMD {m['simd']}); BLAS {m['blas']}, {m['blas_kernel']} kernel, {m['blas_threads']} threads"


# An AVX-512 machine made to run like an AVX2 laptop: set these before a process loads the
# libraries and each uses its AVX2 kernels (clock, caches and memory stay this machine's).
# NumPy 2.4 names its x86 SIMD targets X86_V2/V3/V4 (V4 = AVX-512) plus AVX512_ICL/SPR
# (`python -c "import numpy; numpy.show_runtime()"` lists them); older names are ignored.
# The engine benchmark (``--emulate-avx2``) and the test suite (``pytest --emulate-avx2``,
# for notebook kernels and command-line subprocesses) use them.
AVX2_ENV = {
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS: AVX2 GEMM kernels
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy: AVX2 ufunc loops
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own kernels
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # PyTorch's GEMMs (MKL)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # PyTorch's oneDNN kernels
}
