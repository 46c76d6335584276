"""The FLOP and emulator track (exercises 1-7): solutions pass, the blank template is
TODO, wrong answers fail with the hint that names the slip and never show the expected
value, and the command line exits 0 / 1 / 2.

Wrong variants are the worked solutions with one function replaced by a typical slip;
each must be recognised as that slip (its mistake key) and explained by its hint. They
run in this process (a module object); paths run in the checker's worker process. The
other tracks, the cascade and the process machinery are in test_assignments.py.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import REPO_ROOT
from mediswift_np.accelerator.mapping import tile_bounds
from mediswift_np.config import PRESETS
from mediswift_np.errors import UserError, run_cli
from mediswift_np.exercises import EXERCISES, FAIL, PASS, SKIP, TODO, check, load_module
from mediswift_np.exercises.__main__ import main
from mediswift_np.exercises.emulator import emulated_speedup
from mediswift_np.exercises.grading import same

TEMPLATE = REPO_ROOT / "tutorials" / "exercises" / "sparse_flops.py"
SOLUTIONS = REPO_ROOT / "tutorials" / "exercises" / "solutions" / "sparse_flops.py"


@pytest.fixture(scope="module")
def sol():
    return load_module(SOLUTIONS)


def variant(sol, **replaced):
    """The solutions with some functions replaced."""
    ns = types.SimpleNamespace(**{k: getattr(sol, k) for k in dir(sol) if not k.startswith("__")})
    for name, fn in replaced.items():
        setattr(ns, name, fn)
    return ns


def statuses(report):
    return {e.number: e.status for e in report.exercises}


# ----------------------------------------------------------------------------- solutions and template


@pytest.mark.parametrize("seed", [0, 1])
def test_solutions_pass_every_exercise(sol, seed):
    report = check(sol, seed=seed)
    assert [e.number for e in report.exercises] == [1, 2, 3, 4, 5, 6, 7]
    assert report.passed, report.format()
    for e in report.exercises:
        assert all(f.status == PASS and f.cases >= 6 for f in e.functions), e
        assert bool(e.note) == (e.number >= 3)  # 3-7 add a line computed with the student's functions


def test_blank_template_is_todo_everywhere():
    report = check(load_module(TEMPLATE))
    assert not report.passed
    assert report.counts() == {PASS: 0, FAIL: 0, TODO: 7, SKIP: 0}
    for e in report.exercises:
        assert all(f.status == TODO and "NotImplementedError" in f.message for f in e.functions)
    assert "read first: tutorials/05_flop_accounting.ipynb" in report.format()


def test_template_and_solutions_define_the_same_functions(sol):
    template = load_module(TEMPLATE)
    wanted = [t.function for e in EXERCISES for t in e.tasks]
    assert len(wanted) == 12 and len(set(wanted)) == 12
    for name in wanted:
        assert callable(getattr(template, name)) and callable(getattr(sol, name)), name


def test_the_check_values_quoted_in_the_template_are_right(sol):
    text = TEMPLATE.read_text()
    assert "s = 0.75 gives 4,194,304" in text
    assert sol.attention_projection_flops(PRESETS["tiny"], 128, 0.75) == 2 * 4 * 128**3 * 0.25 == 4_194_304
    assert "s = 0 gives 302,311,424" in text
    assert sol.active_params(PRESETS["med"], 0.0) == 24 * (12 * 1024**2 + 13 * 1024) + 2 * 1024 == 302_311_424
    assert "about 2.14 for Med at s = 0.75" in text
    assert round(sol.flop_savings(PRESETS["med"], 1024, 0.75), 2) == 2.14
    med = sol.training_flops(PRESETS["med"], 1024, 0.75) * 104.86e9 / 1024
    assert abs(med / 1.252e20 - 1) < 0.0014  # Table 6, within 0.14%


def test_savings_identity_of_the_solutions(sol):
    # savings = 1/(1 - f s): the closed form behind exercise 5
    for name in ("med", "large", "xl"):
        cfg = PRESETS[name]
        f = sol.sparsified_share(cfg, 1024)
        for s in (0.5, 0.75, 0.9):
            assert sol.flop_savings(cfg, 1024, s) == pytest.approx(1 / (1 - f * s), rel=1e-12)
    shares = [sol.sparsified_share(PRESETS[n], 1024) for n in ("med", "large", "xl")]
    assert shares == sorted(shares)  # larger models spend more in the six matrices


# ----------------------------------------------------------------------------- wrong answers
# Each slip is the worked solution with one typical mistake; SOL is looked up when called.

SOL = load_module(SOLUTIONS)


def attention_dense(c, S, s):
    return SOL.attention_projection_flops(c, S, 0.0)  # forgot (1 - s)


def attention_half(c, S, s):
    return SOL.attention_projection_flops(c, S, s) / 2  # a multiply-add counted as 1 FLOP


def attention_with_scores(c, S, s):
    return SOL.attention_projection_flops(c, S, s) + SOL.attention_score_flops(c, S)


def mlp_narrow(c, S, s):
    return 2 * S * 2 * c.n_embd * c.n_embd * (1 - s)  # d_ff taken as d


def forward_one_layer(c, S, s):
    return SOL.forward_flops(c.with_(n_layer=1), S, s)


def forward_dense(c, S, s):
    return SOL.forward_flops(c, S, 0.0)  # 2·m·n·k per product, no (1 - s) anywhere


def forward_sparse_scores(c, S, s):
    return SOL.forward_flops(c, S, s) - s * c.n_layer * SOL.attention_score_flops(c, S)


def training_3x(c, S, s):
    return 3 * SOL.forward_flops(c, S, s)  # the embedding lookup counted 3x


def training_2x(c, S, s):
    return 2 * SOL.forward_flops(c, S, s)


def active_scaled(c, s):
    return (1 - s) * c.n_params(embeddings=False)  # biases and LayerNorms scaled too


def active_unrounded(c, s):
    return c.n_params(embeddings=False) - c.n_layer * s * 12 * c.n_embd**2


def masked_parameters(model):
    return [p for _, p in model.named_parameters() if p.mask is not None]


def overall_over_masked(model):
    masked = masked_parameters(model)
    return sum(int((~p.mask).sum()) for p in masked) / max(1, sum(p.size for p in masked))


def overall_plain_mean(model):
    masked = masked_parameters(model)
    return float(np.mean([1 - p.mask.mean() for p in masked])) if masked else 0.0


def savings_theoretical(c, S, s):
    return 1 / (1 - s)


def savings_inverted(c, S, s):
    return 1 / SOL.flop_savings(c, S, s)


def share_of_forward(c, S):
    six = c.n_layer * (SOL.attention_projection_flops(c, S, 0) + SOL.mlp_flops(c, S, 0))
    return six / SOL.forward_flops(c, S, 0)


def counted_every_kind(counter, term):
    return counter.total(scope=term)


def counted_forward(counter, term):
    return sum(counter.total(term, kind, "forward") for kind in ("matmul", "sparse_matmul"))


def counted_dense_kind(counter, term):
    return counter.total(scope=term, kind="matmul")


def analytic_2x(c, b, S, s, term):
    return SOL.analytic_product_flops(c, b, S, s, term) * 2 / 3


def analytic_one_sequence(c, b, S, s, term):
    return SOL.analytic_product_flops(c, 1, S, s, term)


def speedup_one_minus_s(s):
    return 1 - s


def load_balanced(mask, mesh_rows, mesh_cols):
    return mask.size / mask.sum()


def load_swapped(mask, mesh_rows, mesh_cols):
    return SOL.load_limited_speedup(mask, mesh_cols, mesh_rows)


def load_remainder_last(mask, mesh_rows, mesh_cols):
    def bounds(n, p):  # equal tiles of n // p, the last one takes the remainder
        b = np.arange(p + 1) * (n // p)
        b[-1] = n
        return b

    rb, cb = bounds(mask.shape[0], mesh_rows), bounds(mask.shape[1], mesh_cols)
    busiest = max(mask[rb[i] : rb[i + 1], cb[j] : cb[j + 1]].sum() for i in range(mesh_rows) for j in range(mesh_cols))
    return float(np.diff(rb).max() * np.diff(cb).max() / busiest)


WRONG = [  # (exercise, function, wrong version, mistake key, phrase of its hint)
    (1, "attention_projection_flops", attention_dense, "no_sparsity", "multiply by (1 − s)"),
    (1, "attention_projection_flops", attention_half, "multiply_add_as_one", "2·m·k·n"),
    (1, "attention_projection_flops", attention_with_scores, "included_attention_scores", "stay dense"),
    (2, "mlp_flops", mlp_narrow, "d_ff_is_d", "d_ff = 4·d"),
    (3, "forward_flops", forward_one_layer, "missing_layers", "L = cfg.n_layer"),
    (3, "forward_flops", forward_dense, "no_sparsity", "multiply by (1 − s)"),
    (3, "forward_flops", forward_sparse_scores, "sparsified_attention_scores", "stay dense"),
    (3, "training_flops", training_3x, "embedding_counted_3x", "training = 3·forward − embeddings"),
    (3, "training_flops", training_2x, "backward_equals_forward", "backward = 2 × forward"),
    (4, "active_params", active_scaled, "sparsified_biases_and_layernorms", "biases and LayerNorm"),
    (4, "active_params", active_unrounded, "no_rounding", "round((1 − s)·rows·cols)"),
    (4, "overall_sparsity", overall_over_masked, "over_masked_matrices_only", "embeddings included"),
    (4, "overall_sparsity", overall_plain_mean, "unweighted_mean_per_parameter", "weight each s_l by N_l"),
    (5, "flop_savings", savings_theoretical, "theoretical", "1/(1 − f·s)"),
    (5, "flop_savings", savings_inverted, "inverted", "sparse/dense"),
    (5, "sparsified_share", share_of_forward, "forward_share", "3·forward − embeddings"),
    (6, "counted_product_flops", counted_every_kind, "all_kinds_in_scope", "biases"),
    (6, "counted_product_flops", counted_forward, "forward_only", "phase 'backward'"),
    (6, "counted_product_flops", counted_dense_kind, "dense_kind_only", "'sparse_matmul'"),
    (6, "analytic_product_flops", analytic_2x, "two_x_forward", "3 × forward, not 2 ×"),
    (6, "analytic_product_flops", analytic_one_sequence, "missing_batch", "multiply the per-sequence FLOPs by batch"),
    (7, "theoretical_speedup", speedup_one_minus_s, "one_minus_s", "1/(1 − s)"),
    (7, "load_limited_speedup", load_balanced, "balanced", "slowest"),
    (7, "load_limited_speedup", load_swapped, "swapped_mesh", "mesh_rows cuts the rows"),
    (7, "load_limited_speedup", load_remainder_last, "remainder_in_last_tile", "np.array_split"),
]


@pytest.mark.parametrize("number, function, wrong, mistake, phrase", WRONG, ids=[w[2].__name__ for w in WRONG])
def test_wrong_answers_fail_with_the_specific_hint(sol, number, function, wrong, mistake, phrase):
    (ex,) = check(variant(sol, **{function: wrong}), exercises=[number]).exercises
    assert ex.status == FAIL
    bad = [f for f in ex.functions if f.status == FAIL]
    assert [f.function for f in bad] == [function]
    assert bad[0].mistake == mistake, bad[0]
    assert phrase in bad[0].hint
    assert "got" in bad[0].message and "expected" not in bad[0].message  # the student's number, not the key
    assert all(f.status == PASS for f in ex.functions if f.function != function)


def test_an_unrecognised_wrong_answer_gets_the_equation(sol):
    report = check(variant(sol, mlp_flops=lambda c, S, s: 42.0), exercises=[2])
    f = report.exercises[0].functions[0]
    assert f.status == FAIL and f.mistake is None
    assert "d_ff = 4·d" in f.hint and "got 42;" in f.message
    assert "8,388,608" not in report.format() and "8388608" not in json.dumps(report.to_dict())  # the answer key


def test_errors_bad_returns_and_missing_functions_fail_cleanly(sol):
    ns = variant(sol, mlp_flops=lambda c, S, s: 1 / 0, theoretical_speedup=lambda s: [s],
                 overall_sparsity=lambda m: np.float32(0.5))
    del ns.forward_flops
    report = check(ns, exercises=[2, 3, 4, 7])
    by = {f.function: f for e in report.exercises for f in e.functions}
    assert by["mlp_flops"].status == FAIL and "raised ZeroDivisionError" in by["mlp_flops"].message
    assert by["theoretical_speedup"].status == FAIL and "expected a single number" in by["theoretical_speedup"].message
    assert by["overall_sparsity"].status == FAIL and "float32" in by["overall_sparsity"].message
    assert report.exercises[1].status == SKIP  # exercise 3 builds on exercise 2, which fails
    by = {f.function: f for f in check(ns, exercises=[3]).exercises[0].functions}
    assert by["forward_flops"].status == FAIL and "no function named forward_flops" in by["forward_flops"].message
    assert by["training_flops"].status == PASS


def test_one_function_done_one_todo_is_todo(sol):
    template = load_module(TEMPLATE)
    ns = variant(template, flop_savings=sol.flop_savings)
    (ex,) = check(ns, exercises=[5]).exercises
    assert ex.status == TODO
    assert [f.status for f in ex.functions] == [PASS, TODO]


def test_student_error_reports_the_line_of_the_file(tmp_path):
    text = SOLUTIONS.read_text().replace("    return 1 / (1 - sparsity)\n", "    return 1 / (sparsity - sparsity)\n")
    path = tmp_path / "answers.py"
    path.write_text(text)
    line = text.splitlines().index("    return 1 / (sparsity - sparsity)") + 1
    (ex,) = check(path, exercises=[7]).exercises
    assert ex.status == FAIL
    assert f"raised ZeroDivisionError: float division by zero at line {line}" in ex.functions[0].message


def test_sys_exit_in_a_function_fails_that_exercise_and_the_checker_goes_on(tmp_path, capsys):
    text = SOLUTIONS.read_text().replace("    return 1 / (1 - sparsity)\n", "    import sys\n    sys.exit(3)\n")
    path = tmp_path / "answers.py"
    path.write_text(text)
    line = text.splitlines().index("    sys.exit(3)") + 1
    ex5, ex7 = check(path, exercises=[5, 7]).exercises
    assert ex5.status == PASS and ex7.status == FAIL  # exercise 7 fails; the one checked before it still passes
    (f,) = [f for f in ex7.functions if f.function == "theoretical_speedup"]
    assert f.status == FAIL and f.message.endswith(f"raised SystemExit: 3 at line {line}")
    code, out, err = run(["check", str(path), "-e", "7"], capsys)
    assert code == 1 and err == "" and "[FAIL] theoretical_speedup" in out and "1 fail" in out  # a report, not a silent exit


def test_sys_exit_at_the_top_of_the_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "answers.py"
    path.write_text("import sys\n\nsys.exit()\n")
    code, out, err = run(["check", str(path)], capsys)
    assert (code, out) == (2, "") and err == f"error: {path}:3: importing the file raised SystemExit\n"


# ----------------------------------------------------------------------------- references and determinism


def test_emulated_speedup_is_largest_tile_over_busiest_pe():
    # 6 x 4 W on a 2 x 2 mesh: tiles of 3 x 2 = 6 weights; the busiest PE keeps 4 of them
    mask = np.zeros((6, 4), dtype=bool)
    mask[0:3, 0:2] = [[1, 1], [1, 0], [0, 1]]  # PE (0, 0): 4 nonzeros
    mask[3, 2] = mask[4, 0] = mask[5, 3] = True  # 1 or 0 elsewhere
    assert emulated_speedup(mask, 2, 2) == pytest.approx(6 / 4, rel=1e-12)
    # uneven tiles (np.array_split): 7 rows on 2 mesh rows -> 4 + 3, 5 cols on 2 -> 3 + 2; largest 12
    mask = np.zeros((7, 5), dtype=bool)
    mask[6, 4] = mask[5, 4] = mask[0, 0] = True  # busiest PE (1, 1) holds 2
    assert emulated_speedup(mask, 2, 2) == pytest.approx(12 / 2, rel=1e-12)
    assert tile_bounds(7, 2).tolist() == [0, 4, 7]


def test_emulator_reference_is_the_closed_form_on_both_paths():
    from mediswift_np.exercises import emulator

    mask = np.random.default_rng(3).random((50, 60)) >= 0.8  # 3000 weights: the closed-form path
    assert mask.size > emulator.ELEMENTWISE_LIMIT
    small = mask[:40, :40]  # 1600 weights: element by element
    rb, cb = tile_bounds(40, 3), tile_bounds(40, 5)
    busiest = max(small[rb[i]:rb[i + 1], cb[j]:cb[j + 1]].sum() for i in range(3) for j in range(5))
    assert emulated_speedup(small, 3, 5) == pytest.approx(14 * 8 / busiest, rel=1e-12)
    rb, cb = tile_bounds(50, 4), tile_bounds(60, 6)
    busiest = max(mask[rb[i]:rb[i + 1], cb[j]:cb[j + 1]].sum() for i in range(4) for j in range(6))
    assert emulated_speedup(mask, 4, 6) == pytest.approx(13 * 10 / busiest, rel=1e-12)


def test_reports_are_reproducible_and_seeds_change_the_random_inputs(sol):
    assert check(sol, seed=5).to_dict() == check(sol, seed=5).to_dict()
    presets = list(PRESETS.values())
    only_presets = variant(sol, attention_projection_flops=lambda c, S, s: sol.attention_projection_flops(c, S, s)
                           if c in presets else 0.0)  # fmt: skip
    first = {k: check(only_presets, exercises=[1], seed=k).exercises[0].functions[0].message for k in (5, 6)}
    assert all("GPTConfig(vocab_size=" in m for m in first.values())  # first wrong case: a random config
    assert first[5] != first[6]
    assert check(only_presets, exercises=[1], seed=5).exercises[0].functions[0].message == first[5]


def test_comparison_is_exact_for_integers_and_relative_for_floats():
    assert same(7, 7) and same(7.0, 7) and not same(7.000001, 7)
    assert same(1.0 + 1e-12, 1.0) and not same(1.0 + 1e-6, 1.0)
    assert not same(math.nan, 1.0) and not same(math.inf, math.inf) and not same(None, 1.0)


def test_the_checker_never_imports_the_solutions():
    package = REPO_ROOT / "mediswift_np" / "exercises"
    for path in package.glob("*.py"):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith(("import ", "from ")):
                assert "solutions" not in line and "tutorials" not in line, (path, line)
    check(load_module(TEMPLATE), exercises=[1])
    assert not any("solutions" in str(getattr(m, "__file__", "") or "") for m in list(sys.modules.values()))


# ----------------------------------------------------------------------------- command line


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_exit_codes(tmp_path, capsys):
    assert run(["check", str(SOLUTIONS), "-e", "1", "-e", "7"], capsys)[0] == 0
    code, out, _ = run(["check", str(TEMPLATE), "-e", "2"], capsys)
    assert code == 1 and "TODO" in out
    wrong = tmp_path / "wrong.py"
    wrong.write_text(SOLUTIONS.read_text().replace("return 1 / (1 - sparsity)", "return 1 - sparsity"))
    code, out, _ = run(["check", str(wrong), "--exercise", "7"], capsys)
    assert code == 1 and "[FAIL] theoretical_speedup" in out and "fraction of work left" in out
    code, out, err = run(["check", str(tmp_path / "missing.py")], capsys)
    assert code == 2 and err.strip() == f"error: no such file: {tmp_path / 'missing.py'}" and out == ""
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    code, _, err = run(["check", str(broken)], capsys)
    assert code == 2 and err.startswith(f"error: {broken}:1: syntax error")
    failing_import = tmp_path / "failing_import.py"
    failing_import.write_text("x = 1\nimport no_such_module_here\n")
    code, _, err = run(["check", str(failing_import)], capsys)
    assert code == 2 and f"{failing_import}:2: importing the file raised ModuleNotFoundError" in err
    assert run(["check", str(SOLUTIONS), "-e", "9"], capsys)[0] == 2
    assert run(["check", str(tmp_path)], capsys)[0] == 2
    assert run(["grade", str(SOLUTIONS)], capsys)[0] == 2
    code, out, _ = run(["list", "flops"], capsys)
    assert code == 0 and out.count("read first:") == 7 and "needs: exercise 1, 2" in out


def test_check_api_rejects_bad_input():
    with pytest.raises(UserError, match="no exercise 0"):
        check(SOLUTIONS, exercises=[0])
    with pytest.raises(UserError, match="seed"):
        check(SOLUTIONS, seed=-1)
    with pytest.raises(UserError):
        check(42)
    with pytest.raises(UserError, match="no track"):
        check(SOLUTIONS, track="nope")


def fresh_env():
    """The environment of a fresh interpreter that imports this checkout (as ``pip install -e`` would)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))


def test_cli_json_in_a_fresh_interpreter(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mediswift_np.exercises", "check", str(SOLUTIONS), "--json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, env=fresh_env())  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["passed"] is True and report["counts"] == {"PASS": 7, "FAIL": 0, "TODO": 0, "SKIP": 0}
    assert report["track"] == "flops" and report["points"] == report["max_points"] == 10
    assert [e["status"] for e in report["exercises"]] == ["PASS"] * 7
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_running_the_template_checks_itself(tmp_path):
    copy = tmp_path / "my_answers.py"
    copy.write_text(TEMPLATE.read_text())
    proc = subprocess.run([sys.executable, str(copy)], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env=fresh_env())  # fmt: skip
    assert proc.returncode == 1
    assert f"checking {copy}" in proc.stdout and "0 of 7 exercises pass, 0 fail, 7 to do" in proc.stdout
