"""The nine build-it-yourself tracks: what they ask, and how they answer a student.

- Every worked solution passes every exercise of its track; every blank template is TODO,
  and template, solution and module share the track's name.
- For each track, typical slips (the worked solution with one function replaced) fail
  with the mistake key and hint meant for them, and the report never shows the expected
  value; with hidden inputs it does not show the inputs either.
- The cascade: an exercise whose prerequisite fails is skipped, naming the prerequisite.
- The references the tracks compare with: the emulator's speedup is largest tile /
  busiest PE; the interop track's name mapping is the library's importer's, and its
  Linear layout is what PyTorch's nn.Linear computes.

Everything here runs in this process (modules and namespaces); the worker process and
its sandbox are tested in test_exercises_checker.py, grading in test_exercises_grade.py.
"""

from __future__ import annotations

import ast
import json
import math
import types

import numpy as np
import pytest

from conftest import REPO_ROOT
from mediswift_np.accelerator.mapping import tile_bounds
from mediswift_np.config import PRESETS
from mediswift_np.exercises import FAIL, PASS, SKIP, TODO, TRACKS, check, load_module
from mediswift_np.exercises.compare import same
from mediswift_np.exercises.spec import exercise_rng
from mediswift_np.exercises.tracks import accelerator, interop

TEMPLATES = REPO_ROOT / "tutorials" / "exercises"
SOLUTIONS = REPO_ROOT / "instructors" / "solutions"
SOL = {t: load_module(SOLUTIONS / f"{t}.py") for t in TRACKS}


def variant(track, **replaced):
    """The worked solution of ``track`` with some functions replaced."""
    sol = SOL[track]
    ns = types.SimpleNamespace(**{k: getattr(sol, k) for k in dir(sol) if not k.startswith("__")})
    for name, fn in replaced.items():
        setattr(ns, name, fn)
    return ns


# ----------------------------------------------------------------------------- solutions and templates


@pytest.mark.parametrize("track", list(TRACKS))
def test_solutions_pass_every_exercise_and_templates_are_todo(track):
    report = check(SOL[track])
    assert report.track == track and report.passed, report.format()
    assert [e.number for e in report.exercises] == [e.number for e in TRACKS[track].exercises]
    assert all(f.cases >= 3 for e in report.exercises for f in e.functions)
    assert report.points == (TRACKS[track].max_points,) * 2
    template = load_module(TEMPLATES / TRACKS[track].template)
    blank = check(template)
    assert blank.counts() == {PASS: 0, FAIL: 0, TODO: len(report.exercises), SKIP: 0}
    assert template.TRACK == SOL[track].TRACK == track
    for e in TRACKS[track].exercises:  # the template defines every function the checker calls
        assert all(callable(getattr(template, t.function)) and callable(getattr(SOL[track], t.function)) for t in e.tasks)


def test_one_name_per_track_and_every_template_checks_itself():
    modules = {p.stem for p in (REPO_ROOT / "mediswift_np" / "exercises" / "tracks").iterdir() if p.stem != "__init__"
               and not p.stem.startswith("__")}  # fmt: skip
    assert modules == set(TRACKS) == {p.stem for p in TEMPLATES.glob("*.py")} == {p.stem for p in SOLUTIONS.glob("*.py")}
    for track in TRACKS.values():
        text = (TEMPLATES / track.template).read_text()
        assert f'TRACK = "{track.name}"' in text
        assert 'if __name__ == "__main__":' in text and 'run_cli(main, ["check", __file__])' in text
    assert [t.tutorial[10:12] for t in TRACKS.values()] == [f"0{i}" for i in range(1, 10)]  # one track per unit


def test_the_reading_never_points_at_the_answer():
    # "read first" is teaching (a notebook section, the track's preface, the paper), not the library code that answers
    for track in TRACKS.values():
        for e in track.exercises:
            assert "mediswift_np/" not in e.reading and "llm.c" not in e.reading, (track.name, e.number, e.reading)
            for md in (part.split()[0] for part in e.reading.split("; ") if part.startswith("tutorials/exercises/")):
                assert (REPO_ROOT / md).is_file(), md


