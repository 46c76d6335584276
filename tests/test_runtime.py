"""runtime.machine_info: reports what this process runs on, and follows the switches a user
sets to emulate a smaller machine (OPENBLAS_CORETYPE, NPY_DISABLE_CPU_FEATURES)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mediswift_np.runtime import machine_info, machine_line


def _info_under(env: dict[str, str]) -> dict[str, str]:
    code = "import json; from mediswift_np.runtime import machine_info; print(json.dumps(machine_info()))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_machine_info_names_cpu_simd_and_blas():
    info = machine_info()
    assert set(info) == {"cpu", "cores", "simd", "blas", "blas_kernel", "blas_threads"}
    assert int(info["cores"]) == os.cpu_count()
    line = machine_line()
    assert info["cpu"] in line and info["blas"] in line and f"SIMD {info['simd']}" in line


def test_machine_info_follows_the_emulation_switches():
    info = machine_info()
    if not info["blas"].startswith("OpenBLAS"):
        pytest.skip(f"the BLAS here is {info['blas']}, not OpenBLAS")
    assert _info_under({"OPENBLAS_CORETYPE": "Haswell"})["blas_kernel"] == "Haswell"
    assert _info_under({"OPENBLAS_NUM_THREADS": "1"})["blas_threads"] == "1"
    from numpy._core._multiarray_umath import __cpu_dispatch__

    if info["simd"] == "AVX-512" and "X86_V4" in __cpu_dispatch__:  # numpy >= 2.4 target names
        assert _info_under({"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"})["simd"] == "AVX2"
