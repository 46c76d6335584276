"""Dense fine-tuning with soft prompts: sequence layout, Eq. 3's loss, prompt gradients,
densify, stages, early stopping, the checkpoint contract, learning, and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mediswift_np import checkpoint
from mediswift_np import finetune as finetune_module
from mediswift_np.errors import UserError
from mediswift_np.autograd import Tensor, gradcheck
from mediswift_np.config import GPTConfig
from mediswift_np.data import synthetic_pubmedqa, write_synthetic_pubmedqa
from mediswift_np.finetune import PROMPT_KEY, FinetuneConfig, build_model, finetune, load_finetuned, load_init, run_seed, train_stage
from mediswift_np.model import GPT
from mediswift_np.pretrain import PretrainConfig, train
from mediswift_np.tasks import HOC, PUBMEDQA, pubmedqa
from mediswift_np.tasks.evaluation import evaluate, target_loss
from mediswift_np.tasks.prompting import Encoder, decoded_forms, init_soft_prompt, make_batch, predict
from mediswift_np.tasks.report import format_report
from mediswift_np.tasks.stages import load_stages

PRETRAIN = dict(steps=60, batch_size=8, n_docs=800, merges=900, eval_batches=2, eval_every=0, lr=5e-3, n_layer=2, n_embd=64, n_head=2)
SMALL_FT = dict(n_train=60, n_val=12, n_test=16, epochs=2, seeds=1, lr=3e-3)


@pytest.fixture(scope="session")
def sparse_ckpt(tmp_path_factory) -> Path:
    """A 75%-sparse pre-trained checkpoint (tiny preset, 2 layers of width 64; a few seconds)."""
    out = tmp_path_factory.mktemp("pretrain") / "s75"
    train(PretrainConfig(sparsity=0.75, **PRETRAIN), out, progress=False)
    return out


@pytest.fixture(scope="session")
def tokenizer(sparse_ckpt):
    return checkpoint.load_tokenizer(sparse_ckpt)


def examples(n=6, seed=0):
    return pubmedqa.examples_from_records(synthetic_pubmedqa(n, seed))


# ----------------------------------------------------------------------------- [source; prompt; target]


def test_sequence_layout_and_truncation(tokenizer):
    enc = Encoder.build(tokenizer, PUBMEDQA, prompt_length=9, n_ctx=64)
    V = tokenizer.vocab_size
    for ex in examples(8):
        ids, n_context, n_source = enc.sequence(ex)
        src = tokenizer.encode(ex.source)
        tgt = tokenizer.encode(PUBMEDQA.target(ex.label)) + [tokenizer.eos_id]
        assert len(ids) <= 64 and n_source == min(len(src), enc.source_budget)
        assert ids[0] == tokenizer.eos_id and ids[1 : 1 + n_source] == src[:n_source]  # source cut from its end
        assert ids[1 + n_source : n_context] == list(range(V, V + 9))  # the prompt, whole
        assert ids[n_context:] == tgt  # the target, whole
        assert enc.context(ex.source)[0] == ids[:n_context]  # prediction sees exactly the training context
    assert enc.source_budget == 64 - 1 - 9 - enc.target_budget


def test_encoder_memo_returns_the_tokenizer_ids_and_is_bounded(tokenizer, monkeypatch):
    enc = Encoder.build(tokenizer, PUBMEDQA, prompt_length=9, n_ctx=64)
    ex = examples(1)[0]
    first = enc.encode(ex.source)
    first.append(-1)  # a caller changing its list does not change the memo
    assert enc.encode(ex.source) == tokenizer.encode(ex.source)
    monkeypatch.setattr(Encoder, "MEMO_LIMIT", len(enc._ids))  # full: further texts are encoded, not stored
    assert enc.encode("a text seen once") == tokenizer.encode("a text seen once")
    assert "a text seen once" not in enc._ids


def test_loss_mask_is_eq3_targets_only(tokenizer):
    enc = Encoder.build(tokenizer, PUBMEDQA, 9, 128)
    exs = examples(4)
    idx, tgt, mask = make_batch(enc, exs)
    for b, ex in enumerate(exs):
        ids, n_context, n_source = enc.sequence(ex)
        scored = np.flatnonzero(mask[b])
        assert scored.tolist() == list(range(n_context - 1, len(ids) - 1))  # predicts y_1 .. y_k and </s>
        assert tgt[b, scored].tolist() == ids[n_context:]
        assert np.all(tgt[b] < tokenizer.vocab_size)  # virtual ids are never targets
    _, _, with_source = make_batch(enc, exs, loss_on="source")
    for b, ex in enumerate(exs):
        _, n_context, n_source = enc.sequence(ex)
        assert np.flatnonzero(with_source[b] - mask[b]).tolist() == list(range(n_source))  # + x_1 .. x_m


def test_batch_loss_is_the_token_weighted_mean_of_example_losses(tokenizer):
    # Right padding changes nothing: the batch loss is Σ_b n_b·loss_b / Σ_b n_b (n_b = scored tokens).
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, n_ctx=128, n_layer=2, n_embd=16, n_head=2), seed=1)
    enc = Encoder.build(tokenizer, PUBMEDQA, 3, 128)
    prompt = init_soft_prompt(model.transformer.wte.weight.data, 3, np.random.default_rng(0))
    exs = examples(5)
    idx, tgt, mask = make_batch(enc, exs)
    batch = model(idx, tgt, mask, prompt=prompt)[1].item()
    parts = [(model(*make_batch(enc, [ex]), prompt=prompt)[1].item(), make_batch(enc, [ex])[2].sum()) for ex in exs]
    assert batch == pytest.approx(sum(l * n for l, n in parts) / sum(n for _, n in parts), rel=1e-5)


def test_prompt_length_zero_is_plain_fine_tuning(tokenizer):
    # n = 0: no virtual ids, and the loss is the mean NLL of the target tokens from plain logits (Eq. 2).
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, n_ctx=128, n_layer=2, n_embd=16, n_head=2), seed=2)
    enc = Encoder.build(tokenizer, PUBMEDQA, 0, 128)
    ex = examples(1)[0]
    ids, n_context, _ = enc.sequence(ex)
    assert max(ids) < tokenizer.vocab_size and enc.virtual_ids == []
    idx, tgt, mask = make_batch(enc, [ex])
    logits = model.logits(idx)[0].astype(np.float64)  # (T, V)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    t = np.arange(n_context - 1, len(ids) - 1)
    expected = -logp[t, np.array(ids)[t + 1]].mean()
    assert model(idx, tgt, mask)[1].item() == pytest.approx(expected, rel=1e-5)
    unused = Tensor(np.ones((4, 16), dtype=np.float32))  # a prompt nobody addresses changes nothing
    assert model(idx, tgt, mask, prompt=unused)[1].item() == model(idx, tgt, mask)[1].item()


@pytest.mark.parametrize("loss_on", ["target", "source"])
def test_soft_prompt_gradcheck(tokenizer, loss_on):
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, n_ctx=48, n_layer=2, n_embd=8, n_head=2)
    model = GPT(cfg, seed=3).to_dtype(np.float64)
    prompt = init_soft_prompt(model.transformer.wte.weight.data, 3, np.random.default_rng(1), how="normal")
    assert prompt.dtype == np.float64 and prompt.shape == (3, 8)
    enc = Encoder.build(tokenizer, PUBMEDQA, 3, 48)  # 48 tokens: every source here is truncated
    idx, tgt, mask = make_batch(enc, examples(2, seed=4), loss_on)
    assert gradcheck(lambda p: model(idx, tgt, mask, prompt=p)[1], [prompt])


def test_prompt_init_copies_real_token_rows():
    wte = np.arange(40, dtype=np.float32).reshape(10, 4)
    p = init_soft_prompt(wte, 3, np.random.default_rng(0), "vocab")
    rows = [int(r[0]) // 4 for r in p.data]
    assert len(set(rows)) == 3 and min(rows) >= 4 and all(np.array_equal(p.data[i], wte[r]) for i, r in enumerate(rows))
    q = init_soft_prompt(np.zeros((10, 512), np.float32), 2, np.random.default_rng(0), "normal")
    assert abs(q.data.std() - 0.02) < 0.002  # N(0, 0.02²)


def test_decoded_forms_read_back_every_target(tokenizer):
    for fmt, labels in ((PUBMEDQA, PUBMEDQA.labels), (HOC, [*HOC.labels, "inducing angiogenesis|cellular energetics"])):
        forms = decoded_forms(tokenizer, fmt)
        for label in labels:
            assert fmt.parse(tokenizer.decode(tokenizer.encode(fmt.target(label))), forms) == label


# ----------------------------------------------------------------------------- densify and train


def test_densify_reactivates_pruned_weights_at_zero_and_trains_everything(sparse_ckpt):
    arrays, state, tok = load_init(str(sparse_ckpt))
    model, prompt, reactivated = build_model(arrays, state, 9, np.random.default_rng(0), "vocab")
    masks = {k.removeprefix("mask/"): v for k, v in arrays.items() if k.startswith("mask/")}
    assert reactivated == sum(int((~m).sum()) for m in masks.values()) > 0
    params = dict(model.named_parameters())
    assert all(p.mask is None for p in params.values())
    assert all(np.all(params[n].data[~m] == 0) for n, m in masks.items())  # reactivated weights start at exactly 0
    before, prompt0 = model.state_dict(), prompt.data.copy()
    (stage,) = load_stages("pubmedqa", [], synthetic_sizes=(24, 6, 4))
    cfg = FinetuneConfig(init=str(sparse_ckpt), epochs=1)
    enc = Encoder.build(tok, PUBMEDQA, 9, model.config.n_ctx)
    log = train_stage(model, prompt, enc, stage, "pubmedqa", cfg, 8, 1e-3, np.random.default_rng(1), False, "t")
    assert log["steps"] == 3 and log["flops"] > 0
    assert log["flops_executed"] == log["flops"]  # densified: no masked products, the CPU runs what is counted
    after = model.state_dict()
    assert all(not np.array_equal(before[n], after[n]) for n in before)  # every weight of Eq. 2 is trained
    assert all(np.mean(after[n][~m] != 0) > 0.99 for n, m in masks.items())  # the pruned ones included
    assert not np.array_equal(prompt.data, prompt0)  # and the soft prompt (Eq. 3)


def test_keep_masks_fine_tunes_sparsely(sparse_ckpt):
    """SPDF's sparse arm: with the masks kept, pruned weights stay exactly 0 and nothing is reactivated."""
    arrays, state, tok = load_init(str(sparse_ckpt))
    model, prompt, reactivated = build_model(arrays, state, 9, np.random.default_rng(0), "vocab", keep_masks=True)
    masks = {k.removeprefix("mask/"): v for k, v in arrays.items() if k.startswith("mask/")}
    params = dict(model.named_parameters())
    assert reactivated == 0 and all(np.array_equal(params[n].mask, m) for n, m in masks.items())
    (stage,) = load_stages("pubmedqa", [], synthetic_sizes=(24, 6, 4))
    before = model.state_dict()
    train_stage(model, prompt, Encoder.build(tok, PUBMEDQA, 9, 64), stage, "pubmedqa", FinetuneConfig(init="x", epochs=1), 8, 1e-3,
                np.random.default_rng(1), False, "t")  # fmt: skip
    after = model.state_dict()
    for n, m in masks.items():
        assert np.all(after[n][~m] == 0) and np.mean(after[n][m] != before[n][m]) > 0.99  # pruned stay 0, kept ones train


