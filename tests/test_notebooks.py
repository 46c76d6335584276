"""Every tutorial notebook runs top to bottom in a fresh kernel.

Each notebook is executed with nbclient in a temporary working directory (so nothing
lands in the repository). When the real data folder exists its path is passed in
``MEDISWIFT_SHARED_DATA``; notebooks fall back to synthetic data otherwise.
A cell that raises fails the test with the cell's error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO_ROOT, shared_data_dir

NOTEBOOKS = sorted((REPO_ROOT / "tutorials").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    data = shared_data_dir()
    if data is not None:
        monkeypatch.setenv("MEDISWIFT_SHARED_DATA", str(data))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    # Every code cell ran (execution_count set) and none produced an error output.
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert all(o.get("output_type") != "error" for o in cell.get("outputs", []))
