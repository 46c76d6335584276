"""Track ``masked_linear``: a statically sparse linear layer on CSR (paper Sec. 2.1, Eq. 1).

The layer is y = x (W ⊙ m) + b with W and the bool mask m of shape (in, out) (GPT-2's
layout). The student writes (template ``tutorials/exercises/masked_linear.py``; unit 04):

    1  csr_of(w, mask)                        W ⊙ m as CSR arrays (data, indices, indptr)
    2  masked_forward(x, data, indices, indptr, shape, bias)    y = x (W ⊙ m) + b
    3  masked_input_grad(grad_y, data, indices, indptr, shape)  dx = g (W ⊙ m)ᵀ
    4  sampled_weight_grad(x, grad_y, mask)   dW = (xᵀ g) ⊙ m, exactly 0 where pruned
    5  densify(model)                         drop the masks for dense fine-tuning (Sec. 2.2.1)

References: :class:`mediswift_np.sparse.SparseLayout` (``csr``), the ``MaskedLinear``
op through :func:`mediswift_np.sparse.masked_linear` on the ``scipy`` path (forward,
input gradient and the sampled weight gradient) and :func:`mediswift_np.sparse.densify`.
Tolerances rtol 1e-9, atol 1e-12; CSR index arrays exactly; pruned entries of dW
exactly 0.0 (computing xᵀg densely and masking is fine: it gives exact zeros).

Does not handle: the FLOP counts of the two paths (tutorial 04 §4 and the flops
track), masks that change during training (dst.py).
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from ... import sparse
from ...autograd import Tensor
from ...config import GPTConfig
from ...model import GPT
from ...nn import Parameter
from ..compare import differs
from ..spec import Case, Exercise, Mistake, Symptom, Task, Track

TUTORIAL = ("tutorials/04_sparsity_and_sparse_matmul.ipynb §1 (the mask) and §3 (one masked linear layer); "
            "the template's docstring (the CSR format)")
TOL = dict(rtol=1e-9, atol=1e-12)


def layer_inputs(rng: np.random.Generator, square_too: bool = True):
    """(w, mask, words): random layers, one with a kept weight that is exactly 0."""
    out = []
    for n_in, n_out, s in ((5, 5, 0.6), (6, 4, 0.5), (4, 4, 0.25), (8, 3, 0.75), (7, 9, 0.9)):  # square first: a
        # transposed product then gives wrong numbers (a hint) before a non-square layer makes it raise
        w, mask = rng.standard_normal((n_in, n_out)), sparse.random_mask((n_in, n_out), s, rng)
        mask[rng.integers(n_in), rng.integers(n_out)] = True  # at least one weight
        out.append((w, mask, f"w of shape ({n_in}, {n_out}), mask at s≈{s}"))
    w, mask = out[0][0].copy(), out[0][1].copy()
    w[np.argwhere(mask)[0][0], np.argwhere(mask)[0][1]] = 0.0
    out.append((w, mask, "w of shape (5, 5), mask at s≈0.6, one KEPT weight equal to 0.0"))
    return out


def library_layer(x, w, mask, b, grad_y=None):
    """(y, dx, dW) of the library's masked linear layer on the scipy (CSR) path."""
    p = Parameter(w.copy())
    p.mask = mask.copy()
    xt, bt = Tensor(x.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True)
    with sparse.use_backend("scipy"):
        y = sparse.masked_linear(xt, p, bt)
        if grad_y is not None:
            y.backward(grad_y.copy())
    return y.data.copy(), (None if xt.grad is None else xt.grad.copy()), (None if p.grad is None else p.grad.copy())


def csr_arrays(matrix: sp.csr_matrix):
    return matrix.data.copy(), matrix.indices.astype(np.int64), matrix.indptr.astype(np.int64)


# ----------------------------------------------------------------------------- exercise 1


def csr_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for w, mask, words in layer_inputs(rng):
        right = csr_arrays(sparse.SparseLayout(mask).csr(w))
        transposed = csr_arrays(sp.csr_matrix(((w * mask).T)))
        cases.append(Case(words, (w, mask), right, {
            "csr_of_transpose": Symptom(lambda got, t=transposed: len(got[2]) == len(t[2]) != len(right[2])
                                        or all(np.array_equal(np.asarray(g), e) for g, e in zip(got[1:], t[1:]))),
            "values_decide_nonzeros": Symptom(lambda got, n=int(np.count_nonzero(w * mask)): len(got[0]) == n < mask.sum()),
            "no_leading_zero": Symptom(lambda got, n=mask.shape[0]: len(got[2]) == n),
            "dense_storage": Symptom(lambda got, n=mask.size: len(got[0]) == n > mask.sum()),
        }))  # fmt: skip
    return cases