def test_revived_weights_can_start_from_a_dense_initialisation(sparse_ckpt):
    """--revived-init random: each pruned weight gets the value GPT(config, seed) draws for it; the kept ones are untouched."""
    arrays, state, _ = load_init(str(sparse_ckpt))
    masks = {k.removeprefix("mask/"): v for k, v in arrays.items() if k.startswith("mask/")}
    model, _, reactivated = build_model(arrays, state, 9, np.random.default_rng(5), "vocab", revived_init="random")
    seed = int(np.random.default_rng(5).integers(2**31))  # the draw build_model makes first
    fresh = dict(GPT(model.config, seed=seed).named_parameters())
    params = dict(model.named_parameters())
    assert reactivated == sum(int((~m).sum()) for m in masks.values()) and all(p.mask is None for p in params.values())
    for n, m in masks.items():
        np.testing.assert_array_equal(params[n].data[~m], fresh[n].data[~m])
        np.testing.assert_array_equal(params[n].data[m], arrays[n][m])
        assert np.std(params[n].data[~m]) == pytest.approx(np.std(fresh[n].data), rel=0.1)  # the init's scale, not 0
    with pytest.raises(UserError, match="revived-init"):
        FinetuneConfig(init="x", keep_masks=True, revived_init="random").validate()


@pytest.mark.slow
def test_early_stopping_keeps_the_best_epoch(sparse_ckpt):
    arrays, state, tok = load_init(str(sparse_ckpt))
    model, prompt, _ = build_model(arrays, state, 9, np.random.default_rng(0), "vocab")
    (stage,) = load_stages("pubmedqa", [], synthetic_sizes=(40, 10, 4))
    enc = Encoder.build(tok, PUBMEDQA, 9, model.config.n_ctx)
    cfg = FinetuneConfig(init=str(sparse_ckpt), epochs=3, patience=1)
    log = train_stage(model, prompt, enc, stage, "pubmedqa", cfg, 8, 3e-3, np.random.default_rng(2), False, "t")
    hist = log["history"]
    best = max(hist, key=lambda h: (h["val_score"], -h["val_loss"]))
    assert log["best_epoch"] == best["epoch"] and log["val_loss"] == best["val_loss"]
    assert len(hist) == 3 or len(hist) == log["best_epoch"] + cfg.patience  # stopped `patience` epochs after the best
    assert target_loss(model, prompt, enc, stage.val) == pytest.approx(best["val_loss"], rel=1e-6)  # best weights restored
    assert evaluate(model, prompt, enc, stage.val, "pubmedqa")["selection"] == best["val_score"]


