"""The students' copy of the course: notebooks, templates, prefaces -- no answer key, no pointer to it.

    python -m mediswift_np.exercises handout OUT_DIR

copies from the repository's ``tutorials/`` into ``OUT_DIR/tutorials/``: the course page,
the nine notebooks (with their stored outputs), and from ``exercises/`` the templates
(``*.py``), the prefaces (``*.md``) and the README. On the way it removes what points at
the worked solutions:

- every block between ``<!-- instructors -->`` and ``<!-- /instructors -->`` (in
  Markdown files and notebook Markdown cells);
- the clause "..., and worked solutions are in `...solutions/`" of the notebooks'
  last cells.

Then it checks its own output and refuses to finish (nothing is left behind) when any
file still mentions ``solutions/`` or ``instructors/``, or contains the body of a
function of ``instructors/solutions/`` (:func:`leaked_solutions`). The package itself
is not copied: students install it (``pip install`` a wheel built with ``python -m pip
wheel . -w dist`` holds only ``mediswift_np/``).

Does not handle: Markdown that points at the solutions without one of these marks --
it is refused, naming the file, rather than guessed at.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError

REPO = Path(__file__).resolve().parents[2]
INSTRUCTOR_BLOCK = re.compile(r"[ \t]*<!-- instructors -->.*?<!-- /instructors -->[ \t]*\n?", flags=re.DOTALL)
SOLUTION_CLAUSE = re.compile(r",?\s*and (?:the )?worked solutions are (?:kept )?in `[^`]*solutions/[^`]*`")
POINTERS = ("solutions/", "instructors/")


def strip_markdown(text: str) -> str:
    return SOLUTION_CLAUSE.sub("", INSTRUCTOR_BLOCK.sub("", text))


def strip_notebook(raw: str) -> str:
    nb = json.loads(raw)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = strip_markdown("".join(cell["source"]))
            cell["source"] = text.splitlines(keepends=True)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def handout_files(tutorials: Path) -> dict[str, str]:
    """{relative path: text} of the students' copy, before the checks."""
    files = {"tutorials/README.md": strip_markdown((tutorials / "README.md").read_text(encoding="utf-8"))}
    for nb in sorted(tutorials.glob("*.ipynb")):
        files[f"tutorials/{nb.name}"] = strip_notebook(nb.read_text(encoding="utf-8"))
    for path in sorted((tutorials / "exercises").iterdir()):
        if path.is_file() and path.suffix in (".py", ".md"):
            files[f"tutorials/exercises/{path.name}"] = strip_markdown(path.read_text(encoding="utf-8"))
    return files


def solution_bodies(solutions: Path) -> dict[str, list[str]]:
    """{"file.py:function": its body's statements, whitespace collapsed} for every function of the
    solutions whose body is more than a trivial line (docstrings left out)."""
    bodies = {}
    for path in sorted(solutions.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            statements = [" ".join(ast.get_source_segment(source, stmt).split()) for stmt in body]
            if sum(map(len, statements)) >= 40:
                bodies[f"{path.name}:{node.name}"] = statements
    return bodies


def leaked_solutions(files: dict[str, str], solutions: Path) -> list[str]:
    """``"file.py:function in tutorials/x"`` for every solution whose statements all appear in one file
    (comments between them do not hide it)."""
    flat = {name: " ".join(text.split()) for name, text in files.items()}
    return [f"{key} in {name}" for key, statements in solution_bodies(solutions).items()
            for name, text in flat.items() if all(stmt in text for stmt in statements)]  # fmt: skip


def build_handout(out: str | Path, repo: Path = REPO) -> list[str]:
    """Write the students' copy into ``out`` (which must not exist, or be empty); the files written."""
    out = Path(out)
    tutorials, solutions = repo / "tutorials", repo / "instructors" / "solutions"
    if not (tutorials / "README.md").is_file() or not solutions.is_dir():
        raise UserError(f"{repo} has no tutorials/ and instructors/solutions/: run this from a clone of the repository")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: exists and is not an empty directory; choose a new one")
    if not out.absolute().parent.is_dir():
        raise UserError(f"{out.absolute().parent}: no such directory")
    files = handout_files(tutorials)
    for name, text in files.items():
        pointer = next((p for p in POINTERS if p in text), None)
        if pointer:
            line = next(line for line in text.splitlines() if pointer in line).strip()
            raise UserError(f"{name} still points at the answer key ({line[:120]!r}); wrap it in "
                            "<!-- instructors --> ... <!-- /instructors -->")  # fmt: skip
    leaks = leaked_solutions(files, solutions)
    if leaks:
        raise UserError(f"the handout would contain worked solutions: {leaks[0]}")
    staging = Path(tempfile.mkdtemp(prefix=".handout-", dir=out.absolute().parent))  # same filesystem: rename
    try:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text, encoding="utf-8")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(files)
