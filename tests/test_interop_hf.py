"""Hugging Face GPT-2 export/import: transformers loads our files and computes our logits,
masks and soft prompts survive, the import round-trips bit for bit, and mismatched files
are refused with one-line errors."""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # transformers reads local directories only
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import shared_data_dir  # noqa: E402
from mediswift_np import checkpoint  # noqa: E402
from mediswift_np.autograd import Tensor, no_grad  # noqa: E402
from mediswift_np.data import synthetic_corpus  # noqa: E402
from mediswift_np.data.corpus import pubmedqa_abstracts  # noqa: E402
from mediswift_np.errors import UserError  # noqa: E402
from mediswift_np.interop import export_hf, export_model, import_hf, load_hf, load_safetensors, save_safetensors  # noqa: E402
from mediswift_np.interop.hf_config import GPT2_DEFAULTS, model_config_from_gpt2  # noqa: E402
from mediswift_np.config import GPTConfig  # noqa: E402
from mediswift_np.model import GPT, parameter_shapes  # noqa: E402
from mediswift_np.pretrain import PretrainConfig, train  # noqa: E402
from mediswift_np.tokenizer import Tokenizer  # noqa: E402

P = 3  # soft-prompt length of the fabricated fine-tuning checkpoint


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """A sparse pre-training checkpoint and a dense fine-tuning one with a soft prompt."""
    root = tmp_path_factory.mktemp("interop")
    cfg = PretrainConfig(sparsity=0.5, steps=6, batch_size=4, seq_len=32, n_docs=200, merges=300, n_layer=2, n_embd=64, n_head=4)
    train(cfg, root / "sparse", progress=False)
    arrays, state = checkpoint.load(root / "sparse")
    rng = np.random.default_rng(0)
    dense = {k: v for k, v in arrays.items() if "/" not in k}  # Eq. 2: masks removed, weights kept
    dense["transformer.h.0.attn.c_attn.weight"] = dense["transformer.h.0.attn.c_attn.weight"] + 0.01  # as after dense fine-tuning
    dense["prompt/embeddings"] = (rng.standard_normal((P, 64)) * 0.02).astype(np.float32)  # (P, C)
    state_ft = {"step": 5, "kind": "finetune", "model": state["model"], "task": "pubmedqa"}
    checkpoint.save(root / "prompt", dense, state_ft, checkpoint.load_tokenizer(root / "sparse"))
    return {"sparse": root / "sparse", "prompt": root / "prompt", "root": root}


@pytest.fixture(scope="module")
def exported(ckpts):
    out = {name: ckpts["root"] / f"hf-{name}" for name in ("sparse", "prompt")}
    summaries = {name: export_hf(ckpts[name], out[name]) for name in out}
    return out, summaries


@pytest.fixture(scope="module")
def torch_and_transformers():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    return torch, transformers


