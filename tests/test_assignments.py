"""The build-it-yourself tracks and the checker's process machinery.

- Every worked solution passes every exercise of its track; every blank template is TODO.
- For each track, typical slips (the worked solution with one function replaced) fail
  with the mistake key and hint meant for them.
- The cascade: an exercise whose prerequisite fails is skipped, naming the prerequisite.
- Student code runs in a worker process: a hang times out, sys.exit / os._exit /
  ZeroDivisionError are one-line FAILs, and the next exercise still runs.
- The answer key does not leak: expected values never appear in a report.
- The instructor's side: --hidden, points, --json, grade FOLDER.

Slips are checked in this process (fast); the process machinery with short timeouts.
"""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest

from conftest import REPO_ROOT
from mediswift_np.errors import run_cli
from mediswift_np.exercises import FAIL, PASS, SKIP, TODO, TRACKS, check, load_module, track_of
from mediswift_np.exercises.__main__ import format_grades, main

EXERCISES_DIR = REPO_ROOT / "tutorials" / "exercises"
NEW_TRACKS = ["autograd", "attention", "optim", "bpe", "masked_linear", "prompting"]


def solution_path(track):
    return EXERCISES_DIR / "solutions" / TRACKS[track].template


def template_path(track):
    return EXERCISES_DIR / TRACKS[track].template


SOL = {t: load_module(solution_path(t)) for t in NEW_TRACKS}


def variant(track, **replaced):
    """The worked solution of ``track`` with some functions replaced."""
    sol = SOL[track]
    ns = types.SimpleNamespace(**{k: getattr(sol, k) for k in dir(sol) if not k.startswith("__")})
    for name, fn in replaced.items():
        setattr(ns, name, fn)
    return ns


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


# ----------------------------------------------------------------------------- solutions and templates


@pytest.mark.parametrize("track", NEW_TRACKS)
def test_solutions_pass_every_exercise_and_templates_are_todo(track):
    report = check(SOL[track])
    assert report.track == track and report.passed, report.format()
    assert [e.number for e in report.exercises] == [e.number for e in TRACKS[track].exercises]
    assert all(f.cases >= 3 for e in report.exercises for f in e.functions)
    assert report.points == (sum(e.points for e in TRACKS[track].exercises),) * 2
    blank = check(load_module(template_path(track)))
    assert blank.counts() == {PASS: 0, FAIL: 0, TODO: len(report.exercises), SKIP: 0}
    assert track_of(template_path(track)) == track_of(solution_path(track)) == track
    for e in TRACKS[track].exercises:  # the template defines every function the checker calls
        assert all(callable(getattr(load_module(template_path(track)), t.function)) for t in e.tasks)


def test_the_worked_examples_quoted_in_the_templates_are_right():
    bpe = SOL["bpe"]
    assert bpe.split_word("low") == ("l", "o", "w</w>")
    assert bpe.merge_word(("a", "a", "a", "b</w>"), "a", "a") == ("aa", "a", "b</w>")
    assert bpe.learn_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 4) == [
        ("s", "t</w>", 9), ("e", "st</w>", 9), ("l", "o", 7), ("w", "est</w>", 6)]
    assert bpe.pair_counts({("l", "o", "w</w>"): 5, ("l", "o", "w", "e", "r</w>"): 2}) == {
        ("l", "o"): 7, ("o", "w</w>"): 5, ("o", "w"): 2, ("w", "e"): 2, ("e", "r</w>"): 2}
    text = template_path("bpe").read_text()
    assert '("w", "est</w>", 6)' in text and '("o", "w</w>"): 5' in text
    optim = SOL["optim"]  # the schedule's named points (App. A.1)
    assert optim.lr_schedule(0, 100) == pytest.approx(2e-5) and optim.lr_schedule(9, 100) == pytest.approx(2e-4)
    assert optim.lr_schedule(99, 100) == pytest.approx(2e-5)


