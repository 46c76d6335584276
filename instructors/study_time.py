"""A student's reading and exercise time per unit, estimated from the material itself.

    python instructors/study_time.py

The course page (tutorials/README.md) quotes this table; re-run it after editing a
notebook, a template, a preface or a solution. The model, in minutes:

    notebook   words of Markdown / 100 (technical prose with equations, read carefully)
               + 2 per display equation (worked through, not just read)
               + non-blank code lines / 10 (read before running)
               + 1 per code cell (run it, compare the output with the text)
               + 10 per "Try it yourself" item
    track      words of the template and its preface / 100
               + 8 per function to write (read its docstring, plan, run the checker)
               + 2 per line of the worked solution's function bodies (write, debug, re-check)

The constants are assumptions, not measurements with students; time a pilot student and
adjust them. The worked solutions (instructors/solutions/) serve only as a measure of how
much code each function needs.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from mediswift_np.exercises import TRACKS

REPO = Path(__file__).resolve().parents[1]
WORDS_PER_MINUTE, PER_EQUATION, CODE_LINES_PER_MINUTE, PER_CELL, PER_TRY = 100, 2, 10, 1, 10
PER_FUNCTION, PER_SOLUTION_LINE = 8, 2


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9][\w'’\-]*", text))


def notebook_minutes(path: Path) -> float:
    cells = json.loads(path.read_text())["cells"]
    text = {id(c): "".join(c["source"]) for c in cells}
    markdown = [text[id(c)] for c in cells if c["cell_type"] == "markdown"]
    code = [text[id(c)] for c in cells if c["cell_type"] == "code"]
    tries = sum(t.count("\n* ") for t in markdown if "Try it yourself" in t)
    return (sum(words(t) for t in markdown) / WORDS_PER_MINUTE + PER_EQUATION * sum(t.count("$$") // 2 for t in markdown)
            + sum(len([x for x in t.splitlines() if x.strip()]) for t in code) / CODE_LINES_PER_MINUTE
            + PER_CELL * len(code) + PER_TRY * tries)  # fmt: skip


def track_minutes(name: str) -> float:
    folder = REPO / "tutorials" / "exercises"
    reading = sum(words(p.read_text()) for p in (folder / f"{name}.py", folder / f"{name}.md") if p.exists())
    solution = (REPO / "instructors" / "solutions" / f"{name}.py").read_text()
    lines = 0
    for node in ast.parse(solution).body:
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            lines += sum(len(ast.get_source_segment(solution, stmt).splitlines()) for stmt in body)
    functions = sum(len(e.tasks) for e in TRACKS[name].exercises)
    return reading / WORDS_PER_MINUTE + PER_FUNCTION * functions + PER_SOLUTION_LINE * lines


def main() -> None:
    notebooks = sorted((REPO / "tutorials").glob("*.ipynb"))
    total = [0.0, 0.0]
    print(f"{'unit':<40}{'notebook':>10}{'track':>16}")
    for path, track in zip(notebooks, TRACKS.values()):
        n, t = notebook_minutes(path), track_minutes(track.name)
        total[0], total[1] = total[0] + n, total[1] + t
        print(f"{path.stem:<40}{n:>7.0f} min{t:>9.0f} min  {track.name}")
    print(f"{'total':<40}{total[0] / 60:>8.1f} h{total[1] / 60:>14.1f} h")


if __name__ == "__main__":
    main()
