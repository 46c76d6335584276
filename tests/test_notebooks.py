"""Every tutorial notebook runs top to bottom, shows its figures and prints its key numbers.

Two conventions in a code cell's metadata say what the cell must produce:

* ``"tags": ["figure"]`` -- the cell draws a figure: its outputs must hold an ``image/png``.
* ``"expect": {"name": [lo, hi], ...}`` -- the cell prints a line ``name = <number>`` on
  stdout (e.g. ``gap_75 = +0.140``), and lo <= number <= hi for every name (every such
  line of the cell, if it prints more than one).

Three tests use them:

* ``test_stored_outputs`` (fast, no execution): the outputs committed in each notebook
  satisfy the tags and expects, hold no error, and every cell that draws, prints or
  displays has stored outputs; a cell that creates a matplotlib figure must carry the
  "figure" tag, so no plot can go missing silently.
* ``test_notebook_runs`` (slow): each notebook is executed with nbclient in a fresh
  kernel, in a temporary working directory (so nothing lands in the repository), with
  the BLAS thread settings of the user's environment (not the test session's one thread)
  and ipykernel's default inline matplotlib backend (the one a student sees; it needs no
  display, so it works on a headless machine). No cell may raise (per-cell timeout 300 s,
  five times the 60 s a cell may take on a slow laptop), and the fresh outputs must satisfy
  the same tags and expects. Each notebook's time and its slowest cell are reported at the
  end of the run (conftest.py), never asserted. When the real data folder
  exists its path is passed in ``MEDISWIFT_SHARED_DATA``; notebooks fall back to
  synthetic data otherwise, so expected ranges must hold for both.
* ``test_checker_*``: the checker itself catches a missing figure, a missing line and an
  out-of-range number.

Ranges are meant to be robust across seeds, machines and BLAS libraries: prefer
deterministic quantities, and timings only as ratios with generous ranges.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import CELL_BUDGET_SECONDS, NOTEBOOK_MACHINE, NOTEBOOK_TIMES, REPO_ROOT, shared_data_dir, student_env

NOTEBOOKS = sorted((REPO_ROOT / "tutorials").glob("*.ipynb"))
CELL_TIMEOUT = 5 * CELL_BUDGET_SECONDS  # seconds, per cell: 5x what a cell may take on a slow laptop
FIGURE_TAG = "figure"
NUMBER = r"([-+0-9.eE]+|nan|inf)"
# Source patterns that mean "this cell produces output" / "this cell makes a matplotlib figure".
PRINTS = re.compile(r"(^|[^\w.])(print|display)\(|plt\.show\(")
MAKES_FIGURE = re.compile(r"plt\.(subplots|figure|subplot)\(")


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stdout")


def _has_png(cell) -> bool:
    return any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_cells(nb, label: str, stored: bool) -> list[str]:
    """Every way the code cells of ``nb`` break the tags/expects convention, as messages.

    ``label`` names the notebook in the messages; ``stored`` adds the checks that only make
    sense for committed outputs (every printing or plotting cell has outputs; every cell
    that makes a figure is tagged).
    """
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        where = f"{label} cell {index} (0-based, counting markdown cells)"
        meta = cell.get("metadata", {})
        tags = meta.get("tags", [])
        expect = meta.get("expect", {})
        outputs = cell.get("outputs", [])
        for o in outputs:
            if o.get("output_type") == "error":
                problems.append(f"{where}: raised {o.get('ename')}: {o.get('evalue')}")
        if FIGURE_TAG in tags and not _has_png(cell):
            problems.append(f"{where}: tagged 'figure' but has no image/png output (a plot went missing)")
        text = _stdout(cell)
        for key, bounds in expect.items():
            if not (isinstance(bounds, list) and len(bounds) == 2):
                problems.append(f"{where}: expect[{key!r}] must be [lo, hi], got {bounds!r}")
                continue
            lo, hi = bounds
            found = re.findall(rf"^\s*{re.escape(key)}\s*=\s*{NUMBER}", text, flags=re.MULTILINE)
            if not found:
                problems.append(f"{where}: expected a printed line '{key} = <number>' (range [{lo}, {hi}]), found none")
            for raw in found:
                try:
                    value = float(raw)
                except ValueError:
                    problems.append(f"{where}: '{key} = {raw}' is not a number")
                    continue
                if not lo <= value <= hi:  # also False for nan
                    problems.append(f"{where}: {key} = {raw} is outside the expected range [{lo}, {hi}]")
        if stored:
            source = _source(cell)
            if PRINTS.search(source) and not outputs:
                problems.append(f"{where}: prints or plots but has no stored output (re-run the notebook and save it)")
            if MAKES_FIGURE.search(source) and FIGURE_TAG not in tags:
                problems.append(f"{where}: makes a matplotlib figure but lacks the 'figure' tag in its metadata")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_outputs(path: Path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    problems = check_cells(nb, path.name, stored=True)
    assert not problems, "stored outputs do not match the notebook's tags/expects:\n" + "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    pytest.importorskip("ipykernel")
    data = shared_data_dir()
    if data is not None:
        monkeypatch.setenv("MEDISWIFT_SHARED_DATA", str(data))
    # The kernel must use ipykernel's inline backend, which stores figures as image/png
    # outputs; MPLBACKEND=Agg (or any other) would suppress them.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # The kernel runs as a student's would: with BLAS on every core, as the user's environment says.
    student_env(monkeypatch)
    if not NOTEBOOK_MACHINE:  # for the time report: the machine line in the kernels' environment
        line = subprocess.run([sys.executable, "-c", "from mediswift_np.runtime import machine_line; print(machine_line())"],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        NOTEBOOK_MACHINE.append(line)
    # The kernel imports this checkout's package, whatever is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # the checks below must see fresh outputs only
        if cell.cell_type == "code":
            cell.outputs = []
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell's traceback) when a cell raises
    cell_seconds = [(i, _cell_seconds(c)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    slowest = max(cell_seconds, key=lambda c: c[1])
    NOTEBOOK_TIMES[path.name] = (time.perf_counter() - start, *slowest)
    problems = check_cells(nb, path.name, stored=False)
    assert not problems, "executed notebook does not match its tags/expects:\n" + "\n".join(problems)


# ----------------------------------------------------------------------------- the checker itself


def _cell_seconds(cell) -> float:
    """A cell's run time from the timestamps nbclient records in its metadata."""
    stamps = cell.get("metadata", {}).get("execution", {})
    begin, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (begin and end):
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(begin.replace("Z", "+00:00"))).total_seconds()