def test_stages_chain_their_weights(sparse_ckpt, tmp_path):
    # run_seed over [A, B] equals training on A, then on B from A's weights, by hand.
    a = write_synthetic_pubmedqa(tmp_path / "a.json", 20, seed=5)
    b = write_synthetic_pubmedqa(tmp_path / "b.json", 24, seed=6)
    gold = dict(list({k: r["final_decision"] for k, r in json.loads(b.read_text()).items()}.items())[:6])
    (tmp_path / "gt.json").write_text(json.dumps(gold))
    cfg = FinetuneConfig(init=str(sparse_ckpt), data=(str(a), str(b)), test=str(tmp_path / "gt.json"), epochs=1, prompt_len=2)
    stages = load_stages("pubmedqa", cfg.data, test=cfg.test)
    init = load_init(cfg.init)
    run = run_seed(cfg, init, stages, 8, 1e-3, seed=0, progress=False)
    rng = np.random.default_rng([cfg.seed, 0, 7])
    model, prompt, _ = build_model(*init[:2], 2, rng, "vocab")
    context = finetune_module.pretrained_length(init[1], model.config.n_ctx)  # the pre-training windows' length
    enc = Encoder.build(init[2], PUBMEDQA, 2, context, sorted({e.label for s in stages for e in s.train + s.val}))
    for st in stages:
        train_stage(model, prompt, enc, st, "pubmedqa", cfg, 8, 1e-3, rng, False, "t")
    for name, p in run["model"].named_parameters():
        np.testing.assert_array_equal(p.data, dict(model.named_parameters())[name].data)
    np.testing.assert_array_equal(run["prompt"].data, prompt.data)
    assert [s["n_train"] for s in run["stages"]] == [len(stages[0].train), len(stages[1].train)]


