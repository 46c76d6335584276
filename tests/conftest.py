"""Shared test fixtures.

Real data (PubMedQA PQA-L, HoC) is used when the read-only ``shared/data`` folder sits
beside the repository (or ``MEDISWIFT_SHARED_DATA`` points at one); a fresh clone has
neither, and tests that need it are skipped.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Test matrices are small: BLAS threads only add scheduling overhead there (and stall
# badly when the machine is busy). Set before NumPy loads; subprocesses inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Hypothesis keeps a cache; keep it out of the working directory too.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="mediswift-hypothesis-"))

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


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
