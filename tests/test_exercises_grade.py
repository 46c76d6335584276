"""The instructor's side: grading a folder, Gradescope's results.json, the students' handout.

- ``grade`` gives every submission the same JSON keys (one that does not import, one
  whose TRACK line names another track, one that tampers with its neighbour); the
  neighbour still gets full marks and its file is untouched; the table says why each
  exercise failed.
- ``--format gradescope`` is valid against Gradescope's documented results.json schema
  (https://gradescope-autograders.readthedocs.io/en/latest/specs/), per exercise, with
  visible reasons and hidden inputs.
- ``handout`` copies the course without the worked solutions: no solution function body
  and no pointer to the answer key appears in it.
"""

from __future__ import annotations

import ast
import json
import os

import pytest

from conftest import REPO_ROOT
from mediswift_np.errors import run_cli
from mediswift_np.exercises import FAIL, PASS, SKIP, TODO
from mediswift_np.exercises.__main__ import main
from mediswift_np.exercises.confine import landlock_abi
from mediswift_np.exercises.grade import format_table, gradescope_results
from mediswift_np.exercises.handout import build_handout

SOLUTIONS = REPO_ROOT / "instructors" / "solutions"
TEMPLATES = REPO_ROOT / "tutorials" / "exercises"


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def keys(obj, prefix=""):
    """Every key path of a JSON object, lists of objects merged (``exercises[].functions[].hint``)."""
    if isinstance(obj, dict):
        return {k for key, value in obj.items() for k in {prefix + key} | keys(value, prefix + key + ".")}
    if isinstance(obj, list):
        return {k for item in obj for k in keys(item, prefix.rstrip(".") + "[].")}
    return set()


# ----------------------------------------------------------------------------- Gradescope's schema, as documented

VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP = {"score": (int, float), "execution_time": (int, float), "output": str, "output_format": str,
       "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
       "extra_data": dict, "tests": list, "leaderboard": list}  # fmt: skip