def test_unlabelled_stage_is_pseudo_labelled_by_the_previous_model(sparse_ckpt, tmp_path, monkeypatch):
    recs = synthetic_pubmedqa(8, seed=7)
    for r in recs.values():
        del r["final_decision"]
    (tmp_path / "pqau.json").write_text(json.dumps(recs))
    lab = write_synthetic_pubmedqa(tmp_path / "l.json", 20, seed=8)
    _write(tmp_path / "gt.json", dict(list({k: r["final_decision"] for k, r in json.loads(lab.read_text()).items()}.items())[:5]))
    a = write_synthetic_pubmedqa(tmp_path / "a.json", 16, seed=9)
    cfg = FinetuneConfig(init=str(sparse_ckpt), data=(str(a), str(tmp_path / "pqau.json"), str(lab)), test=str(tmp_path / "gt.json"), epochs=1)
    stages = load_stages("pubmedqa", cfg.data, test=cfg.test)
    assert [e.label for e in stages[1].train] == [None] * 8 and stages[1].val == []
    guesses = ["yes", "failed", "no", "yes", "maybe", "failed", "no", "yes"]  # what the stage-1 model "answers"
    seen = []

    def fake_predict(model, encoder, prompt, exs, progress=False, desc=""):
        seen.append([e.key for e in exs])
        return guesses[: len(exs)], [""] * len(exs), 0

    monkeypatch.setattr(finetune_module.experiment, "predict", fake_predict)  # run_seed looks it up there
    run = run_seed(cfg, load_init(cfg.init), stages, 8, 1e-3, seed=0, progress=False)
    assert seen == [[e.key for e in stages[1].train]]  # pseudo-labelling asked once, for the unlabelled stage
    assert "unlabelled" in run["stages"][1]["data"] and run["stages"][1]["n_train"] + run["stages"][1]["n_val"] == 6  # failed dropped
    with pytest.raises(UserError, match="unlabelled stage needs an earlier stage"):
        run_seed(cfg, load_init(cfg.init), stages[1:], 8, 1e-3, seed=0, progress=False)


# ----------------------------------------------------------------------------- whole runs


@pytest.mark.slow
def test_finetune_learns_the_synthetic_task(sparse_ckpt):
    s = finetune(FinetuneConfig(init=str(sparse_ckpt), n_train=200, n_val=8, n_test=40, epochs=8, patience=8, lr=1e-2, seeds=1), progress=False)
    assert s["majority_accuracy"] == pytest.approx(22 / 40)  # 55.2% "yes" of 40, rounded: 22
    assert s["accuracy"] >= s["majority_accuracy"] + 0.25, s