def test_every_mistake_has_a_key_and_a_hint_once_per_task():
    for track in TRACKS.values():
        for e in track.exercises:
            assert e.points >= 1 and all(d < e.number for d in e.depends_on), (track.name, e.number)
            for t in e.tasks:
                keys = [m.key for m in t.mistakes]
                assert len(keys) == len(set(keys)) and all(m.hint.strip() for m in t.mistakes), (track.name, t.function)


def test_the_worked_examples_quoted_in_the_templates_are_right():
    bpe = SOL["bpe"]
    assert bpe.split_word("low") == ("l", "o", "w</w>")
    assert bpe.merge_word(("a", "a", "a", "b</w>"), "a", "a") == ("aa", "a", "b</w>")
    assert bpe.learn_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 4) == [
        ("s", "t</w>", 9), ("e", "st</w>", 9), ("l", "o", 7), ("w", "est</w>", 6)]
    assert bpe.pair_counts({("l", "o", "w</w>"): 5, ("l", "o", "w", "e", "r</w>"): 2}) == {
        ("l", "o"): 7, ("o", "w</w>"): 5, ("o", "w"): 2, ("w", "e"): 2, ("e", "r</w>"): 2}
    text = (TEMPLATES / "bpe.py").read_text()
    assert '("w", "est</w>", 6)' in text and '("o", "w</w>"): 5' in text
    optim = SOL["optim"]  # the schedule's named points (App. A.1)
    assert optim.lr_schedule(0, 100) == pytest.approx(2e-5) and optim.lr_schedule(9, 100) == pytest.approx(2e-4)
    assert optim.lr_schedule(99, 100) == pytest.approx(2e-5)
    flops, text = SOL["flops"], (TEMPLATES / "flops.py").read_text()
    assert "s = 0.75 gives 4,194,304" in text
    assert flops.attention_projection_flops(PRESETS["tiny"], 128, 0.75) == 2 * 4 * 128**3 * 0.25 == 4_194_304
    assert "s = 0 gives 302,311,424" in text
    assert flops.active_params(PRESETS["med"], 0.0) == 24 * (12 * 1024**2 + 13 * 1024) + 2 * 1024 == 302_311_424
    assert "about 2.14 for Med at s = 0.75" in text
    assert round(flops.flop_savings(PRESETS["med"], 1024, 0.75), 2) == 2.14
    med = flops.training_flops(PRESETS["med"], 1024, 0.75) * 104.86e9 / 1024
    assert abs(med / 1.252e20 - 1) < 0.0014  # Table 6, within 0.14%
    acc = SOL["accelerator"]
    assert acc.amdahl_speedup(0.5, 2.0) == pytest.approx(4 / 3) and "gives 4/3" in (TEMPLATES / "accelerator.py").read_text()
    assert SOL["interop"].vocab_json(["<s>", "cel@@", "ls"]) == {"<s>": 0, "cel": 1, "ls</w>": 2}


def test_savings_identity_of_the_flops_solution():
    # savings = 1/(1 - f s): the closed form behind flops exercise 5
    flops = SOL["flops"]
    for name in ("med", "large", "xl"):
        f = flops.sparsified_share(PRESETS[name], 1024)
        for s in (0.5, 0.75, 0.9):
            assert flops.flop_savings(PRESETS[name], 1024, s) == pytest.approx(1 / (1 - f * s), rel=1e-12)
    shares = [flops.sparsified_share(PRESETS[n], 1024) for n in ("med", "large", "xl")]
    assert shares == sorted(shares)  # larger models spend more in the six matrices


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


def attention_mask_after_softmax(q, k, v):
    T = q.shape[-2]
    p = SOL["autograd"].softmax(q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1]))
    return np.where(np.triu(np.ones((T, T), dtype=bool), k=1), 0.0, p) @ v  # rows no longer sum to 1


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


