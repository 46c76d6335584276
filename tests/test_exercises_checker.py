"""The checker's machinery: values over the wire, verdicts in the checker, the sandboxed worker.

- A student's functions only return values; the checker rebuilds the cases and judges.
  A worker answer with too few values, for another function, or unreadable, is a FAIL;
  a submission that writes forged results to every file descriptor scores 0.
- The worker: a hang (at import or in an exercise) is stopped by ``--timeout``, exits
  and exceptions are one-line FAILs, printed output is shown with its exercise (not with
  hidden inputs, never in ``--json``'s stdout), a ``setsid`` grandchild is killed.
- SIGTERM and SIGINT to the checker, during the import and during an exercise, leave no
  process behind.
- The command line: a TRACK line that disagrees (or is missing) is one line, exit 2.

Tests that start a worker take a second or more each and are marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
import uuid

import numpy as np
import pytest

from conftest import REPO_ROOT
from mediswift_np.errors import UserError, run_cli
from mediswift_np.exercises import FAIL, PASS, SKIP, check, load_module, wire
from mediswift_np.exercises.__main__ import main
from mediswift_np.exercises.judge import judge_exercise
from mediswift_np.exercises.spec import exercise_rng
from mediswift_np.exercises.tracks import TRACKS

SOLUTIONS = REPO_ROOT / "instructors" / "solutions"
TEMPLATES = REPO_ROOT / "tutorials" / "exercises"
LINUX = sys.platform.startswith("linux")


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def broken_copy(tmp_path, track, old, new, name="answers.py"):
    text = (SOLUTIONS / f"{track}.py").read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat", "rb").read()
            except OSError:
                continue
            kids.setdefault(int(stat[stat.rindex(b")") + 2 :].split()[1]), []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    kids, found, todo = children_map(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def alive(pids) -> list[int]:
    """The pids that are still running (zombies are gone for our purpose)."""
    out = []
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat", "rb").read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z":
            out.append(pid)
    return out


def with_marker(marker: str) -> list[int]:
    """Processes whose command line carries ``marker`` (the grandchildren the tests start)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in open(f"/proc/{entry}/cmdline", "rb").read():
                    found.append(int(entry))
            except OSError:
                continue
    return alive(found)


def grandchild_code(marker: str) -> str:
    """Python lines that start a setsid'd, double-forked sleeper whose command line carries ``marker``."""
    return (f"    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
            f"            os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', '{marker}'])\n"
            f"        os._exit(0)\n")  # fmt: skip


# ----------------------------------------------------------------------------- values and verdicts (fast)


def test_returned_values_cross_the_wire_unchanged():
    values = [np.arange(6, dtype=np.float32).reshape(2, 3), np.float32(0.5), np.int64(7), 3, 2**80, -0.0, float("nan"),
              float("inf"), "x", b"\x00\x01", None, True, (1, [2.5, ("a", np.zeros((0, 3)))]),
              {("l", "o"): 7, "k": np.array(1.5)}, np.array(3.0), np.ones((2, 2), dtype=bool)]  # fmt: skip
    for v in values:
        back = wire.decode(json.loads(json.dumps(wire.encode(v))))
        assert type(back) is type(v) or isinstance(v, float) and isinstance(back, float), (v, back)
        if isinstance(v, np.ndarray):
            assert back.dtype == v.dtype and back.shape == v.shape and np.array_equal(back, v)
        elif isinstance(v, (np.generic, float)) and np.isnan(v):
            assert np.isnan(back)
        elif not isinstance(v, (tuple, dict)):
            assert back == v and (not isinstance(v, np.generic) or back.dtype == v.dtype)
    assert wire.decode(wire.encode(((1, [2.5]),))) == ((1, [2.5]),)
    weird = wire.decode(wire.encode(types.SimpleNamespace(a=1)))
    assert type(weird).__name__ == "SimpleNamespace" and isinstance(weird, wire.Opaque)
    for bad in ({"array": "<f8", "shape": [2], "data": "AAAA"}, {"nope": 1}, [1, 2], {"scalar": "|O8", "data": ""}):
        with pytest.raises(ValueError):
            wire.decode(bad)