# ----------------------------------------------------------------------------- slips, track by track


def fd_forward(f, x, eps=1e-5):
    g = np.zeros_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = eps
        g.flat[j] = (f(x + e) - f(x)) / eps
    return g


def fd_not_restored(f, x, eps=1e-5):
    g = np.zeros_like(x)
    for j in range(x.size):
        x.flat[j] += eps
        plus = f(x)
        x.flat[j] -= 2 * eps
        g.flat[j] = (plus - f(x)) / (2 * eps)  # forgot to put x[j] back
    return g


def softmax_naive(x):
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def ce_log_of_softmax(z, t):
    return float(-np.mean(np.log(SOL["autograd"].softmax(z)[np.arange(len(t)), t])))


def ln_backward_no_means(x, w, b, g, eps=1e-5):
    _, dw, db = SOL["autograd"].layer_norm_backward(x, w, b, g, eps)
    return g * w / np.sqrt(x.var(-1, keepdims=True) + eps), dw, db


def gelu_erf(x):
    from scipy.special import erf

    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def attention_no_mask(q, k, v):
    s = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])
    return SOL["autograd"].softmax(s) @ v


def attention_scaled_by_d(q, k, v):
    return SOL["attention"].attention(q / math.sqrt(q.shape[-1]), k, v)  # 1/√hs twice = 1/hs


def mha_kqv(x, w_attn, b_attn, w_proj, b_proj, n_head):
    C = x.shape[-1]
    order = np.r_[C:2 * C, 0:C, 2 * C:3 * C]  # key columns read as query and vice versa
    return SOL["attention"].multi_head_attention(x, w_attn[:, order], b_attn[order], w_proj, b_proj, n_head)


def schedule_from_zero(step, N, peak=2e-4, warmup_frac=0.1, min_ratio=0.1):
    W = max(1, round(warmup_frac * N))
    return peak * step / W if step < W else SOL["optim"].lr_schedule(step, N, peak, warmup_frac, min_ratio)


def clip_per_tensor(grads, max_norm):
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    return [g * min(1.0, max_norm / (np.linalg.norm(g) + 1e-6)) for g in grads], norm


def adamw_l2(param, grad, m, v, t, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1):
    return SOL["optim"].adamw_step(param, grad + weight_decay * param, m, v, t, lr, beta1, beta2, eps, 0.0)


def adamw_uncorrected(param, grad, m, v, t, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    return param - lr * weight_decay * param - lr * m / (np.sqrt(v) + eps), m, v


def train_unclipped(param, grad_fn, N, peak, max_norm=1.0, weight_decay=0.1):
    return SOL["optim"].train(param, grad_fn, N, peak, math.inf, weight_decay)


def best_first_seen(stats):
    return max(stats, key=stats.get)


def merge_by_string(symbols, left, right):
    return tuple(" ".join(symbols).replace(f"{left} {right}", left + right).split(" "))


def learn_bpe_no_floor(word_counts, num_merges, min_frequency=2):
    return SOL["bpe"].learn_bpe(word_counts, num_merges, 1)


def csr_transposed(w, mask):
    return SOL["masked_linear"].csr_of((w * mask).T, mask.T)


def csr_from_values(w, mask):
    import scipy.sparse as sp

    m = sp.csr_matrix(w * mask)  # drops a kept weight that is exactly 0
    return m.data, m.indices, m.indptr


def input_grad_transposed(g, data, indices, indptr, shape):
    import scipy.sparse as sp

    return g @ sp.csr_matrix((data, indices, indptr), shape=shape).toarray()  # g W instead of g Wᵀ


def sampled_dense(x, g, mask):
    return x.reshape(-1, mask.shape[0]).T @ g.reshape(-1, mask.shape[1])


def densify_all_true(model):
    for _, p in model.named_parameters():
        if p.mask is not None:
            p.mask = np.ones_like(p.mask)


def sequence_prefix(src, tgt, n, V, eos, budget):
    return [eos, *range(V, V + n), *src[:budget], *tgt, eos]


def mask_on_source(ids, n_context):
    idx, targets, mask = SOL["prompting"].inputs_targets_mask(ids, n_context)
    return idx, targets, mask + (np.arange(len(idx)) < 3)  # also scores predicting x_1, x_2, x_3


def mask_late(ids, n_context):
    idx, targets, mask = SOL["prompting"].inputs_targets_mask(ids, n_context)
    return idx, targets, (np.arange(len(idx)) >= n_context).astype(float)


def loss_over_all_positions(z, t, mask):
    return SOL["prompting"].target_only_loss(z, t, mask) * mask.sum() / mask.size


def embed_off_by_one(wte, prompt, ids):
    V = wte.shape[0]
    return np.where((ids >= V)[..., None], prompt[(ids - V - 1) % len(prompt)], wte[np.minimum(ids, V - 1)])


def attention_mask_after_softmax(q, k, v):
    T = q.shape[-2]
    p = SOL["autograd"].softmax(q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1]))
    return np.where(np.triu(np.ones((T, T), dtype=bool), k=1), 0.0, p) @ v  # rows no longer sum to 1