CSR = Exercise(1, "csr_of: the kept weights as CSR arrays", TUTORIAL, (
    Task("csr_of",
         "rows of W (in, out) in order; in row r the kept columns j (mask[r, j] True) ascending: data = w[r, j], "
         "indices = j; indptr[r + 1] − indptr[r] = kept weights of row r, indptr[0] = 0 (in + 1 entries).",
         csr_cases, (
             Mistake("csr_of_transpose", "you built the CSR of (W ⊙ m)ᵀ (out, in), i.e. the CSC of W: the rows of W "
                                         "are its INPUT units (W is (in, out) here), so indptr has in + 1 entries and "
                                         "indices are output columns."),
             Mistake("values_decide_nonzeros", "the MASK decides which weights are stored, not their values: a kept "
                                               "weight can be exactly 0 (after densify or regrowth) and must still "
                                               "have its slot."),
             Mistake("no_leading_zero", "indptr starts with 0 and has one entry per row plus one (in + 1): row r's "
                                        "entries are data[indptr[r]:indptr[r + 1]]."),
             Mistake("dense_storage", "store only the kept weights (mask True): nnz entries, not in·out."),
         ), outputs=("data", "indices", "indptr"), **TOL),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 2


def forward_inputs(rng: np.random.Generator):
    for w, mask, words in layer_inputs(rng):
        n_in, n_out = w.shape
        x_shape = (3, 2, n_in) if n_in == 8 else (5, n_in)  # (B, T, in) once: x may have leading axes
        yield words, w, mask, rng.standard_normal(x_shape), rng.standard_normal(n_out)


def forward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for words, w, mask, x, b in forward_inputs(rng):
        data, indices, indptr = csr_arrays(sparse.SparseLayout(mask).csr(w))
        y, _, _ = library_layer(x, w, mask, b)
        square = w.shape[0] == w.shape[1]
        cases.append(Case(f"x of shape {x.shape}, the CSR of <{words}>, shape={w.shape}, bias of shape {b.shape}",
                          (x, data, indices, indptr, w.shape, b), y, {
            "transposed_product": x @ (w * mask).T + b if square else None,
            "no_bias": y - b,
            "mask_ignored": x @ w + b,
        }))  # fmt: skip
    return cases


FORWARD = Exercise(2, "masked_forward: y = x (W ⊙ m) + b from the CSR arrays", TUTORIAL, (
    Task("masked_forward",
         "y[..., j] = Σ_r x[..., r] · W[r, j] over the stored (r, j), plus bias[j]: for row r, each k in indptr[r]:"
         "indptr[r + 1] adds x[..., r] · data[k] to output column indices[k].",
         forward_cases, (
             Mistake("transposed_product", "the CSR rows are W's INPUT units (W is (in, out), y = x W): row r of the "
                                           "CSR multiplies x[..., r] and feeds the output columns indices[k]. You "
                                           "computed x Wᵀ."),
             Mistake("no_bias", "add the bias: y = x (W ⊙ m) + b."),
             Mistake("mask_ignored", "use only the stored (kept) weights."),
         ), **TOL),
))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 3


def input_grad_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for words, w, mask, x, b in forward_inputs(rng):
        data, indices, indptr = csr_arrays(sparse.SparseLayout(mask).csr(w))
        g = rng.standard_normal(x.shape[:-1] + (w.shape[1],))
        _, dx, _ = library_layer(x, w, mask, b, g)
        square = w.shape[0] == w.shape[1]
        cases.append(Case(f"grad_y of shape {g.shape}, the CSR of <{words}>, shape={w.shape}",
                          (g, data, indices, indptr, w.shape), dx, {
            "transposed_product": g @ (w * mask) if square else None,
            "mask_ignored": g @ w.T,
        }))  # fmt: skip
    return cases


INPUT_GRAD = Exercise(3, "masked_input_grad: dx = g (W ⊙ m)ᵀ", TUTORIAL, (
    Task("masked_input_grad",
         "dx[..., r] = Σ_k grad_y[..., indices[k]] · data[k] over k in indptr[r]:indptr[r + 1]: dx = g (W ⊙ m)ᵀ, "
         "shape (..., in).",
         input_grad_cases, (
             Mistake("transposed_product", "transposes mixed up: dx = g (W ⊙ m)ᵀ (g is (..., out), W is (in, out)); "
                                           "you computed g (W ⊙ m)."),
             Mistake("mask_ignored", "use only the stored (kept) weights: dx = g (W ⊙ m)ᵀ."),
         ), **TOL),
), depends_on=(2,))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 4


def exact_zeros_compare(got, expected):
    why = differs(got, expected, **TOL)
    if why is None and np.any(np.asarray(got)[expected == 0] != 0):
        return "pruned positions must be exactly 0.0"
    return why


def sampled_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for words, w, mask, x, b in forward_inputs(rng):
        g = rng.standard_normal(x.shape[:-1] + (w.shape[1],))
        _, _, dw = library_layer(x, w, mask, b, g)
        x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
        full = x2.T @ g2
        cases.append(Case(f"x of shape {x.shape}, grad_y of shape {g.shape}, mask of <{words}>", (x, g, mask), dw, {
            "not_masked": full,
            "transposed": Symptom(lambda got, t=dw.T: np.shape(got) == t.shape and np.allclose(got, t, rtol=1e-9)),
            "nearly_zero": Symptom(lambda got, m=mask: np.shape(got) == m.shape and np.allclose(np.asarray(got)[~m], 0)
                                   and np.any(np.asarray(got)[~m] != 0)),
        }))  # fmt: skip
    return cases


SAMPLED = Exercise(4, "sampled_weight_grad: (xᵀ g) only where the mask keeps a weight", TUTORIAL, (
    Task("sampled_weight_grad",
         "dW[r, j] = Σ_n x[n, r] · grad_y[n, j] where mask[r, j], exactly 0 elsewhere (x and grad_y flattened to (N, "
         "in) and (N, out)); shape (in, out).",
         sampled_cases, (
             Mistake("not_masked", "pruned weights must get exactly 0 gradient, so they stay 0 under AdamW: keep "
                                   "(xᵀ g) only where the mask is True."),
             Mistake("transposed", "dW has W's shape (in, out): dW = xᵀ g, not gᵀ x."),
             Mistake("nearly_zero", "pruned positions must be EXACTLY 0.0, not tiny numbers: select with the mask "
                                    "(np.where(mask, full, 0.0)) rather than subtracting or scaling."),
         ), **TOL, compare=exact_zeros_compare),
), points=2, on_pass=lambda module: ("the sampled product does 2·nnz·N multiply-adds instead of 2·in·out·N: at s = 0.9, a tenth "
                           "of the dense weight gradient (the scipy path's sampled_matmul)."))  # fmt: skip

# ----------------------------------------------------------------------------- exercise 5


def small_sparse_gpt(rng: np.random.Generator, sparsity: float) -> GPT:
    cfg = GPTConfig(vocab_size=int(rng.integers(20, 40)), n_ctx=8, n_layer=int(rng.integers(1, 3)), n_embd=8, n_head=2)
    model = GPT(cfg, seed=int(rng.integers(1 << 31)))
    sparse.sparsify(model, sparsity, rng)
    return model


def mask_states(model) -> tuple:
    return tuple("none" if p.mask is None else "all-true" if p.mask.all() else "partial"
                 for _, p in model.named_parameters())  # fmt: skip


def weights(model) -> np.ndarray:
    return np.concatenate([p.data.reshape(-1).astype(np.float64) for _, p in model.named_parameters()])


def densify_and_look(fn, args):
    (model,) = args
    fn(model)
    return mask_states(model), weights(model)


def densify_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for s in (0.5, 0.75, 0.9):
        model = small_sparse_gpt(rng, s)
        before = weights(model)
        reference = copy.deepcopy(model)
        sparse.densify(reference)
        pruned = before == 0
        cases.append(Case(f"model=<a {len(model.transformer.h)}-layer GPT masked at s={s}>", (model,),
                          (mask_states(reference), weights(reference)), {
            "all_true_masks": Symptom(lambda got: "all-true" in got[0]),
            "some_masks_left": Symptom(lambda got: "partial" in got[0]),
            "pruned_weights_changed": Symptom(lambda got, z=pruned: np.any(np.asarray(got[1])[z] != 0)),
        }))  # fmt: skip
    return cases


DENSIFY = Exercise(5, "densify: remove the masks for dense fine-tuning", "tutorials/07_finetune_soft_prompts.ipynb "
                   "§1 (Eq. 2, dense fine-tuning); paper Sec. 2.2.1", (
    Task("densify", "for every parameter: p.mask = None; leave p.data alone (the pruned weights are 0 and restart from "
                    "0).", densify_cases, (
        Mistake("all_true_masks", "set p.mask = None rather than an all-True mask: without a mask the layer runs the "
                                  "plain dense product (an all-True mask still takes the masked path)."),
        Mistake("some_masks_left", "remove EVERY mask: the six matrices of every block (c_attn, attn c_proj, c_fc, mlp"
                                   " c_proj)."),
        Mistake("pruned_weights_changed", "do not touch the weights: the reactivated weights start at exactly 0 "
                                          "(Sec. 2.2.1) and learn from there."),
    ), outputs=("the masks", "the weights"), call=densify_and_look),
))  # fmt: skip

TRACK = Track("masked_linear", "the masked linear layer: CSR forward, input gradient, sampled weight gradient, "
              "densify", "tutorials/04_sparsity_and_sparse_matmul.ipynb", (CSR, FORWARD, INPUT_GRAD, SAMPLED, DENSIFY))