def test_only_a_value_for_every_case_can_pass():
    sol = load_module(SOLUTIONS / "optim.py")
    ex = TRACKS["optim"].exercise(3)
    from mediswift_np.exercises.student import call_exercise

    honest = call_exercise(ex, sol, exercise_rng(0, 3), None)
    assert judge_exercise(ex, exercise_rng(0, 3), honest).status == PASS
    short = [dict(honest[0], values=honest[0]["values"][:-1])]
    other = [dict(honest[0], function="train")]
    forged_status = [{"function": "adamw_step", "values": [], "stop": None, "status": "PASS"}]
    bad_stop = [dict(honest[0], stop="PASS")]
    unreadable = [dict(honest[0], values=[{"dict": 5}] * len(honest[0]["values"]))]
    for outcomes in (short, other, forged_status, bad_stop, unreadable, [], None, "PASS", [{"values": "x"}]):
        result = judge_exercise(ex, exercise_rng(0, 3), outcomes)
        assert result.status == FAIL and result.earned == 0, outcomes
    hidden_inputs = call_exercise(ex, sol, exercise_rng(0, 3, hidden=True), None)  # right for other inputs
    assert judge_exercise(ex, exercise_rng(0, 3), hidden_inputs).status == FAIL


def test_track_lines_must_agree_with_the_requested_track(tmp_path, capsys):
    wrong = tmp_path / "mine.py"
    wrong.write_text((SOLUTIONS / "attention.py").read_text())
    code, out, err = run(["check", "optim", "--file", str(wrong)], capsys)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "TRACK = 'attention'" in err and "'optim'" in err
    none = tmp_path / "none.py"
    none.write_text("def lr_schedule(*a):\n    return 0.0\n")
    code, _, err = run(["check", "optim", "--file", str(none)], capsys)
    assert code == 2 and err.count("\n") == 1 and "no TRACK line" in err and "'optim'" in err
    code, _, err = run(["check", str(none)], capsys)
    assert code == 2 and "no TRACK line" in err and "check TRACK --file" in err
    with pytest.raises(UserError, match="TRACK = 'attention'"):
        check(load_module(wrong), track="optim")


def test_usage_mistakes_are_one_line_exit_2_before_any_process(tmp_path, capsys):
    code, out, err = run(["check", str(tmp_path / "missing.py")], capsys)
    assert (code, out) == (2, "") and err.strip() == f"error: no such file: {tmp_path / 'missing.py'}"
    broken = tmp_path / "broken.py"
    broken.write_text('TRACK = "optim"\ndef f(:\n')
    code, _, err = run(["check", str(broken)], capsys)
    assert code == 2 and err == f"error: {broken}:2: syntax error: invalid syntax\n"
    assert run(["check", str(SOLUTIONS / "flops.py"), "-e", "9"], capsys)[0] == 2
    assert run(["check", str(tmp_path)], capsys)[0] == 2
    assert run(["grade", str(SOLUTIONS / "flops.py")], capsys)[0] == 2
    code, _, err = run(["check", "nope", "--file", str(SOLUTIONS / "bpe.py")], capsys)
    assert code == 2 and "no track 'nope'" in err
    code, _, err = run(["check", "attention", "--file", str(SOLUTIONS / "attention.py"), "-e", "9"], capsys)
    assert code == 2 and "no exercise 9 in track attention" in err
    for bad in (dict(seed=-1), dict(timeout=0), dict(track="nope")):
        with pytest.raises(UserError):
            check(SOLUTIONS / "optim.py", **bad)
    with pytest.raises(UserError):
        check(42)


def test_list_names_every_track_and_what_to_read(capsys):
    code, out, _ = run(["list"], capsys)
    assert code == 0 and all(t in out for t in TRACKS) and "template: tutorials/exercises/optim.py" in out
    code, out, _ = run(["list", "masked_linear"], capsys)
    assert code == 0 and out.count("read first:") == 5 and "needs: exercise 2" in out


# ----------------------------------------------------------------------------- the worker (slow)