def _toy_notebook(outputs: list[dict], metadata: dict, source: str = "x = 1"):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell("# toy"), cell]
    return nb


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def test_checker_flags_a_missing_figure():
    nb = _toy_notebook([_stream("hello\n")], {"tags": ["figure"]})
    (problem,) = check_cells(nb, "toy.ipynb", stored=False)
    assert "toy.ipynb cell 1" in problem and "image/png" in problem
    png = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, "metadata": {}}
    assert check_cells(_toy_notebook([png], {"tags": ["figure"]}), "toy.ipynb", stored=False) == []


def test_checker_reads_expected_numbers():
    meta = {"expect": {"gap_75": [0.0, 0.2], "ratio": [1, 3]}}
    ok = _toy_notebook([_stream("gap_75 = +0.140\n  ratio = 2.5e0\n")], meta)
    assert check_cells(ok, "toy.ipynb", stored=False) == []
    bad = _toy_notebook([_stream("gap_75 = -0.300\n")], meta)
    problems = check_cells(bad, "toy.ipynb", stored=False)
    assert len(problems) == 2
    assert any("gap_75 = -0.300 is outside the expected range [0.0, 0.2]" in p for p in problems)
    assert any("'ratio = <number>'" in p and "found none" in p for p in problems)
    nan = _toy_notebook([_stream("gap_75 = nan\n")], {"expect": {"gap_75": [0, 1]}})
    assert "outside" in check_cells(nan, "toy.ipynb", stored=False)[0]


def test_checker_wants_stored_outputs_and_figure_tags():
    silent = _toy_notebook([], {}, source="print('hi')")
    assert "no stored output" in check_cells(silent, "toy.ipynb", stored=True)[0]
    assert check_cells(silent, "toy.ipynb", stored=False) == []
    untagged = _toy_notebook([_stream("\n")], {}, source="fig, ax = plt.subplots()\nprint()")
    assert "'figure' tag" in check_cells(untagged, "toy.ipynb", stored=True)[0]