@pytest.mark.slow
def test_checkpoint_contract_and_prediction_files(sparse_ckpt, tmp_path):
    out = tmp_path / "ft"
    s = finetune(FinetuneConfig(init=str(sparse_ckpt), **{**SMALL_FT, "seeds": 2}), out, progress=False)
    arrays, state = checkpoint.load(out)
    assert not any(k.startswith("mask/") for k in arrays)  # dense after densify
    assert arrays[PROMPT_KEY].shape == (9, 64) and arrays[PROMPT_KEY].dtype == np.float32
    assert state["kind"] == "finetune" and state["task"] == "pubmedqa" and state["prompt_length"] == 9
    assert state["labels"] == ["yes", "no", "maybe"] and state["model"]["n_embd"] == 64
    assert state["metrics"]["accuracy"] == s["accuracy"]
    model, prompt, tok, _ = load_finetuned(out)
    assert np.array_equal(prompt.data, arrays[PROMPT_KEY])
    (stage,) = load_stages("pubmedqa", [], synthetic_sizes=(60, 12, 16))
    gold = {e.key: e.label for e in stage.test}
    per_seed = [pubmedqa.score_prediction_file(out / f"test_predictions_seed{k}.json", _write(tmp_path / "gt.json", gold)) for k in range(2)]
    assert [p["accuracy"] for p in per_seed] == s["accuracy_per_seed"]
    assert s["accuracy"] == pytest.approx(np.mean(s["accuracy_per_seed"]))
    assert s["accuracy_std"] == pytest.approx(np.std(s["accuracy_per_seed"], ddof=1))
    assert s["unparseable"] == sum(p["unparseable"] for p in per_seed)
    saved = json.loads((out / f"test_predictions_seed{s['saved_seed']}.json").read_text())
    enc = Encoder.build(tok, PUBMEDQA, 9, model.config.n_ctx, sorted({e.label for e in stage.train + stage.val}))
    assert predict(model, enc, prompt, stage.test)[0] == [saved[e.key] for e in stage.test]  # the saved model reproduces its file


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.slow
def test_grid_is_chosen_on_validation(sparse_ckpt):
    cfg = FinetuneConfig(init=str(sparse_ckpt), **{**SMALL_FT, "grid_lrs": (1e-6, 1e-2), "grid_batch_sizes": (8,)})
    assert cfg.grid_points() == [(8, 1e-6), (8, 1e-2)]
    assert len(FinetuneConfig(init="x", grid=True).grid_points()) == 16  # App. A.2: {8, 16, 32, 64} x {2e-4, 1e-4, 5e-5, 2.5e-5}
    assert len(FinetuneConfig(task="hoc", init="x", grid=True).grid_points()) == 12  # App. A.3: {16, 32, 64} x 4 rates
    s = finetune(cfg, progress=False)
    scores = [g["val_score"] for g in s["grid"]]
    assert [g["lr"] for g in s["grid"]] == [1e-6, 1e-2] and s["lr"] == s["grid"][int(np.argmax(scores))]["lr"]


def run_with_answers(sparse_ckpt, monkeypatch, answers, seeds):
    """finetune() on the synthetic SMALL_FT task with training skipped and ``answers(seed, test)`` as the test predictions."""
    from mediswift_np.tasks import evaluation

    skipped = {"best_epoch": 1, "epochs_run": 1, "steps": 0, "val_score": 0.0, "val_loss": 0.0, "history": [], "flops": 0, "flops_executed": 0}
    monkeypatch.setattr(finetune_module.experiment, "train_stage", lambda *args, **kwargs: skipped)
    calls = []  # with training skipped, predict is called once per seed, on the test set, in seed order

    def fake_predict(model, encoder, prompt, examples, progress=False, desc=""):
        calls.append(answers(len(calls), examples))
        return calls[-1], [""] * len(examples), 0

    monkeypatch.setattr(evaluation, "predict", fake_predict)
    summary = finetune(FinetuneConfig(init=str(sparse_ckpt), **{**SMALL_FT, "seeds": seeds}), progress=False)
    (stage,) = load_stages("pubmedqa", [], synthetic_sizes=(SMALL_FT["n_train"], SMALL_FT["n_val"], SMALL_FT["n_test"]))
    return summary, [e.label for e in stage.test], calls