def adamw_eps_inside(param, grad, m, v, t, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * weight_decay * param - lr * m_hat / np.sqrt(v_hat + eps), m, v


def merge_right_to_left(symbols, left, right):
    return tuple(reversed([s[::-1] for s in SOL["bpe"].merge_word(tuple(s[::-1] for s in reversed(symbols)),
                                                                   right[::-1], left[::-1])]))


def mask_early(ids, n_context):
    idx, targets, _ = SOL["prompting"].inputs_targets_mask(ids, n_context)
    return idx, targets, (np.arange(len(idx)) >= n_context - 2).astype(float)


SLIPS = [  # (track, exercise, function, slip, mistake key, words of its hint)
    ("autograd", 1, "numerical_gradient", fd_forward, "forward_difference", "O(eps²)"),
    ("autograd", 1, "numerical_gradient", lambda f, x, eps=1e-5: 2 * SOL["autograd"].numerical_gradient(f, x, eps),
     "divided_by_eps", "2·eps"),
    ("autograd", 1, "numerical_gradient", fd_not_restored, "not_restored", "put each element back"),
    ("autograd", 2, "matmul_backward", lambda a, b, g: (g @ b.T, g.T @ a), "grad_b_transposed", "transpose"),
    ("autograd", 2, "matmul_backward", lambda a, b, g: (g @ b, a @ g), "no_transposes", "OTHER factor transposed"),
    ("autograd", 3, "softmax", softmax_naive, "unstable", "overflows"),
    ("autograd", 3, "softmax_backward", lambda y, g: y * g, "missing_subtraction", "subtraction term"),
    ("autograd", 4, "layer_norm", lambda x, w, b, eps=1e-5: (x - x.mean(-1, keepdims=True)) / np.sqrt(
        x.var(-1, ddof=1, keepdims=True) + eps) * w + b, "unbiased_variance", "biased variance"),
    ("autograd", 4, "layer_norm_backward", ln_backward_no_means, "no_mean_terms", "two mean terms"),
    ("autograd", 5, "gelu", gelu_erf, "erf_gelu", "tanh approximation"),
    ("autograd", 5, "gelu_backward", lambda x, g: 0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
     * g, "tanh_as_constant", "product rule"),
    ("autograd", 6, "cross_entropy", lambda z, t: float(-np.mean(np.log(softmax_naive(z)[np.arange(len(t)), t]))),
     "unstable", "log-sum-exp"),
    ("autograd", 6, "cross_entropy", ce_log_of_softmax, "unstable", "not log(softmax)"),
    ("autograd", 6, "cross_entropy_backward", lambda z, t: SOL["autograd"].cross_entropy_backward(z, t) * len(t),
     "not_divided_by_n", "factor N"),
    ("attention", 1, "split_heads", lambda x, nh: x.reshape(x.shape[0], nh, x.shape[1], -1),
     "reshape_without_transpose", "swap the T and nh axes"),
    ("attention", 2, "causal_mask", lambda T: np.triu(np.ones((T, T), dtype=bool)), "diagonal_blocked", "ITSELF"),
    ("attention", 3, "attention", attention_no_mask, "no_causal_mask", "depends on the future"),
    ("attention", 3, "attention", attention_scaled_by_d, "scaled_by_d", "1/√hs, not 1/hs"),
    ("attention", 4, "multi_head_attention", mha_kqv, "k_q_v_order", "in that order"),
    ("optim", 1, "lr_schedule", schedule_from_zero, "warmup_from_zero", "off by one at the warmup boundary"),
    ("optim", 2, "clip_grad_norm", clip_per_tensor, "per_tensor", "Clipping is global"),
    ("optim", 3, "adamw_step", adamw_l2, "l2_in_gradient", "decouples"),
    ("optim", 3, "adamw_step", adamw_uncorrected, "no_bias_correction", "(1 − β1^t)"),
    ("optim", 4, "train", train_unclipped, "no_clipping", "clip the gradient"),
    ("bpe", 1, "split_word", lambda w: tuple(w) + ("</w>",), "separate_end_marker", "glue it"),
    ("bpe", 2, "pair_counts", lambda vocab: SOL["bpe"].pair_counts({k: 1 for k in vocab}), "unweighted", "frequency"),
    ("bpe", 3, "best_pair", best_first_seen, "first_seen", "GREATEST"),
    ("bpe", 4, "merge_word", merge_by_string, "string_replace", "symbol boundaries"),
    ("bpe", 5, "learn_bpe", learn_bpe_no_floor, "ignores_min_frequency", "min_frequency"),
    ("masked_linear", 1, "csr_of", csr_transposed, "csr_of_transpose", "INPUT units"),
    ("masked_linear", 1, "csr_of", csr_from_values, "values_decide_nonzeros", "MASK decides"),
    ("masked_linear", 2, "masked_forward", lambda x, d, i, p, s, b: SOL["masked_linear"].masked_forward(
        x, d, i, p, s, 0 * b), "no_bias", "add the bias"),
    ("masked_linear", 3, "masked_input_grad", input_grad_transposed, "transposed_product", "transposes mixed up"),
    ("masked_linear", 4, "sampled_weight_grad", sampled_dense, "not_masked", "exactly 0 gradient"),
    ("masked_linear", 5, "densify", densify_all_true, "all_true_masks", "p.mask = None"),
    ("prompting", 1, "prompt_sequence", sequence_prefix, "prompt_before_source", "between the source and the target"),
    ("prompting", 2, "inputs_targets_mask", mask_on_source, "loss_on_source", "not counted on the question"),
    ("prompting", 2, "inputs_targets_mask", mask_late, "mask_starts_late", "off by one"),
    ("prompting", 3, "target_only_loss", loss_over_all_positions, "mean_over_all_positions", "Σ mask"),
    ("prompting", 4, "prompt_embeddings", embed_off_by_one, "off_by_one", "row 0"),
    ("autograd", 6, "cross_entropy", lambda z, t: SOL["autograd"].cross_entropy(z, t) * len(t), "sum_not_mean",
     "MEAN over the N rows"),
    ("autograd", 6, "cross_entropy_backward", lambda z, t: SOL["autograd"].softmax(z) / len(t), "missing_one_hot",
     "subtracts 1 at the target"),
    ("attention", 3, "attention", attention_mask_after_softmax, "mask_after_softmax", "no longer sum to 1"),
    ("optim", 3, "adamw_step", adamw_eps_inside, "eps_inside_sqrt", "outside the square root"),
    ("optim", 1, "lr_schedule", lambda s, N, peak=2e-4, warmup_frac=0.1, min_ratio=0.1: SOL["optim"].lr_schedule(
        s, N, peak, warmup_frac, 0.0), "cosine_to_zero", "not to 0"),
    ("bpe", 4, "merge_word", merge_right_to_left, "right_to_left", "merge from the LEFT"),
    ("prompting", 1, "prompt_sequence", lambda src, tgt, n, V, eos, budget: [eos, *src[-budget:], *range(V, V + n), *tgt,
     eos], "cut_from_the_start", "from its END"),
    ("prompting", 2, "inputs_targets_mask", mask_early, "mask_starts_early", "has no logit"),
]


@pytest.mark.parametrize("track, number, function, slip, mistake, words", SLIPS,
                         ids=[f"{s[0]}-{s[4]}" for s in SLIPS])
def test_typical_slips_fail_with_their_hint(track, number, function, slip, mistake, words):
    (ex,) = check(variant(track, **{function: slip}), exercises=[number]).exercises
    assert ex.status == FAIL
    bad = [f for f in ex.functions if f.status == FAIL]
    assert [f.function for f in bad] == [function]
    assert bad[0].mistake == mistake, bad[0]
    assert words in bad[0].hint, bad[0].hint
    assert all(f.status == PASS for f in ex.functions if f.function != function)


def test_every_new_track_has_at_least_two_recognised_slips():
    per_track = {t: {s[4] for s in SLIPS if s[0] == t} for t in NEW_TRACKS}
    assert all(len(keys) >= 2 for keys in per_track.values()), per_track


def test_sampled_gradient_computed_densely_then_masked_passes_exactly():
    def dense_then_masked(x, g, mask):
        return np.where(mask, x.reshape(-1, mask.shape[0]).T @ g.reshape(-1, mask.shape[1]), 0.0)

    def nearly_masked(x, g, mask):
        return dense_then_masked(x, g, mask) + 1e-18 * ~mask  # "zero" within any tolerance, but not 0.0

    assert check(variant("masked_linear", sampled_weight_grad=dense_then_masked), exercises=[4]).passed
    (f,) = check(variant("masked_linear", sampled_weight_grad=nearly_masked), exercises=[4]).exercises[0].functions
    assert f.status == FAIL and f.mistake == "nearly_zero" and "pruned positions must be exactly 0.0" in f.message


def test_every_mistake_has_a_key_and_a_hint_once_per_task():
    for track in TRACKS.values():
        for e in track.exercises:
            assert e.points >= 1 and all(d < e.number for d in e.depends_on), (track.name, e.number)
            for t in e.tasks:
                keys = [m.key for m in t.mistakes]
                assert len(keys) == len(set(keys)) and all(m.hint.strip() for m in t.mistakes), (track.name, t.function)


def test_unrecognised_wrong_arrays_get_the_equation_and_the_position():
    ex, = check(variant("autograd", gelu=lambda x: np.where(x > 1, 0.0, SOL["autograd"].gelu(x))),
                exercises=[5]).exercises
    f = ex.functions[0]
    assert f.status == FAIL and f.mistake is None and "0.044715" in f.hint
    assert "entries, first at index" in f.message


# ----------------------------------------------------------------------------- the cascade


def test_a_failing_prerequisite_skips_what_depends_on_it():
    report = check(variant("autograd", softmax=softmax_naive))  # exercise 6 needs exercise 3
    status = {e.number: e.status for e in report.exercises}
    assert status == {1: PASS, 2: PASS, 3: FAIL, 4: PASS, 5: PASS, 6: SKIP}
    text = report.format()
    assert "skipped: depends on exercise 3, which fails" in text and text.count("FAIL") == 2  # header + [FAIL] line
    chain = check(variant("optim", clip_grad_norm=clip_per_tensor))  # train (4) needs 1, 2, 3
    assert [e.status for e in chain.exercises] == [PASS, FAIL, PASS, SKIP]
    slips = variant("optim", clip_grad_norm=clip_per_tensor, train=train_unclipped)
    only = check(slips, exercises=[4])  # a prerequisite that is not run does not block
    assert only.exercises[0].status == FAIL and only.exercises[0].functions[0].mistake == "no_clipping"


def test_a_skipped_prerequisite_skips_further():
    sol = load_module(EXERCISES_DIR / "solutions" / "sparse_flops.py")
    ns = types.SimpleNamespace(**{k: getattr(sol, k) for k in dir(sol) if not k.startswith("__")})
    ns.mlp_flops = lambda c, S, s: 42.0
    report = check(ns, exercises=[2, 3, 5, 6])
    assert [e.status for e in report.exercises] == [FAIL, SKIP, SKIP, SKIP]
    messages = [e.functions[0].message for e in report.exercises[1:]]
    assert messages[0].startswith("skipped: depends on exercise 2, which fails")
    assert messages[1].startswith("skipped: depends on exercise 3, which was skipped")


# ----------------------------------------------------------------------------- the worker process


def broken_copy(tmp_path, track, old, new, name="answers.py"):
    text = solution_path(track).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_hang_times_out_and_the_next_exercise_still_runs(tmp_path):
    path = broken_copy(tmp_path, "attention", "    return np.triu(", "    while True:\n        pass\n    return np.triu(")
    report = check(path, exercises=[1, 2, 3], timeout=1.5)
    assert [e.status for e in report.exercises] == [PASS, FAIL, SKIP]
    (f,) = report.exercises[1].functions
    assert f.message == "exercise 2: timed out after 1.5 s; stopped it" and "loop that never ends" in f.hint


@pytest.mark.parametrize("code, words", [
    ("import sys\n    sys.exit(3)", "raised SystemExit: 3 at line"),
    ("1 / 0", "raised ZeroDivisionError: division by zero at line"),
    ("import os\n    os._exit(7)", "exercise 2: the process running your code ended with status 7"),
])
def test_exits_and_exceptions_are_one_line_fails(tmp_path, code, words):
    path = broken_copy(tmp_path, "autograd", "    grad_a = grad_out @ b.T", f"    {code}\n    grad_a = grad_out @ b.T")
    report = check(path, exercises=[2, 3], timeout=20)
    assert [e.status for e in report.exercises] == [FAIL, PASS]
    (f,) = report.exercises[0].functions
    assert words in f.message and "\n" not in f.message


def test_prints_in_student_code_do_not_disturb_the_checker(tmp_path):
    path = broken_copy(tmp_path, "prompting", "    virtual = list(", "    print('{\"result\": 0}')\n    virtual = list(")
    assert check(path, exercises=[1]).passed


# ----------------------------------------------------------------------------- the answer key stays secret


def test_expected_values_never_appear_in_a_report():
    wrong_loss = variant("autograd", cross_entropy=lambda z, t: SOL["autograd"].cross_entropy(z, t) + 0.25)
    report = check(wrong_loss, exercises=[6])
    text = report.format() + json.dumps(report.to_dict())
    from mediswift_np.exercises.grading import exercise_rng
    from mediswift_np.exercises.track_autograd_layers import ce_cases

    for case in ce_cases(exercise_rng(0, 6)):
        for shown in (f"{case.expected:.10g}", f"{case.expected:.6g}", f"{case.expected:.4f}"):
            assert shown not in text
    assert "got " in text  # the student's own number is shown
    wrong_attention = check(variant("attention", attention=attention_no_mask), exercises=[3]).format()
    assert "wrong at" in wrong_attention and "expected" not in wrong_attention.split("hint")[0]


def test_hidden_mode_draws_other_inputs_and_does_not_show_them():
    slip = variant("optim", adamw_step=adamw_l2)
    open_report = check(slip, exercises=[3]).exercises[0].functions[0]
    hidden = check(slip, exercises=[3], hidden=True).exercises[0].functions[0]
    assert hidden.mistake == open_report.mistake == "l2_in_gradient"
    assert "hidden cases" in hidden.message and "shape" not in hidden.message.split(";")[0]
    assert "param, grad" in open_report.message
    from mediswift_np.exercises.grading import exercise_rng

    assert exercise_rng(0, 3).random() != exercise_rng(0, 3, hidden=True).random()


# ----------------------------------------------------------------------------- command line and grading


def test_cli_tracks_exit_codes_and_json(tmp_path, capsys):
    code, out, _ = run(["check", "bpe", "--file", str(solution_path("bpe")), "-e", "3", "--json"], capsys)
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and report["track"] == "bpe" and report["points"] == report["max_points"] == 1
    code, out, _ = run(["check", "prompting"], capsys)  # the template itself
    assert code == 1 and "4 to do" in out
    code, _, err = run(["check", "nope", "--file", str(solution_path("bpe"))], capsys)
    assert code == 2 and "no track 'nope'" in err
    code, _, err = run(["check", "bpe", "--file", str(tmp_path / "missing.py")], capsys)
    assert code == 2 and "no such file" in err
    code, _, err = run(["check", "attention", "--file", str(solution_path("attention")), "-e", "9"], capsys)
    assert code == 2 and "no exercise 9 in track attention" in err
    code, out, _ = run(["list"], capsys)
    assert code == 0 and all(t in out for t in TRACKS) and "06_sparse_pretraining" in out
    code, out, _ = run(["list", "masked_linear"], capsys)
    assert code == 0 and out.count("read first:") == 5 and "needs: exercise 2" in out


def test_grade_a_folder_of_submissions(tmp_path, capsys):
    folder = tmp_path / "submissions"
    folder.mkdir()
    (folder / "alice.py").write_text(solution_path("bpe").read_text())
    (folder / "bob.py").write_text(template_path("bpe").read_text())
    text = solution_path("bpe").read_text().replace("(stats[pair], pair)", "stats[pair]")  # ties: first seen
    (folder / "carol.py").write_text(text)
    (folder / "dave.py").write_text("import numpy\ndef f(:\n")
    code, out, _ = run(["grade", "bpe", str(folder), "--json", "--hidden", "--seed", "7"], capsys)
    assert code == 0
    graded = {row["file"]: row for row in json.loads(out.strip().splitlines()[-1])["submissions"]}
    assert graded["alice.py"]["points"] == graded["alice.py"]["max_points"] == 6
    assert graded["bob.py"]["points"] == 0 and {e["status"] for e in graded["bob.py"]["exercises"]} == {TODO}
    carol = {e["number"]: e["status"] for e in graded["carol.py"]["exercises"]}
    assert carol == {1: PASS, 2: PASS, 3: FAIL, 4: PASS, 5: SKIP} and graded["carol.py"]["points"] == 3
    assert graded["dave.py"]["points"] == 0 and "syntax error" in graded["dave.py"]["error"]
    assert all(row["hidden"] for row in graded.values() if not row["error"])
    table = format_grades("bpe", list(graded.values())).splitlines()  # what grade prints without --json
    assert table[1].split() == ["alice.py", "6", "/", "6"] + [PASS] * 5
    assert table[3].split() == ["carol.py", "3", "/", "6", PASS, PASS, FAIL, PASS, SKIP]
    assert table[4].startswith("dave.py") and "syntax error" in table[4]


def test_every_template_can_check_itself():
    # `python my_copy.py` runs the checker on the file (tested in a fresh interpreter in test_exercises.py)
    for track in TRACKS.values():
        text = (EXERCISES_DIR / track.template).read_text()
        assert f'TRACK = "{track.name}"' in text
        assert 'if __name__ == "__main__":' in text and 'run_cli(main, ["check", __file__])' in text