def adamw_eps_inside(param, grad, m, v, t, lr, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return param - lr * weight_decay * param - lr * m_hat / np.sqrt(v_hat + eps), m, v


def train_unclipped(param, grad_fn, N, peak, max_norm=1.0, weight_decay=0.1):
    return SOL["optim"].train(param, grad_fn, N, peak, math.inf, weight_decay)


def best_first_seen(stats):
    return max(stats, key=stats.get)


def merge_by_string(symbols, left, right):
    return tuple(" ".join(symbols).replace(f"{left} {right}", left + right).split(" "))


def merge_right_to_left(symbols, left, right):
    return tuple(reversed([s[::-1] for s in SOL["bpe"].merge_word(tuple(s[::-1] for s in reversed(symbols)),
                                                                   right[::-1], left[::-1])]))


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


def attention_flops_dense(c, S, s):
    return SOL["flops"].attention_projection_flops(c, S, 0.0)  # forgot (1 - s)


def attention_flops_with_scores(c, S, s):
    return SOL["flops"].attention_projection_flops(c, S, s) + SOL["flops"].attention_score_flops(c, S)


def forward_sparse_scores(c, S, s):
    return SOL["flops"].forward_flops(c, S, s) - s * c.n_layer * SOL["flops"].attention_score_flops(c, S)


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


def share_of_forward(c, S):
    f = SOL["flops"]
    return c.n_layer * (f.attention_projection_flops(c, S, 0) + f.mlp_flops(c, S, 0)) / f.forward_flops(c, S, 0)


def counted_forward(counter, term):
    return sum(counter.total(term, kind, "forward") for kind in ("matmul", "sparse_matmul"))


def load_remainder_last(mask, mesh_rows, mesh_cols):
    def bounds(n, p):  # equal tiles of n // p, the last one takes the remainder
        b = np.arange(p + 1) * (n // p)
        b[-1] = n
        return b

    rb, cb = bounds(mask.shape[0], mesh_rows), bounds(mask.shape[1], mesh_cols)
    busiest = max(mask[rb[i] : rb[i + 1], cb[j] : cb[j + 1]].sum() for i in range(mesh_rows) for j in range(mesh_cols))
    return float(np.diff(rb).max() * np.diff(cb).max() / busiest)


def sequence_prefix(src, tgt, n, V, eos, budget):
    return [eos, *range(V, V + n), *src[:budget], *tgt, eos]


def mask_on_source(ids, n_context):
    idx, targets, mask = SOL["prompting"].inputs_targets_mask(ids, n_context)
    return idx, targets, mask + (np.arange(len(idx)) < 3)  # also scores predicting x_1, x_2, x_3


def mask_late(ids, n_context):
    idx, targets, _ = SOL["prompting"].inputs_targets_mask(ids, n_context)
    return idx, targets, (np.arange(len(idx)) >= n_context).astype(float)


def mask_early(ids, n_context):
    idx, targets, _ = SOL["prompting"].inputs_targets_mask(ids, n_context)
    return idx, targets, (np.arange(len(idx)) >= n_context - 2).astype(float)


def loss_over_all_positions(z, t, mask):
    return SOL["prompting"].target_only_loss(z, t, mask) * mask.sum() / mask.size


def embed_off_by_one(wte, prompt, ids):
    V = wte.shape[0]
    return np.where((ids >= V)[..., None], prompt[(ids - V - 1) % len(prompt)], wte[np.minimum(ids, V - 1)])


def safetensors_big_endian(data):
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    kinds = {"F64": ">f8", "F32": ">f4", "F16": ">f2", "I64": ">i8", "I32": ">i4", "U8": "u1", "BOOL": "?"}
    return {k: np.frombuffer(data[8 + n + v["data_offsets"][0] : 8 + n + v["data_offsets"][1]], kinds[v["dtype"]])
            .astype(np.dtype(kinds[v["dtype"]]).newbyteorder("=")).reshape(v["shape"]) for k, v in header.items()}


def linear_embeddings_too(state):
    out = SOL["interop"].to_linear_layout(state)
    out["transformer.wte.weight"], out["transformer.wpe.weight"] = state["transformer.wte.weight"].T, state[
        "transformer.wpe.weight"].T
    return out


def hf_keep_buffers(tensors):
    keep = {k: v for k, v in tensors.items() if k.endswith((".attn.bias", ".attn.masked_bias"))}
    return {**SOL["interop"].from_hf_names(tensors), **keep}


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
    ("autograd", 6, "cross_entropy", lambda z, t: SOL["autograd"].cross_entropy(z, t) * len(t), "sum_not_mean",
     "MEAN over the N rows"),
    ("autograd", 6, "cross_entropy_backward", lambda z, t: SOL["autograd"].cross_entropy_backward(z, t) * len(t),
     "not_divided_by_n", "factor N"),
    ("autograd", 6, "cross_entropy_backward", lambda z, t: SOL["autograd"].softmax(z) / len(t), "missing_one_hot",
     "subtracts 1 at the target"),
    ("bpe", 1, "split_word", lambda w: tuple(w) + ("</w>",), "separate_end_marker", "glue it"),
    ("bpe", 2, "pair_counts", lambda vocab: SOL["bpe"].pair_counts({k: 1 for k in vocab}), "unweighted", "frequency"),
    ("bpe", 3, "best_pair", best_first_seen, "first_seen", "GREATEST"),
    ("bpe", 4, "merge_word", merge_by_string, "string_replace", "symbol boundaries"),
    ("bpe", 4, "merge_word", merge_right_to_left, "right_to_left", "merge from the LEFT"),
    ("bpe", 5, "learn_bpe", learn_bpe_no_floor, "ignores_min_frequency", "min_frequency"),
    ("attention", 1, "split_heads", lambda x, nh: x.reshape(x.shape[0], nh, x.shape[1], -1),
     "reshape_without_transpose", "swap the T and nh axes"),
    ("attention", 2, "causal_mask", lambda T: np.triu(np.ones((T, T), dtype=bool)), "diagonal_blocked", "ITSELF"),
    ("attention", 3, "attention", attention_no_mask, "no_causal_mask", "depends on the future"),
    ("attention", 3, "attention", attention_scaled_by_d, "scaled_by_d", "1/√hs, not 1/hs"),
    ("attention", 3, "attention", attention_mask_after_softmax, "mask_after_softmax", "no longer sum to 1"),
    ("attention", 4, "multi_head_attention", mha_kqv, "k_q_v_order", "in that order"),
    ("masked_linear", 1, "csr_of", csr_transposed, "csr_of_transpose", "INPUT units"),
    ("masked_linear", 1, "csr_of", csr_from_values, "values_decide_nonzeros", "MASK decides"),
    ("masked_linear", 2, "masked_forward", lambda x, d, i, p, s, b: SOL["masked_linear"].masked_forward(
        x, d, i, p, s, 0 * b), "no_bias", "add the bias"),
    ("masked_linear", 3, "masked_input_grad", input_grad_transposed, "transposed_product", "transposes mixed up"),
    ("masked_linear", 4, "sampled_weight_grad", sampled_dense, "not_masked", "exactly 0 gradient"),
    ("masked_linear", 5, "densify", densify_all_true, "all_true_masks", "p.mask = None"),
    ("flops", 1, "attention_projection_flops", attention_flops_dense, "no_sparsity", "multiply by (1 − s)"),
    ("flops", 1, "attention_projection_flops", lambda c, S, s: SOL["flops"].attention_projection_flops(c, S, s) / 2,
     "multiply_add_as_one", "2·m·k·n"),
    ("flops", 1, "attention_projection_flops", attention_flops_with_scores, "included_attention_scores", "stay dense"),
    ("flops", 2, "mlp_flops", lambda c, S, s: 2 * S * 2 * c.n_embd * c.n_embd * (1 - s), "d_ff_is_d", "d_ff = 4·d"),
    ("flops", 3, "forward_flops", lambda c, S, s: SOL["flops"].forward_flops(c.with_(n_layer=1), S, s),
     "missing_layers", "L = cfg.n_layer"),
    ("flops", 3, "forward_flops", forward_sparse_scores, "sparsified_attention_scores", "stay dense"),
    ("flops", 3, "training_flops", lambda c, S, s: 3 * SOL["flops"].forward_flops(c, S, s), "embedding_counted_3x",
     "training = 3·forward − embeddings"),
    ("flops", 3, "training_flops", lambda c, S, s: 2 * SOL["flops"].forward_flops(c, S, s), "backward_equals_forward",
     "backward = 2 × forward"),
    ("flops", 4, "active_params", lambda c, s: (1 - s) * c.n_params(embeddings=False),
     "sparsified_biases_and_layernorms", "biases and LayerNorm"),
    ("flops", 4, "active_params", active_unrounded, "no_rounding", "round((1 − s)·rows·cols)"),
    ("flops", 4, "overall_sparsity", overall_over_masked, "over_masked_matrices_only", "embeddings included"),
    ("flops", 4, "overall_sparsity", overall_plain_mean, "unweighted_mean_per_parameter", "weight each s_l by N_l"),
    ("flops", 5, "flop_savings", lambda c, S, s: 1 / (1 - s), "theoretical", "1/(1 − f·s)"),
    ("flops", 5, "flop_savings", lambda c, S, s: 1 / SOL["flops"].flop_savings(c, S, s), "inverted", "sparse/dense"),
    ("flops", 5, "sparsified_share", share_of_forward, "forward_share", "3·forward − embeddings"),
    ("flops", 6, "counted_product_flops", lambda counter, term: counter.total(scope=term), "all_kinds_in_scope",
     "biases"),
    ("flops", 6, "counted_product_flops", counted_forward, "forward_only", "phase 'backward'"),
    ("flops", 6, "analytic_product_flops", lambda c, b, S, s, t: SOL["flops"].analytic_product_flops(c, b, S, s, t) * 2
     / 3, "two_x_forward", "3 × forward, not 2 ×"),
    ("flops", 6, "analytic_product_flops", lambda c, b, S, s, t: SOL["flops"].analytic_product_flops(c, 1, S, s, t),
     "missing_batch", "multiply the per-sequence FLOPs by batch"),
    ("optim", 1, "lr_schedule", schedule_from_zero, "warmup_from_zero", "off by one at the warmup boundary"),
    ("optim", 1, "lr_schedule", lambda s, N, peak=2e-4, warmup_frac=0.1, min_ratio=0.1: SOL["optim"].lr_schedule(
        s, N, peak, warmup_frac, 0.0), "cosine_to_zero", "not to 0"),
    ("optim", 2, "clip_grad_norm", clip_per_tensor, "per_tensor", "Clipping is global"),
    ("optim", 3, "adamw_step", adamw_l2, "l2_in_gradient", "decouples"),
    ("optim", 3, "adamw_step", adamw_uncorrected, "no_bias_correction", "(1 − β1^t)"),
    ("optim", 3, "adamw_step", adamw_eps_inside, "eps_inside_sqrt", "outside the square root"),
    ("optim", 4, "train", train_unclipped, "no_clipping", "clip the gradient"),
    ("prompting", 1, "prompt_sequence", sequence_prefix, "prompt_before_source", "between the source and the target"),
    ("prompting", 1, "prompt_sequence", lambda src, tgt, n, V, eos, budget: [eos, *src[-budget:], *range(V, V + n),
     *tgt, eos], "cut_from_the_start", "from its END"),
    ("prompting", 2, "inputs_targets_mask", mask_on_source, "loss_on_source", "not counted on the question"),
    ("prompting", 2, "inputs_targets_mask", mask_late, "mask_starts_late", "off by one"),
    ("prompting", 2, "inputs_targets_mask", mask_early, "mask_starts_early", "has no logit"),
    ("prompting", 3, "target_only_loss", loss_over_all_positions, "mean_over_all_positions", "Σ mask"),
    ("prompting", 4, "prompt_embeddings", embed_off_by_one, "off_by_one", "row 0"),
    ("accelerator", 1, "theoretical_speedup", lambda s: 1 - s, "one_minus_s", "1/(1 − s)"),
    ("accelerator", 2, "load_limited_speedup", lambda mask, r, c: mask.size / mask.sum(), "balanced", "slowest"),
    ("accelerator", 2, "load_limited_speedup", lambda mask, r, c: SOL["accelerator"].load_limited_speedup(mask, c, r),
     "swapped_mesh", "mesh_rows cuts the rows"),
    ("accelerator", 2, "load_limited_speedup", load_remainder_last, "remainder_in_last_tile", "np.array_split"),
    ("accelerator", 3, "amdahl_speedup", lambda f, k: k, "matrix_speedup_only", "does not"),
    ("accelerator", 3, "amdahl_speedup", lambda f, k: (1 - f) + f * k, "weighted_mean_of_speedups", "times add"),
    ("interop", 1, "read_safetensors", safetensors_big_endian, "big_endian", "little-endian"),
    ("interop", 1, "read_safetensors", lambda data: {**SOL["interop"].read_safetensors(data), "__metadata__": {}},
     "metadata_as_tensor", "not a tensor"),
    ("interop", 2, "to_linear_layout", linear_embeddings_too, "embeddings_transposed", "lookup tables"),
    ("interop", 2, "to_linear_layout", lambda state: {k: v for k, v in SOL["interop"].to_linear_layout(state).items()
     if k != "lm_head.weight"}, "no_lm_head", "lm_head.weight"),
    ("interop", 3, "from_hf_names", hf_keep_buffers, "kept_mask_buffers", "causal mask"),
    ("interop", 4, "vocab_json", lambda tokens: {(t + "</w>" if not t.endswith("@@") and not t.startswith("<") else t): i
     for i, t in enumerate(tokens)}, "kept_continuation", "drop the '@@'"),
    ("interop", 5, "add_soft_prompt", lambda wte, p: (np.concatenate([wte, p]), {f"learned{i + 1}": len(wte) + i
     for i in range(len(p))}), "names_without_end_of_word", "'</w>'"),
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


def test_every_track_has_at_least_two_recognised_slips():
    per_track = {t: {s[4] for s in SLIPS if s[0] == t} for t in TRACKS}
    assert all(len(keys) >= 2 for keys in per_track.values()), per_track


def test_unrecognised_wrong_answers_get_the_equation_and_the_position():
    (ex,) = check(variant("autograd", gelu=lambda x: np.where(x > 1, 0.0, SOL["autograd"].gelu(x))), exercises=[5]).exercises
    f = ex.functions[0]
    assert f.status == FAIL and f.mistake is None and "0.044715" in f.hint and "entries, first at index" in f.message
    report = check(variant("flops", mlp_flops=lambda c, S, s: 42.0), exercises=[2])
    f = report.exercises[0].functions[0]
    assert f.status == FAIL and f.mistake is None and "d_ff = 4·d" in f.hint and "got 42;" in f.message
    assert "8,388,608" not in report.format() and "8388608" not in json.dumps(report.to_dict())  # the answer key


def test_errors_bad_returns_and_missing_functions_fail_cleanly():
    ns = variant("flops", mlp_flops=lambda c, S, s: 1 / 0, overall_sparsity=lambda m: np.float32(0.5))
    del ns.forward_flops
    report = check(ns, exercises=[2, 3, 4])
    by = {f.function: f for e in report.exercises for f in e.functions}
    assert by["mlp_flops"].status == FAIL and "raised ZeroDivisionError" in by["mlp_flops"].message
    assert by["overall_sparsity"].status == FAIL and "float32" in by["overall_sparsity"].message
    assert report.exercises[1].status == SKIP  # exercise 3 builds on exercise 2, which fails
    by = {f.function: f for f in check(ns, exercises=[3]).exercises[0].functions}
    assert by["forward_flops"].status == FAIL and "no function named forward_flops" in by["forward_flops"].message
    assert by["training_flops"].status == PASS
    f = check(variant("accelerator", theoretical_speedup=lambda s: [s]), exercises=[1]).exercises[0].functions[0]
    assert f.status == FAIL and "expected a single number" in f.message


def test_one_function_done_one_todo_is_todo():
    ns = types.SimpleNamespace(**vars(load_module(TEMPLATES / "flops.py")))
    ns.flop_savings = SOL["flops"].flop_savings
    (ex,) = check(ns, exercises=[5]).exercises
    assert ex.status == TODO and [f.status for f in ex.functions] == [PASS, TODO]


def test_sampled_gradient_computed_densely_then_masked_passes_exactly():
    def dense_then_masked(x, g, mask):
        return np.where(mask, x.reshape(-1, mask.shape[0]).T @ g.reshape(-1, mask.shape[1]), 0.0)

    def nearly_masked(x, g, mask):
        return dense_then_masked(x, g, mask) + 1e-18 * ~mask  # "zero" within any tolerance, but not 0.0

    assert check(variant("masked_linear", sampled_weight_grad=dense_then_masked), exercises=[4]).passed
    (f,) = check(variant("masked_linear", sampled_weight_grad=nearly_masked), exercises=[4]).exercises[0].functions
    assert f.status == FAIL and f.mistake == "nearly_zero" and "pruned positions must be exactly 0.0" in f.message


# ----------------------------------------------------------------------------- the cascade


def test_a_failing_prerequisite_skips_what_depends_on_it():
    report = check(variant("autograd", softmax=softmax_naive))  # exercise 6 needs exercise 3
    assert {e.number: e.status for e in report.exercises} == {1: PASS, 2: PASS, 3: FAIL, 4: PASS, 5: PASS, 6: SKIP}
    text = report.format()
    assert "skipped: depends on exercise 3, which fails" in text and text.count("FAIL") == 2  # header + [FAIL] line
    chain = check(variant("optim", clip_grad_norm=clip_per_tensor))  # train (4) needs 1, 2, 3
    assert [e.status for e in chain.exercises] == [PASS, FAIL, PASS, SKIP]
    only = check(variant("optim", clip_grad_norm=clip_per_tensor, train=train_unclipped), exercises=[4])
    assert only.exercises[0].status == FAIL and only.exercises[0].functions[0].mistake == "no_clipping"  # not run: no block


def test_a_skipped_prerequisite_skips_further():
    report = check(variant("flops", mlp_flops=lambda c, S, s: 42.0), exercises=[2, 3, 5, 6])
    assert [e.status for e in report.exercises] == [FAIL, SKIP, SKIP, SKIP]
    messages = [e.functions[0].message for e in report.exercises[1:]]
    assert messages[0].startswith("skipped: depends on exercise 2, which fails")
    assert messages[1].startswith("skipped: depends on exercise 3, which was skipped")


# ----------------------------------------------------------------------------- the answer key stays secret


def test_expected_values_never_appear_in_a_report():
    report = check(variant("autograd", cross_entropy=lambda z, t: SOL["autograd"].cross_entropy(z, t) + 0.25), exercises=[6])
    text = report.format() + json.dumps(report.to_dict())
    from mediswift_np.exercises.tracks.autograd.layers import ce_cases

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
    assert exercise_rng(0, 3).random() != exercise_rng(0, 3, hidden=True).random()


def test_reports_are_reproducible_and_seeds_change_the_random_inputs():
    sol = SOL["flops"]
    assert check(sol, seed=5, exercises=[1, 2, 3]).to_dict() == check(sol, seed=5, exercises=[1, 2, 3]).to_dict()
    presets = list(PRESETS.values())
    only_presets = variant("flops", attention_projection_flops=lambda c, S, s: sol.attention_projection_flops(c, S, s)
                           if c in presets else 0.0)  # fmt: skip
    first = {k: check(only_presets, exercises=[1], seed=k).exercises[0].functions[0].message for k in (5, 6)}
    assert all("GPTConfig(vocab_size=" in m for m in first.values())  # first wrong case: a random config
    assert first[5] != first[6]


def test_comparison_is_exact_for_integers_and_relative_for_floats():
    assert same(7, 7) and same(7.0, 7) and not same(7.000001, 7)
    assert same(1.0 + 1e-12, 1.0) and not same(1.0 + 1e-6, 1.0)
    assert not same(math.nan, 1.0) and not same(math.inf, math.inf) and not same(None, 1.0)


def test_the_checker_never_imports_the_solutions():
    package = REPO_ROOT / "mediswift_np" / "exercises"
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any("solutions" in n or "instructors" in n for n in names), (path, names)


# ----------------------------------------------------------------------------- the references


def test_emulated_speedup_is_largest_tile_over_busiest_pe():
    # 6 x 4 W on a 2 x 2 mesh: tiles of 3 x 2 = 6 weights; the busiest PE keeps 4 of them
    mask = np.zeros((6, 4), dtype=bool)
    mask[0:3, 0:2] = [[1, 1], [1, 0], [0, 1]]  # PE (0, 0): 4 nonzeros
    mask[3, 2] = mask[4, 0] = mask[5, 3] = True  # 1 or 0 elsewhere
    assert accelerator.emulated_speedup(mask, 2, 2) == pytest.approx(6 / 4, rel=1e-12)
    # uneven tiles (np.array_split): 7 rows on 2 mesh rows -> 4 + 3, 5 cols on 2 -> 3 + 2; largest 12
    mask = np.zeros((7, 5), dtype=bool)
    mask[6, 4] = mask[5, 4] = mask[0, 0] = True  # busiest PE (1, 1) holds 2
    assert accelerator.emulated_speedup(mask, 2, 2) == pytest.approx(12 / 2, rel=1e-12)
    assert tile_bounds(7, 2).tolist() == [0, 4, 7] == SOL["accelerator"].tile_bounds(7, 2).tolist()


def test_emulator_reference_is_the_closed_form_on_both_paths():
    mask = np.random.default_rng(3).random((50, 60)) >= 0.8  # 3000 weights: the closed-form path
    assert mask.size > accelerator.ELEMENTWISE_LIMIT
    small = mask[:40, :40]  # 1600 weights: element by element
    rb, cb = tile_bounds(40, 3), tile_bounds(40, 5)
    busiest = max(small[rb[i]:rb[i + 1], cb[j]:cb[j + 1]].sum() for i in range(3) for j in range(5))
    assert accelerator.emulated_speedup(small, 3, 5) == pytest.approx(14 * 8 / busiest, rel=1e-12)
    rb, cb = tile_bounds(50, 4), tile_bounds(60, 6)
    busiest = max(mask[rb[i]:rb[i + 1], cb[j]:cb[j + 1]].sum() for i in range(4) for j in range(6))
    assert accelerator.emulated_speedup(mask, 4, 6) == pytest.approx(13 * 10 / busiest, rel=1e-12)


def test_amdahl_reference_is_the_emulators_own_formula():
    from mediswift_np.accelerator.model_view import amdahl_table

    rows = amdahl_table(PRESETS["tiny"].with_(n_layer=1, n_ctx=32), sparsities=(0.5,), rng=np.random.default_rng(0))
    for r in rows:
        assert SOL["accelerator"].amdahl_speedup(r["sparse_share_dense"], r["matrix_speedup"]) == pytest.approx(
            r["amdahl_speedup"], rel=1e-12)


def test_interop_names_are_the_importers_and_the_prompt_rows_the_exporters(tmp_path):
    from mediswift_np.interop.hf import _gpt2_weights
    from mediswift_np.interop.hf_config import prompt_sidecar

    for case in interop.hf_cases(exercise_rng(0, 3)):
        (tensors,) = case.args
        library = _gpt2_weights(dict(tensors), "test")
        assert library.keys() == case.expected.keys()
        assert all(np.array_equal(library[k], case.expected[k]) for k in library)
    wte, prompt = np.zeros((5, 2)), np.ones((2, 2))
    assert list(SOL["interop"].add_soft_prompt(wte, prompt)[1]) == prompt_sidecar(5, 2)["vocab_json_tokens"]


@pytest.mark.slow  # importing torch takes seconds
def test_interop_linear_layout_is_what_torch_linear_computes():
    torch = pytest.importorskip("torch")
    (case,) = interop.layout_cases(exercise_rng(0, 2))[:1]
    (state,) = case.args
    linear = SOL["interop"].to_linear_layout(state)
    rng = np.random.default_rng(0)
    for name in [k for k in state if k.endswith(interop.CONV1D)]:
        x, bias = rng.standard_normal((3, state[name].shape[0])), state[name.replace(".weight", ".bias")]
        conv1d = x @ state[name] + bias  # GPT-2's Conv1D: y = x W + b, W (in, out)
        as_linear = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(linear[name]), torch.from_numpy(bias))
        np.testing.assert_allclose(as_linear.numpy(), conv1d, rtol=1e-12, atol=1e-12)
    x = rng.standard_normal((3, state["transformer.wte.weight"].shape[1]))
    head = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(linear["lm_head.weight"])).numpy()
    np.testing.assert_allclose(head, x @ state["transformer.wte.weight"].T, rtol=1e-12, atol=1e-12)  # tied logits