def test_summary_has_the_official_macro_f1_next_to_the_yes_no_maybe_one(sparse_ckpt, monkeypatch):
    skm = pytest.importorskip("sklearn.metrics")
    pool = ["yes", "no", "maybe", "failed"]
    s, truth, preds = run_with_answers(sparse_ckpt, monkeypatch, lambda seed, exs: [pool[(i + seed) % 4] for i in range(len(exs))], seeds=2)
    assert len(preds) == 2 and len(truth) == SMALL_FT["n_test"] and all("failed" in p for p in preds)
    official = [skm.f1_score(truth, p, average="macro", zero_division=0.0) for p in preds]  # evaluation.py: labels in truth or predictions
    over_answers = [skm.f1_score(truth, p, labels=["yes", "no", "maybe"], average="macro", zero_division=0.0) for p in preds]
    assert s["macro_f1_official_per_seed"] == pytest.approx(official, abs=1e-12)
    assert s["macro_f1_official"] == pytest.approx(np.mean(official)) and s["macro_f1_official_std"] == pytest.approx(np.std(official, ddof=1))
    assert s["macro_f1_per_seed"] == pytest.approx(over_answers, abs=1e-12)  # the existing key keeps its meaning
    assert s["macro_f1_official"] != pytest.approx(s["macro_f1"])  # "failed" is a fourth class only in the official one
    assert "macro-F1 as the official evaluation.py computes it" in format_report(s)


def test_report_counts_unparseable_answers_in_their_true_class(sparse_ckpt, monkeypatch):
    """Every true 'yes' answered unparseably: the report still says how many 'yes' questions there were."""
    s, truth, _ = run_with_answers(sparse_ckpt, monkeypatch, lambda seed, exs: ["failed" if e.label == "yes" else e.label for e in exs], seeds=1)
    n = {a: truth.count(a) for a in ("yes", "no", "maybe")}
    assert n["yes"] >= 2 and s["failed_per_class"] == {"yes": n["yes"], "no": 0, "maybe": 0}
    report = format_report(s)
    assert f"yes               0      0      0{n['yes']:>7}" in report  # the 'failed' column of the confusion matrix
    assert (f"per-class counts: yes {n['yes']} gold / 0 predicted / 0 correct, no {n['no']} gold / {n['no']} predicted / "
            f"{n['no']} correct, maybe {n['maybe']} gold / {n['maybe']} predicted / {n['maybe']} correct") in report