@pytest.mark.slow
def test_a_file_runs_in_a_worker_with_its_output_and_one_line_fails(tmp_path, capsys):
    path = broken_copy(tmp_path, "autograd", "    grad_a = grad_out @ b.T",
                       "    print('debugging matmul', a.shape)\n    import os\n    os._exit(7)\n    grad_a = grad_out @ b.T")
    path.write_text(path.read_text().replace("def softmax(x: np.ndarray) -> np.ndarray:\n", "def softmax(x: np.ndarray) -> np.ndarray:\n    1 / 0\n", 1))
    report = check(path, exercises=[1, 2, 3], timeout=20)
    assert [e.status for e in report.exercises] == [PASS, FAIL, FAIL]
    (f,) = report.exercises[1].functions
    assert "exercise 2: the process running your code ended with status 7" in f.message and "\n" not in f.message
    assert report.exercises[1].output.startswith("debugging matmul (4, 4)")  # printed before the exit
    soft = report.exercises[2].functions[0]
    line = path.read_text().splitlines().index("    1 / 0") + 1
    assert soft.message.endswith(f"raised ZeroDivisionError: division by zero at line {line}")
    code, out, err = run(["check", str(path), "-e", "2", "--json"], capsys)  # prints never reach --json's stdout
    assert code == 1 and err == "" and len(out.strip().splitlines()) == 1
    assert "debugging matmul" in json.loads(out)["exercises"][0]["output"]
    hidden = check(path, exercises=[2], hidden=True)
    assert hidden.exercises[0].output == "(not shown with hidden inputs)"
    many = broken_copy(tmp_path, "optim", "    warmup = max(", "    print('step', step)\n    warmup = max(", "many.py")
    ex = check(many, exercises=[1]).exercises[0]
    assert ex.status == PASS and ex.output.splitlines()[-1] == "… (205 more lines)" and len(ex.output.splitlines()) == 9


@pytest.mark.slow
def test_a_hang_times_out_and_the_next_exercise_still_runs(tmp_path):
    path = broken_copy(tmp_path, "attention", "    return np.triu(", "    while True:\n        pass\n    return np.triu(")
    report = check(path, exercises=[1, 2, 3], timeout=1.5)
    assert [e.status for e in report.exercises] == [PASS, FAIL, SKIP]
    (f,) = report.exercises[1].functions
    assert f.message == "exercise 2: timed out after 1.5 s; stopped it" and "loop that never ends" in f.hint
    assert alive(descendants(os.getpid())) == []


@pytest.mark.slow
def test_an_import_that_hangs_fails_within_the_timeout_and_leaves_nothing(tmp_path, capsys):
    path = tmp_path / "hang.py"
    path.write_text('TRACK = "optim"\nprint("importing")\nwhile True:\n    pass\n')
    started = time.monotonic()
    report = check(path, timeout=3)
    assert time.monotonic() - started < 12
    assert report.error == f"{path}: importing the file did not finish within 3 s (a loop or a long computation at " \
                           "the top level?); stopped it"  # fmt: skip
    assert [e.status for e in report.exercises] == [FAIL] * 4 and report.points == (0, 5)
    assert alive(descendants(os.getpid())) == []
    path.write_text('TRACK = "optim"\nimport sys\n\nsys.exit()\n')
    code, out, err = run(["check", str(path)], capsys)
    assert (code, out) == (2, "") and err == f"error: {path}:4: importing the file raised SystemExit\n"


@pytest.mark.slow
def test_a_setsid_grandchild_is_killed_and_never_blocks_the_checker(tmp_path):
    marker = f"mediswift-test-{uuid.uuid4().hex}"
    path = broken_copy(tmp_path, "optim", "    warmup = max(", "    import os, sys\n" + grandchild_code(marker)
                       + "    while True:\n        pass\n    warmup = max(")  # fmt: skip
    started = time.monotonic()
    report = check(path, exercises=[1, 2], timeout=3)
    assert time.monotonic() - started < 12
    assert [e.status for e in report.exercises] == [FAIL, PASS]
    assert "timed out after 3 s" in report.exercises[0].functions[0].message
    assert with_marker(marker) == [] and alive(descendants(os.getpid())) == []