TEST = {"score": (int, float), "max_score": (int, float), "status": str, "name": str, "name_format": str,
        "number": str, "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict}  # fmt: skip


def gradescope_errors(results: dict) -> list[str]:
    """What makes ``results`` an invalid results.json (empty when it is valid)."""
    errors = [f"unknown top-level key {k!r}" for k in results if k not in TOP]
    errors += [f"{k} is {type(v).__name__}" for k, v in results.items() if k in TOP and not isinstance(v, TOP[k])]
    if "score" not in results and not all("score" in t for t in results.get("tests", [])):
        errors.append("a score is required at the top level or on every test")
    for key in ("visibility", "stdout_visibility"):
        if key in results and results[key] not in VISIBILITY:
            errors.append(f"{key} {results[key]!r}")
    for i, test in enumerate(results.get("tests", [])):
        errors += [f"tests[{i}]: unknown key {k!r}" for k in test if k not in TEST]
        errors += [f"tests[{i}].{k} is {type(v).__name__}" for k, v in test.items() if k in TEST and not isinstance(v, TEST[k])]
        if test.get("visibility", "visible") not in VISIBILITY or test.get("status", "passed") not in ("passed", "failed"):
            errors.append(f"tests[{i}]: bad visibility or status")
        if test.get("output_format", "text") not in FORMATS:
            errors.append(f"tests[{i}]: bad output_format")
        if "score" in test and "max_score" in test and not 0 <= test["score"] <= test["max_score"]:
            errors.append(f"tests[{i}]: score outside [0, max_score]")
    return errors


def test_the_schema_check_rejects_what_the_documentation_does_not_allow():
    assert gradescope_errors({"score": 1.0, "tests": [{"name": "a", "score": 1, "max_score": 1}]}) == []
    for bad in ({"tests": [{"name": "a"}]}, {"score": "1"}, {"score": 1, "visibility": "students"},
                {"score": 1, "tests": [{"score": 3, "max_score": 2}]}, {"score": 1, "points": 1},
                {"score": 1, "tests": [{"status": "ok"}]}):  # fmt: skip
        assert gradescope_errors(bad), bad


# ----------------------------------------------------------------------------- grade FOLDER


@pytest.mark.slow
def test_grade_gives_every_submission_the_same_keys_and_the_right_points(tmp_path, capsys):
    folder = tmp_path / "submissions"
    folder.mkdir()
    solution = (SOLUTIONS / "bpe.py").read_text()
    (folder / "alice.py").write_text(solution)
    (folder / "bob.py").write_text((TEMPLATES / "bpe.py").read_text())
    (folder / "carol.py").write_text(solution.replace("(stats[pair], pair)", "stats[pair]"))  # ties: first seen
    (folder / "dave.py").write_text('TRACK = "bpe"\nimport numpy\ndef f(:\n')
    (folder / "erin.py").write_text((SOLUTIONS / "optim.py").read_text())  # the wrong assignment
    (folder / "frank.py").write_text('TRACK = "bpe"\nimport no_such_module_here\n')
    work = tmp_path / "grader"
    work.mkdir()
    (folder / "mallory.py").write_text(  # overwrites alice, writes into the grader's directory, forges results
        'import os\nTRACK = "bpe"\n'
        f"for path in ({str(folder / 'alice.py')!r}, {str(work / 'pwned.txt')!r}):\n"
        "    try:\n        open(path, 'w').write('TRACK = \"bpe\"\\n')\n    except OSError:\n        pass\n"
        "for fd in range(64):\n    try:\n        os.write(fd, b'{\"ready\": true}\\n{\"result\": \"PASS\"}\\n')\n"
        "    except OSError:\n        pass\n")  # fmt: skip
    before = (folder / "alice.py").read_bytes()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        code, out, _ = run(["grade", "bpe", str(folder), "--json", "--hidden", "--seed", "7"], capsys)
    finally:
        os.chdir(cwd)
    assert code == 0
    rows = json.loads(out.strip().splitlines()[-1])["submissions"]
    graded = {row["file"]: row for row in rows}
    assert len({frozenset(keys(row)) for row in rows}) == 1  # one schema, whatever happened
    assert all(len(row["exercises"]) == 5 and row["hidden"] for row in rows)
    status = {name: [e["status"] for e in row["exercises"]] for name, row in graded.items()}
    points = {name: row["points"] for name, row in graded.items()}
    assert points == {"alice.py": 6, "bob.py": 0, "carol.py": 3, "dave.py": 0, "erin.py": 0, "frank.py": 0, "mallory.py": 0}
    assert status["bob.py"] == [TODO] * 5 and status["carol.py"] == [PASS, PASS, FAIL, PASS, SKIP]
    assert "syntax error" in graded["dave.py"]["error"] and status["dave.py"] == [FAIL] * 5
    assert "TRACK = 'optim'" in graded["erin.py"]["error"] and "'bpe'" in graded["erin.py"]["error"]
    assert "ModuleNotFoundError" in graded["frank.py"]["error"]
    assert graded["alice.py"]["passed"] and graded["alice.py"]["error"] is None
    if landlock_abi() >= 1:  # refused by the kernel: nothing changed, nothing to warn about
        assert (folder / "alice.py").read_bytes() == before and not (work / "pwned.txt").exists()
        assert all(row["warnings"] == [] for row in rows)
    else:  # detected: alice was graded from the bytes read before anything ran, mallory's row says what it did
        assert any("alice.py" in w for w in graded["mallory.py"]["warnings"])
    table = format_table("bpe", rows).splitlines()  # what grade prints without --json: why each one failed
    assert table[1].split() == ["alice.py", "6", "/", "6"] + [PASS] * 5
    at = table.index(next(line for line in table if line.startswith("carol.py")))
    assert table[at + 1].split()[:3] == ["3", "FAIL", "best_pair:"] and "[first_seen]" in table[at + 1]
    assert table[at + 2].split()[:2] == ["5", "SKIP"] and "depends on exercise 3" in table[at + 2]
    assert any(line.strip().startswith("error: dave.py:3: syntax error") for line in table)
    assert "hidden cases" in table[at + 1]  # the inputs stay hidden


@pytest.mark.slow
def test_gradescope_results_follow_the_documented_schema(tmp_path, capsys):
    one = tmp_path / "submission"
    one.mkdir()
    text = (SOLUTIONS / "optim.py").read_text().replace("if norm > max_norm:", "if True:")  # always scaled
    (one / "my_optim.py").write_text(text.replace("return param\n", "print('secret input', param)\n    return param\n"))
    out_file = tmp_path / "results" / "results.json"
    out_file.parent.mkdir()
    code, out, _ = run(["grade", "optim", str(one), "--format", "gradescope", "--out", str(out_file)], capsys)
    assert code == 0 and out == ""
    results = json.loads(out_file.read_text())
    assert gradescope_errors(results) == []
    assert [t["status"] for t in results["tests"]] == ["passed", "failed", "passed", "failed"]
    assert [t["max_score"] for t in results["tests"]] == [1.0, 1.0, 1.0, 2.0] and results["score"] == 2.0
    assert results["score"] == sum(t["score"] for t in results["tests"])
    assert all(t["visibility"] == "visible" for t in results["tests"]) and results["stdout_visibility"] == "hidden"
    clip = results["tests"][1]["output"]
    assert "hidden cases" in clip and "hint: clip only when norm > max_norm" in clip  # the reason, not the inputs
    assert "secret input" not in json.dumps(results) and "grads=<" not in json.dumps(results)
    assert "skipped: depends on exercise 2" in results["tests"][3]["output"]
    (one / "notes.py").write_text("x = 1\n")  # two files: not graded, and the student is told why
    code, out, _ = run(["grade", "optim", str(one), "--format", "gradescope"], capsys)
    results = json.loads(out)
    assert code == 0 and gradescope_errors(results) == [] and results["score"] == 0.0
    assert "upload exactly one .py file" in results["output"] and len(results["tests"]) == 4


def test_gradescope_results_for_a_file_that_does_not_import():
    from mediswift_np.exercises import check_source

    report = check_source(b'TRACK = "optim"\ndef f(:\n', "mine.py", "optim")
    results = gradescope_results("optim", [{"file": "mine.py", **report.to_dict()}])
    assert gradescope_errors(results) == [] and results["score"] == 0.0
    assert results["output"] == "error: mine.py:2: syntax error: invalid syntax"
    assert all(t["status"] == "failed" and "not run: mine.py:2" in t["output"] for t in results["tests"])


def test_grade_usage_mistakes(tmp_path, capsys):
    assert run(["grade", "bpe", str(tmp_path / "none")], capsys)[0] == 2
    assert run(["grade", "bpe", str(tmp_path)], capsys)[0] == 2  # no .py files
    code, _, err = run(["grade", "bpe", str(tmp_path), "--out", str(tmp_path / "x.json")], capsys)
    assert code == 2 and "--out writes JSON" in err and not (tmp_path / "x.json").exists()


# ----------------------------------------------------------------------------- the handout


def solution_bodies() -> dict[str, list[str]]:
    """Each solution function's body, as its lines of code (comments and docstring left out)."""
    bodies = {}
    for path in SOLUTIONS.glob("*.py"):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                lines = [line.split("  #")[0].strip() for stmt in body
                         for line in ast.get_source_segment(source, stmt, padded=True).splitlines()]  # fmt: skip
                bodies[f"{path.name}:{node.name}"] = [line for line in lines if line]
    return bodies


def test_the_handout_has_no_solution_and_no_pointer_to_one(tmp_path, capsys):
    out = tmp_path / "handout"
    code, printed, _ = run(["handout", str(out)], capsys)
    assert code == 0 and str(out) in printed
    files = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert {f"tutorials/exercises/{p.name}" for p in TEMPLATES.glob("*.py")} <= set(files)
    assert {f"tutorials/{p.name}" for p in (REPO_ROOT / "tutorials").glob("*.ipynb")} <= set(files)
    assert "tutorials/README.md" in files and "tutorials/exercises/optim.md" in files
    assert not any(name.startswith("instructors") or "solutions" in name for name in files)
    for name, text in files.items():
        assert "solutions/" not in text and "instructors/" not in text, name
    bodies = solution_bodies()
    control = " ".join((SOLUTIONS / "optim.py").read_text().split())  # the detector finds a body where it is
    assert all(" ".join(line.split()) in control for line in bodies["optim.py:adamw_step"])
    for function, lines in bodies.items():  # no file holds every line of a solution's body
        if sum(map(len, lines)) >= 40:  # a body of a real line or more (not `return 1 / (1 - s)` alone)
            for name, text in files.items():
                flat = " ".join(text.split())
                assert not all(" ".join(line.split()) in flat for line in lines), (function, name)
    for p in TEMPLATES.glob("*.py"):  # the templates themselves are unchanged
        assert files[f"tutorials/exercises/{p.name}"] == p.read_text()
    last = json.loads(files["tutorials/06_sparse_pretraining.ipynb"])["cells"][-1]
    assert "".join(last["source"]).count("check optim") == 1  # the pointer to the track stays
    code, _, err = run(["handout", str(out)], capsys)
    assert code == 2 and "not an empty directory" in err


def test_the_handout_refuses_a_pointer_it_cannot_remove_and_leaves_nothing(tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "tutorials", repo / "tutorials")
    shutil.copytree(SOLUTIONS, repo / "instructors" / "solutions")
    notes = repo / "tutorials" / "exercises" / "README.md"
    notes.write_text(notes.read_text() + "\nPeek at instructors/solutions/optim.py when stuck.\n")
    with pytest.raises(Exception, match="still points at the answer key"):
        build_handout(tmp_path / "out", repo)
    notes.write_text(notes.read_text().replace("Peek at instructors/solutions/optim.py when stuck.\n", ""))
    leak = repo / "tutorials" / "exercises" / "optim.py"
    leak.write_text(leak.read_text() + "\n\n" + (SOLUTIONS / "optim.py").read_text().split("# ---")[2])
    with pytest.raises(Exception, match="would contain worked solutions: optim.py:"):
        build_handout(tmp_path / "out", repo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # nothing half-written