def hf_model(torch, transformers, directory):
    model, info = transformers.GPT2LMHeadModel.from_pretrained(str(directory), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.dtype == model.transformer.wte.weight.dtype == torch.float32
    return model.eval()


def our_logits(imp, ids):
    with no_grad():
        prompt = None if imp.soft_prompt is None else Tensor(imp.soft_prompt)
        return imp.model.forward(np.asarray(ids), prompt=prompt)[0].data  # (B, T, V)


def inputs(rng, V, n_ctx, n_prompt, tokenizer):
    """Several inputs: a random batch, one token, the full context, real text, and [source; prompt; target]."""
    text = np.array([tokenizer.encode(synthetic_corpus(1, seed=4)[0])[:40]])
    cases = [rng.integers(0, V, (3, 17)), rng.integers(0, V, (1, 1)), rng.integers(0, V, (2, n_ctx)), text]
    if n_prompt:
        source, target = rng.integers(4, V, (2, 10)), rng.integers(4, V, (2, 5))
        prompt_ids = np.broadcast_to(np.arange(V, V + n_prompt), (2, n_prompt))
        cases.append(np.concatenate([source, prompt_ids, target], axis=1))
    return cases


def test_config_json_is_a_gpt2_config(exported, ckpts, torch_and_transformers):
    _, transformers = torch_and_transformers
    out, _ = exported
    cfg = checkpoint.load_model(ckpts["sparse"])[0].config
    config = json.loads((out["prompt"] / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == ["GPT2LMHeadModel"] and config["model_type"] == "gpt2"
    assert config["activation_function"] == "gelu_new" and config["tie_word_embeddings"] is True
    assert (config["n_layer"], config["n_embd"], config["n_head"]) == (cfg.n_layer, cfg.n_embd, cfg.n_head)
    assert config["n_positions"] == config["n_ctx"] == cfg.n_ctx and config["n_inner"] is None
    assert config["vocab_size"] == cfg.vocab_size + P  # the prompt rows
    assert config["layer_norm_epsilon"] == 1e-5 and config["resid_pdrop"] == config["embd_pdrop"] == config["attn_pdrop"] == 0.0
    assert (config["bos_token_id"], config["pad_token_id"], config["eos_token_id"]) == (0, 1, 2)
    hf_cfg = transformers.GPT2Config.from_pretrained(str(out["prompt"]))
    assert (hf_cfg.n_layer, hf_cfg.n_embd, hf_cfg.n_head, hf_cfg.n_positions, hf_cfg.vocab_size) == (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_ctx, cfg.vocab_size + P)
    assert model_config_from_gpt2(config).with_(vocab_size=cfg.vocab_size) == cfg


def test_weights_file_has_gpt2_names_and_layouts(exported, ckpts):
    out, _ = exported
    arrays, state = checkpoint.load(ckpts["sparse"])
    tensors, meta = load_safetensors(out["sparse"] / "model.safetensors")
    assert meta == {"format": "pt"}
    cfg = checkpoint.restore_model(arrays, state).config
    assert {k: v.shape for k, v in tensors.items()} == parameter_shapes(cfg)  # no lm_head.weight, no attn.bias
    assert tensors["transformer.h.1.mlp.c_fc.weight"].shape == (cfg.n_embd, 4 * cfg.n_embd)  # Conv1D: (in, out)
    for name, a in tensors.items():
        assert a.dtype == np.float32 and a.tobytes() == arrays[name].tobytes()  # unchanged, bit for bit


@pytest.mark.slow
@pytest.mark.parametrize("which", ["sparse", "prompt"])
def test_transformers_computes_our_logits(exported, torch_and_transformers, which):
    torch, transformers = torch_and_transformers
    out, _ = exported
    model = hf_model(torch, transformers, out[which])
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()  # tied
    imp = load_hf(out[which])
    V, n_prompt = imp.model.config.vocab_size, 0 if imp.soft_prompt is None else len(imp.soft_prompt)
    rng = np.random.default_rng(1)
    for ids in inputs(rng, V, imp.model.config.n_ctx, n_prompt, imp.tokenizer):
        with torch.no_grad():
            res = model(torch.from_numpy(ids.astype(np.int64)), output_hidden_states=True)
        theirs = res.logits.numpy()
        assert theirs.shape == (*ids.shape, V + n_prompt)
        np.testing.assert_allclose(theirs[..., :V], our_logits(imp, ids), rtol=0, atol=1e-4)
        if n_prompt:  # the extra columns: final hidden state times the prompt rows (tied output layer)
            h = res.hidden_states[-1].numpy()  # (B, T, C), after ln_f
            np.testing.assert_allclose(theirs[..., V:], h @ imp.soft_prompt.T, rtol=0, atol=1e-5)


def test_masks_are_verifiable_in_torch(exported, ckpts, torch_and_transformers):
    torch, transformers = torch_and_transformers
    st_torch = pytest.importorskip("safetensors.torch")
    out, summaries = exported
    masks = st_torch.load_file(str(out["sparse"] / "sparsity_masks.safetensors"))
    arrays, _ = checkpoint.load(ckpts["sparse"])
    expected = {k.removeprefix("mask/"): v for k, v in arrays.items() if k.startswith("mask/")}
    assert masks.keys() == expected.keys() and len(masks) == 4 * 2  # the six matrices of a block in GPT-2's four arrays
    params = dict(hf_model(torch, transformers, out["sparse"]).named_parameters())
    pruned = 0
    for name, mask in masks.items():
        assert mask.dtype == torch.bool and np.array_equal(mask.numpy(), expected[name])
        assert torch.count_nonzero(params[name].detach()[~mask]) == 0  # every pruned weight is exactly 0
        pruned += int((~mask).sum())
    assert pruned == summaries["sparse"]["pruned_weights"] > 0
    assert not (out["prompt"] / "sparsity_masks.safetensors").exists()  # fine-tuned models are dense


def test_soft_prompt_rows_and_names(exported, ckpts, torch_and_transformers):
    _, transformers = torch_and_transformers
    out, summaries = exported
    arrays, _ = checkpoint.load(ckpts["prompt"])
    V = arrays["transformer.wte.weight"].shape[0]
    side = json.loads((out["prompt"] / "soft_prompt.json").read_text(encoding="utf-8"))
    assert side["n_tokens"] == P and side["base_vocab_size"] == V and side["token_ids"] == list(range(V, V + P))
    assert side["tokens"] == ["learned1", "learned2", "learned3"] and side["task"] == "pubmedqa"
    wte = load_safetensors(out["prompt"] / "model.safetensors")[0]["transformer.wte.weight"]
    assert np.array_equal(wte[V:], arrays["prompt/embeddings"]) and np.array_equal(wte[:V], arrays["transformer.wte.weight"])
    tok = transformers.BioGptTokenizer(str(out["prompt"] / "vocab.json"), str(out["prompt"] / "merges.txt"))
    assert tok.convert_tokens_to_ids(side["vocab_json_tokens"]) == side["token_ids"]
    assert summaries["prompt"]["hf_vocab_size"] == V + P and summaries["prompt"]["prompt_tokens"] == P


def test_exported_tokenizer_matches_on_text(exported, ckpts, torch_and_transformers):
    _, transformers = torch_and_transformers
    out, _ = exported
    ours = checkpoint.load_tokenizer(ckpts["sparse"])
    theirs = transformers.AutoTokenizer.from_pretrained(str(out["sparse"]))
    docs = synthetic_corpus(20, seed=8)
    real = shared_data_dir()  # real PubMedQA abstracts when the data folder exists
    if real is not None:
        docs += list(pubmedqa_abstracts(real / "pubmedqa" / "ori_pqal.json"))[:50]
    for doc in docs:  # real abstracts: a synthetic vocabulary, many <unk>, ids still equal
        assert theirs.encode(doc, add_special_tokens=False) == ours.encode(doc)


@pytest.mark.parametrize("which", ["sparse", "prompt"])
def test_import_round_trips_exactly(exported, ckpts, tmp_path, which):
    out, _ = exported
    arrays, state = checkpoint.load(ckpts[which])
    original = checkpoint.restore_model(arrays, state)
    imp = load_hf(out[which])
    assert imp.model.config == original.config
    for (name, p), (name2, q) in zip(imp.model.named_parameters(), original.named_parameters()):
        assert name == name2 and p.data.dtype == np.float32 and p.data.tobytes() == q.data.tobytes()
        assert (p.mask is None and q.mask is None) or np.array_equal(p.mask, q.mask)
    tok = checkpoint.load_tokenizer(ckpts[which])
    assert imp.tokenizer.id_to_token == tok.id_to_token and imp.tokenizer.bpe_codes == tok.bpe_codes and imp.tokenizer.counts == tok.counts
    if which == "prompt":
        assert imp.soft_prompt.tobytes() == arrays["prompt/embeddings"].tobytes() and imp.task == "pubmedqa"
        assert imp.prompt_tokens == ["learned1", "learned2", "learned3"]
    else:
        assert imp.soft_prompt is None and imp.prompt_tokens == []
    ids = np.random.default_rng(2).integers(0, original.config.vocab_size, (2, 24))
    assert np.array_equal(import_hf(out[which]).logits(ids), original.logits(ids))  # same weights, same arithmetic
    assert (imp.training is None) == (which == "prompt")  # a pre-training checkpoint exports its training state
    export_model(imp.model, tmp_path / "again", imp.tokenizer, imp.soft_prompt, imp.task, training=imp.training)  # export(import(x)) == x, byte for byte
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(p.name for p in out[which].iterdir())
    for f in out[which].iterdir():
        assert (tmp_path / "again" / f.name).read_bytes() == f.read_bytes(), f.name


def test_imports_a_directory_written_by_save_pretrained(exported, torch_and_transformers, tmp_path):
    torch, transformers = torch_and_transformers
    out, _ = exported
    model = hf_model(torch, transformers, out["sparse"])
    model.save_pretrained(str(tmp_path / "lm"))  # transformers' own writer (and its config.json)
    model.transformer.save_pretrained(str(tmp_path / "base"))  # GPT2Model: names without 'transformer.'
    ids = np.random.default_rng(3).integers(0, model.config.vocab_size, (2, 21))
    with torch.no_grad():
        theirs = model(torch.from_numpy(ids)).logits.numpy()
    reference = import_hf(out["sparse"])
    for d in ("lm", "base"):
        imported = import_hf(tmp_path / d)
        assert imported.config == reference.config
        for (_, p), (_, q) in zip(imported.named_parameters(), reference.named_parameters()):
            assert p.data.tobytes() == q.data.tobytes()
        np.testing.assert_allclose(imported.logits(ids), theirs, rtol=0, atol=1e-4)


def test_causal_mask_buffers_and_a_tied_lm_head_are_accepted(exported, tmp_path):
    out, _ = exported
    shutil.copytree(out["sparse"], tmp_path / "d")
    for name in ("optimizer.safetensors", "training_state.json"):  # they vouch for the exact bytes of model.safetensors
        (tmp_path / "d" / name).unlink()
    tensors, meta = load_safetensors(tmp_path / "d" / "model.safetensors")
    n_ctx = json.loads((tmp_path / "d" / "config.json").read_text(encoding="utf-8"))["n_positions"]
    tensors["transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, n_ctx, n_ctx), np.bool_))  # saved by older transformers
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"].copy()
    save_safetensors(tmp_path / "d" / "model.safetensors", tensors, meta)
    ids = np.arange(10)[None]
    assert np.array_equal(import_hf(tmp_path / "d").logits(ids), import_hf(out["sparse"]).logits(ids))


def test_a_directory_with_another_tokenizer_imports_without_one(exported, tmp_path):
    out, _ = exported
    shutil.copytree(out["sparse"], tmp_path / "d")
    (tmp_path / "d" / "vocab.json").write_text('{"!": 0, "<|endoftext|>": 1}', encoding="utf-8")  # byte-level GPT-2 style
    edit_json(tmp_path / "d" / "tokenizer_config.json", tokenizer_class="GPT2Tokenizer")
    imp = load_hf(tmp_path / "d")
    assert imp.tokenizer is None and imp.model.config == import_hf(out["sparse"]).config
    edit_json(tmp_path / "d" / "tokenizer_config.json", tokenizer_class="BioGptTokenizer")
    with pytest.raises(UserError, match="id 0 must be the fairseq special '<s>'"):
        load_hf(tmp_path / "d")


def edit_json(path, **changes):
    obj = json.loads(path.read_text(encoding="utf-8"))
    obj.update(changes)
    path.write_text(json.dumps(obj), encoding="utf-8")


def break_tensor(d, name, fn):
    tensors, meta = load_safetensors(d / "model.safetensors")
    tensors = fn(tensors, name)
    save_safetensors(d / "model.safetensors", tensors, meta)


def _revive_pruned(d):
    masks, _ = load_safetensors(d / "sparsity_masks.safetensors")
    name = "transformer.h.1.mlp.c_proj.weight"

    def revive(tensors, _):
        w = tensors[name]
        w[np.argwhere(~masks[name])[0][0], np.argwhere(~masks[name])[0][1]] = 0.5
        return tensors

    break_tensor(d, name, revive)


MISMATCHES = {
    "n_layer": (lambda d: edit_json(d / "config.json", n_layer=3), "missing transformer.h.2"),
    "n_embd": (lambda d: edit_json(d / "config.json", n_embd=32), "has shape .* config.json implies"),
    "heads": (lambda d: edit_json(d / "config.json", n_head=5), "n_head=5 does not divide n_embd=64"),
    "activation": (lambda d: edit_json(d / "config.json", activation_function="relu"), "activation_function 'relu'"),
    "model_type": (lambda d: edit_json(d / "config.json", model_type="biogpt"), "model_type is 'biogpt'"),
    "untied": (lambda d: edit_json(d / "config.json", tie_word_embeddings=False), "tie_word_embeddings = False"),
    "dropouts": (lambda d: edit_json(d / "config.json", attn_pdrop=0.2), "one dropout rate"),
    "n_inner": (lambda d: edit_json(d / "config.json", n_inner=100), "n_inner = 100"),
    "vocab": (lambda d: edit_json(d / "config.json", vocab_size=999), "has shape|vocab_size"),
    "extra tensor": (lambda d: break_tensor(d, "x", lambda t, n: {**t, "transformer.h.0.extra": np.zeros(2, np.float32)}), "unexpected tensor transformer.h.0.extra"),
    "lm_head": (lambda d: break_tensor(d, "", lambda t, n: {**t, "lm_head.weight": t["transformer.wte.weight"] + 1}), "lm_head.weight differs"),
    "revived": (_revive_pruned, "1 pruned weights of transformer.h.1.mlp.c_proj.weight are not 0"),
    "truncated": (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-100]), "not a valid safetensors file"),
    "no config": (lambda d: (d / "config.json").unlink(), "no config.json"),
    "bad config": (lambda d: (d / "config.json").write_text("{", encoding="utf-8"), "config.json: not valid JSON"),
    "pickle only": (lambda d: (d / "model.safetensors").rename(d / "pytorch_model.bin"), "no model.safetensors \\(pytorch_model.bin is not read"),
    "mask shape": (lambda d: save_safetensors(d / "sparsity_masks.safetensors", {"transformer.h.0.mlp.c_fc.weight": np.ones((2, 2), bool)}), "expected bool"),
}


@pytest.mark.parametrize("case", sorted(MISMATCHES))
def test_mismatched_files_are_refused(exported, tmp_path, case):
    out, _ = exported
    d = tmp_path / "d"
    shutil.copytree(out["sparse"], d)
    damage, message = MISMATCHES[case]
    damage(d)
    with pytest.raises(UserError, match=message) as err:
        load_hf(d)
    assert "\n" not in str(err.value)


def test_mismatched_tokenizer_and_prompt_files_are_refused(exported, tmp_path):
    out, _ = exported
    d = tmp_path / "d"
    shutil.copytree(out["prompt"], d)
    edit_json(d / "soft_prompt.json", base_vocab_size=100)
    with pytest.raises(UserError, match="base_vocab_size 100 \\+ n_tokens 3"):
        load_hf(d)
    shutil.copy(out["prompt"] / "soft_prompt.json", d / "soft_prompt.json")
    shutil.copy(out["sparse"] / "vocab.json", d / "vocab.json")  # the vocabulary without the prompt names
    with pytest.raises(UserError, match="vocab.json"):
        load_hf(d)
    (d / "soft_prompt.json").unlink()  # prompt rows without their sidecar: the vocabulary no longer fits
    with pytest.raises(UserError, match="vocab.json: .* entries, config.json vocab_size"):
        load_hf(d)


def test_export_refuses_foreign_directories_and_cleans_its_own(ckpts, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UserError, match="not empty and not a previous export \\(found notes.txt\\)"):
        export_hf(ckpts["sparse"], tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    export_hf(ckpts["prompt"], tmp_path / "x")
    export_hf(ckpts["sparse"], tmp_path / "x")  # overwrite a previous export: no stale soft_prompt.json
    assert not (tmp_path / "x" / "soft_prompt.json").exists() and (tmp_path / "x" / "sparsity_masks.safetensors").exists()
    assert load_hf(tmp_path / "x").soft_prompt is None
    with pytest.raises(UserError, match="no checkpoint in"):
        export_hf(tmp_path / "nothing", tmp_path / "y")
    model, tok, _ = checkpoint.load_model(ckpts["sparse"])
    with pytest.raises(UserError, match="soft prompt has shape \\(2, 5\\)"):
        export_model(model, tmp_path / "z", tok, np.zeros((2, 5), np.float32))
    word = GPT(GPTConfig(vocab_size=5, n_ctx=8, n_layer=1, n_embd=8, n_head=2))  # its vocabulary has the word 'learned1'
    with pytest.raises(UserError, match="same BioGptTokenizer key 'learned1</w>'"):
        export_model(word, tmp_path / "w", Tokenizer([], [("learned1", 1)]), np.zeros((1, 8), np.float32))
    assert not (tmp_path / "w").exists()  # refused before anything was written


def test_defaults_of_omitted_config_fields_are_gpt2s():
    cfg = model_config_from_gpt2({"model_type": "gpt2"})
    assert (cfg.vocab_size, cfg.n_ctx, cfg.n_layer, cfg.n_embd, cfg.n_head) == (50257, 1024, 12, 768, 12)
    assert cfg.dropout == GPT2_DEFAULTS["resid_pdrop"] and cfg.layer_norm_eps == 1e-5 and cfg.init_std == 0.02