@pytest.mark.slow
def test_hoc_run_reports_sentence_level(sparse_ckpt, tmp_path, monkeypatch):
    """The summary's micro-F1, per-class counts and majority baseline, recomputed with sklearn
    from the written prediction file and the gold test labels (BioGPT's hard match: lines
    split on '|', micro-F1 over the 11 classes, unknown pieces such as 'failed' ignored);
    once for a real run, once with fixed answers (training skipped) whose micro-F1 is in (0, 1)."""
    skm = pytest.importorskip("sklearn.metrics")
    MultiLabelBinarizer = pytest.importorskip("sklearn.preprocessing").MultiLabelBinarizer
    from mediswift_np.tasks import evaluation

    cfg = FinetuneConfig(task="hoc", init=str(sparse_ckpt), **SMALL_FT)
    stage = load_stages("hoc", (), synthetic_sizes=(cfg.n_train, cfg.n_val, cfg.n_test), seed=cfg.seed)[-1]
    gold = [ex.label for ex in stage.test]
    classes = list(HOC.labels)
    assert len(classes) == 11
    mlb = MultiLabelBinarizer(classes=classes).fit([classes])

    def indicator(lines):
        return mlb.transform([{piece.strip() for piece in line.split("|")} & set(classes) for line in lines])

    def check_against_sklearn(s, out):
        pred = (out / "test_predictions_seed0.txt").read_text(encoding="utf-8").splitlines()
        assert len(pred) == len(gold) == s["n_test"] == 16
        y_true, y_pred = indicator(gold), indicator(pred)
        expected = skm.f1_score(y_true, y_pred, average="micro", zero_division=0)
        assert s["micro_f1_per_seed"] == [s["micro_f1"]] and s["micro_f1"] == pytest.approx(expected, abs=1e-12)
        for j, c in enumerate(classes):  # per class: [[tn, fp], [fn, tp]]
            (_, fp), (fn, tp) = skm.multilabel_confusion_matrix(y_true, y_pred)[j]
            assert s["per_class"][c] == {"gold": int(tp + fn), "predicted": int(tp + fp), "correct": int(tp)}, c
        # majority baseline: the most frequent training label line, predicted for every test sentence
        counts = {}
        for ex in stage.train:
            counts[ex.label] = counts.get(ex.label, 0) + 1
        assert s["majority_label"] == "empty" == max(sorted(counts), key=counts.get)
        majority = skm.f1_score(y_true, indicator(["empty"] * len(gold)), average="micro", zero_division=0)
        assert s["majority_micro_f1"] == pytest.approx(majority, abs=1e-12)
        return pred, expected

    s = finetune(cfg, tmp_path / "run", progress=False)
    assert s["level"] == "sentence-level" and s["prompt_length"] == 1 and set(s["per_class"]) == set(classes)
    check_against_sklearn(s, tmp_path / "run")

    # Fixed answers: right, right plus a wrong extra class, a wrong class, unparseable, in turn.
    def answer(i, label):
        other = classes[(classes.index(label.split("|")[0]) + 1) % 11]
        return [label, f"{label}|{other}", other, "failed"][i % 4]

    fixed = [answer(i, g) for i, g in enumerate(gold)]
    skipped = {"best_epoch": 1, "epochs_run": 1, "steps": 0, "val_score": 0.0, "val_loss": 0.0, "history": [], "flops": 0, "flops_executed": 0}
    monkeypatch.setattr(finetune_module.experiment, "train_stage", lambda *args, **kwargs: skipped)
    monkeypatch.setattr(evaluation, "predict", lambda model, encoder, prompt, exs, progress=False, desc="": ([answer(i, e.label) for i, e in enumerate(exs)], [""] * len(exs), 0))
    s = finetune(cfg, tmp_path / "fixed", progress=False)
    pred, expected = check_against_sklearn(s, tmp_path / "fixed")
    assert pred == fixed and 0 < expected < 1 and s["unparseable"] == 4


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mediswift_np.finetune", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_json_contract(sparse_ckpt, tmp_path):
    flags = [a for k, v in SMALL_FT.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    proc = run_cli("--task", "pubmedqa", "--init", str(sparse_ckpt), "--synthetic", "--json", "--quiet", "--out", str(tmp_path / "o"), *flags)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("task", "accuracy", "macro_f1", "n_test", "seeds", "majority_accuracy", "accuracy_std", "macro_f1_std", "unparseable", "data"):
        assert key in s, key
    assert s["data"] == "synthetic" and s["n_test"] == 16 and s["seeds"] == 1 and math.isfinite(s["accuracy"])
    assert "confusion matrix" in proc.stdout and "majority class 'yes'" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "pubmedqa"], "--init CKPT is required"),
        (["--task", "pubmedqa", "--init", "{ckpt}", "--data", "{bad}"], "record 1: missing or empty 'QUESTION'"),
        (["--task", "pubmedqa", "--init", "{ckpt}", "--data", "{bad}", "--synthetic"], "exclude each other"),
        (["--task", "pubmedqa", "--init", "{tmp}"], "no checkpoint in"),
        (["--task", "hoc", "--init", "{ckpt}", "--epochs", "0"], "--epochs must be >= 1"),
    ],
)
def test_cli_bad_input_is_one_line(sparse_ckpt, tmp_path, args, message):
    bad = _write(tmp_path / "bad.json", {"1": {"CONTEXTS": ["c"]}})
    args = [a.format(ckpt=sparse_ckpt, bad=bad, tmp=tmp_path) for a in args]
    proc = run_cli(*args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_real_pqal_runs_end_to_end(sparse_ckpt, shared_data):
    s = finetune(FinetuneConfig(init=str(sparse_ckpt), data=(str(shared_data / "pubmedqa"),), epochs=1, seeds=1, max_train=16, max_val=6, max_test=12), progress=False)
    assert s["n_test"] == 12 and s["data"].endswith("ori_pqal.json") and s["truncated_test_sources"] == 12  # 128-token context


def test_real_hoc_runs_end_to_end(sparse_ckpt, shared_data):
    s = finetune(FinetuneConfig(task="hoc", init=str(sparse_ckpt), data=(str(shared_data / "hoc"),), epochs=1, seeds=1, max_train=16, max_val=6, max_test=12), progress=False)
    assert s["n_test"] == 12 and "sentence-level" in s["data"] and "valid.tsv is identical to test.tsv" in s["data"]


# ----------------------------------------------------------------------------- positions pre-training trained


@pytest.mark.slow
def test_fine_tuning_reads_only_positions_that_pre_training_trained(tmp_path):
    """Every wpe row a fine-tuning sequence (or a generated answer) reads was updated by pre-training.

    Pre-training at the default seq_len (0 = n_ctx) trains all n_ctx rows; a checkpoint
    pre-trained on shorter windows limits fine-tuning to them, and the summary says so.
    """
    small = dict(steps=2, batch_size=2, n_docs=200, merges=200, eval_batches=1, eval_every=0, n_layer=1, n_embd=32, n_head=2)
    for seq_len, expected in ((0, 128), (48, 48)):
        out = tmp_path / f"seq{seq_len}"
        train(PretrainConfig(seq_len=seq_len, **small), out, progress=False)
        arrays, state = checkpoint.load(out)
        assert state["pretrain"]["seq_len"] == expected
        start = GPT(GPTConfig.from_dict(state["model"]), seed=0).transformer.wpe.weight.data  # pre-training's initialisation
        updated = np.flatnonzero(np.any(arrays["transformer.wpe.weight"] != start, axis=1))
        assert updated.tolist() == list(range(expected))  # rows 0 .. seq_len-1, and no others
        length = finetune_module.pretrained_length(state, n_ctx=128)
        assert length == expected
        tok = checkpoint.load_tokenizer(out)
        (stage,) = load_stages("pubmedqa", [], synthetic_sizes=(40, 10, 20), seed=0)
        enc = Encoder.build(tok, PUBMEDQA, 9, length)
        for ex in stage.train + stage.val + stage.test:
            ids, n_context, _ = enc.sequence(ex)
            assert len(ids) - 1 <= length  # training reads positions 0 .. len-2
            assert n_context + enc.target_budget - 1 <= length  # greedy answers stop within the budget
    summary = finetune(FinetuneConfig(init=str(out), **SMALL_FT), None, progress=False)
    assert summary["context_length"] == 48


# ----------------------------------------------------------------------------- divergence and what is loaded

ONE_STEP_FT = dict(n_train=10, n_val=6, n_test=6, epochs=1, seeds=1)  # 10 examples, batch 16: one update per epoch


def test_weights_that_overflow_in_the_last_update_are_never_saved(sparse_ckpt, tmp_path):
    """The loss of every step was finite; the update after it made the weights infinite."""
    out = tmp_path / "o"
    with pytest.raises(finetune_module.TrainingDiverged) as err:
        finetune(FinetuneConfig(init=str(sparse_ckpt), **ONE_STEP_FT, lr=3e38), out, progress=False)
    assert str(err.value) == "stage 1/1 seed 0 bs 16 lr 3e+38: transformer.wte.weight became NaN or infinite in epoch 1 (try a lower --lr)"
    assert not out.exists()


def test_a_nan_validation_loss_is_one_error_line_and_writes_nothing(sparse_ckpt, tmp_path):
    """Huge but finite weights give a NaN validation loss: exit 2, no NaN checkpoint, no JSON crash."""
    flags = [a for k, v in ONE_STEP_FT.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    proc = run_cli("--task", "pubmedqa", "--init", str(sparse_ckpt), "--synthetic", "--json", "--quiet", "--out", str(tmp_path / "o"), *flags, "--lr", "1e30")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "error: stage 1/1 seed 0 bs 16 lr 1e+30: validation loss became nan in epoch 1 (try a lower --lr)\n"
    assert not (tmp_path / "o").exists()


def test_load_init_checks_the_vocabulary(sparse_ckpt, tmp_path):
    """A checkpoint whose (consistently hashed) tokenizer is not the model's: refused at load time."""
    from mediswift_np.tokenizer import Tokenizer

    arrays, state = checkpoint.load(sparse_ckpt)
    other = Tokenizer.train(["Aspirin lowers fever in mice.", "Fever rises in mice."] * 4, 12, progress=False)
    checkpoint.save(tmp_path / "mixed", arrays, state, other)
    message = f"checkpoint {tmp_path / 'mixed'}: tokenizer has {other.vocab_size} entries, model vocab_size is {state['model']['vocab_size']}"
    for load in (load_init, load_finetuned):
        with pytest.raises(checkpoint.CheckpointError) as err:
            load(str(tmp_path / "mixed"))
        assert str(err.value) == message
    proc = run_cli("--task", "pubmedqa", "--init", str(tmp_path / "mixed"), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2 and proc.stderr == f"error: {message}\n" and not (tmp_path / "o").exists()


def test_an_emptied_bpecodes_is_refused(sparse_ckpt, tmp_path):
    """The vocabulary size is unchanged, so only the manifest's hash of bpecodes catches it."""
    import shutil

    bad = tmp_path / "ckpt"
    shutil.copytree(sparse_ckpt, bad)
    (bad / "tokenizer" / "bpecodes").write_text("")
    proc = run_cli("--task", "pubmedqa", "--init", str(bad), "--synthetic", "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 2 and not (tmp_path / "o").exists()
    assert proc.stderr == f"error: {bad / 'tokenizer' / 'bpecodes'}: modified since the checkpoint was saved (SHA-256 does not match state.json)\n"