@pytest.mark.slow
def test_forged_results_on_every_descriptor_score_zero(tmp_path):
    path = tmp_path / "forged.py"
    lines = [json.dumps(x) for x in ({"ready": True}, {"booted": True}, {"imported": True},
                                     {"result": {"number": 1, "status": "PASS", "points": 1}},
                                     {"id": 1, "outcomes": [{"function": "lr_schedule", "values": [], "stop": None}]})]  # fmt: skip
    path.write_text('import os\nTRACK = "optim"\nLINES = ' + repr("\n".join(lines) + "\n") + "\n"
                    "def spam():\n    for fd in range(0, 64):\n        try:\n            os.write(fd, LINES.encode())\n"
                    "        except OSError:\n            pass\n"
                    "spam()\n\ndef lr_schedule(*a, **k):\n    spam()\n    return 0.0\n\n"
                    "def clip_grad_norm(*a):\n    spam()\n    return None\n")  # fmt: skip
    for hidden in (False, True):
        report = check(path, timeout=10, hidden=hidden)
        assert report.points == (0, 5) and not report.passed, report.format()
        assert [e.status for e in report.exercises] == [FAIL, FAIL, FAIL, SKIP]


@pytest.mark.slow
def test_writes_outside_the_sandbox_are_refused_and_inside_are_thrown_away(tmp_path, monkeypatch):
    from mediswift_np.exercises.confine import landlock_abi

    if landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock: writes are detected by grade, not refused (see test_exercises_grade)")
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    path = broken_copy(tmp_path, "bpe", "def split_word(word):\n", "def split_word(word):\n    import os\n"
                       f"    for p in ({str(victim)!r}, {str(tmp_path / 'new.txt')!r}, 'mine.txt'):\n"
                       "        try:\n            open(p, 'w').write('x')\n            print('wrote', p)\n"
                       "        except OSError as e:\n            print('refused', p, type(e).__name__)\n")  # fmt: skip
    ex = check(path, exercises=[1]).exercises[0]
    assert ex.status == PASS and victim.read_text() == "keep me" and not (tmp_path / "new.txt").exists()
    assert f"refused {victim} PermissionError" in ex.output and "wrote mine.txt" in ex.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.py", "victim.txt"]  # mine.txt went with the sandbox


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("where", ["import", "exercise"])
def test_interrupting_the_checker_leaves_no_process(tmp_path, sig, where):
    if not LINUX:
        pytest.skip("the process tree is read from /proc")
    marker = f"mediswift-test-{uuid.uuid4().hex}"
    loop = "import os, sys\n" + grandchild_code(marker).replace("\n    ", "\n").lstrip() + "open('started', 'w').close()\n" \
        "while True:\n    pass\n"  # fmt: skip
    if where == "import":
        text = 'TRACK = "optim"\n' + loop
    else:
        text = 'TRACK = "optim"\n\ndef lr_schedule(*a, **k):\n' + "".join(f"    {line}\n" for line in loop.splitlines())
    path = tmp_path / "answers.py"
    path.write_text(text)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    checker = subprocess.Popen([sys.executable, "-m", "mediswift_np.exercises", "check", str(path), "--timeout", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env)  # fmt: skip
    tree: set[int] = set()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # until the student's code runs (it marks its sandbox directory)
            tree |= set(descendants(checker.pid))
            cwds = []
            for pid in tree:
                try:
                    cwds.append(os.readlink(f"/proc/{pid}/cwd"))
                except OSError:
                    pass
            if any(os.path.exists(os.path.join(c, "started")) for c in cwds) and with_marker(marker):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the student's code never started")
        tree |= set(descendants(checker.pid)) | set(with_marker(marker))
        checker.send_signal(sig)
        _, err = checker.communicate(timeout=20)
    finally:
        if checker.poll() is None:
            checker.kill()
    assert checker.returncode == 130 and err.decode().strip() == "error: interrupted"
    assert len(tree) >= 3  # guard, worker, the setsid'd grandchild
    time.sleep(0.2)
    assert alive(tree) == [] and with_marker(marker) == []


@pytest.mark.slow
def test_a_template_copy_checks_itself_in_a_fresh_interpreter(tmp_path):
    copy = tmp_path / "my_answers.py"
    copy.write_text((TEMPLATES / "flops.py").read_text())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(copy)], capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    assert f"checking {copy}" in proc.stdout and "0 of 6 exercises pass, 0 fail, 6 to do" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_answers.py"]  # nothing written
    (ex,) = check(SOLUTIONS / "flops.py", exercises=[3]).exercises  # in the worker: its note uses the student's code
    assert ex.status == PASS and "training FLOPs with your functions (Table 6 prints 1.252e20)" in ex.note
