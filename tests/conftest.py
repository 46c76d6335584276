"""Shared test fixtures, the ``--emulate-avx2`` option and the notebook time report.

Real data (PubMedQA PQA-L, HoC) is used when the read-only ``shared/data`` folder sits
beside the repository (or ``MEDISWIFT_SHARED_DATA`` points at one); a fresh clone has
neither, and tests that need it are skipped.

``python -m pytest --emulate-avx2`` runs every notebook kernel and command-line subprocess
with the AVX-512 kernels of NumPy, OpenBLAS and PyTorch switched off
(``runtime.AVX2_ENV``), as on a student's AVX2 laptop. Whenever notebooks ran, the end of
the report lists each one's time and its slowest cell next to the machine line and the
budget, so that a change which eats the margin shows (a report, not a timed test).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Test matrices are small: BLAS threads only add scheduling overhead there (and stall
# badly when the machine is busy). Set before NumPy loads; subprocesses inherit it.
# Notebook kernels get the thread settings the user had (student_env below).
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
USER_THREAD_ENV = {var: os.environ.get(var) for var in BLAS_THREAD_VARS}
for _var in BLAS_THREAD_VARS:
    os.environ.setdefault(_var, "1")
# Hypothesis keeps a cache; keep it out of the working directory too.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="mediswift-hypothesis-"))

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


# Per notebook executed in this session: (seconds, index of the slowest cell, its seconds).
NOTEBOOK_TIMES: dict[str, tuple[float, int, float]] = {}
NOTEBOOK_MACHINE: list[str] = []  # the machine line as the notebook kernels see it (their BLAS threads)
# What a notebook may take on a 2-core AVX2 laptop (about half of it on a fast AVX-512 machine).
NOTEBOOK_BUDGET_SECONDS, CELL_BUDGET_SECONDS = 120, 60


def student_env(monkeypatch) -> None:
    """Give processes started from now on the BLAS threads a student's Jupyter would have (undo the 1 above)."""
    for var, value in USER_THREAD_ENV.items():
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)


def pytest_addoption(parser):
    parser.addoption("--emulate-avx2", action="store_true",
                     help="run notebook kernels and subprocesses with every library's AVX-512 kernels off (runtime.AVX2_ENV)")


def pytest_configure(config):
    if config.getoption("--emulate-avx2"):
        from mediswift_np.runtime import AVX2_ENV

        os.environ.update(AVX2_ENV)  # inherited by every kernel and subprocess started from now on


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not NOTEBOOK_TIMES:
        return
    from mediswift_np.runtime import machine_line

    emulated = " (kernels with AVX2 emulated)" if config.getoption("--emulate-avx2") else ""
    write = terminalreporter.write_line
    terminalreporter.section("notebook times")
    write(f"{NOTEBOOK_MACHINE[0] if NOTEBOOK_MACHINE else machine_line()}{emulated}")
    write(f"budget on a 2-core AVX2 laptop: {NOTEBOOK_BUDGET_SECONDS} s a notebook, {CELL_BUDGET_SECONDS} s a cell; about half on an AVX-512 machine")
    for name, (total, cell, seconds) in sorted(NOTEBOOK_TIMES.items()):
        write(f"  {name:<42} {total:6.1f} s   slowest: cell {cell:>2}, {seconds:5.1f} s")
    write(f"  {'all notebooks':<42} {sum(t for t, _, _ in NOTEBOOK_TIMES.values()):6.1f} s")


def shared_data_dir() -> Path | None:
    env = os.environ.get("MEDISWIFT_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "pubmedqa" / "ori_pqal.json").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the real data folder, or skip the test when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data folder (../shared/data) not present")
    return d
