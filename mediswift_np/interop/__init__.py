"""Bridges to the ecosystem: Hugging Face GPT-2 / BioGPT-format export and import.

    safetensors_io  a NumPy writer/reader of the safetensors format (model.safetensors)
    tokenizer_hf    vocab.json + merges.txt as Hugging Face's BioGptTokenizer reads them
    hf_config       config.json (GPT2Config) and the soft-prompt sidecar, both ways
    training_state  optimizer.safetensors + training_state.json: what a run needs to continue
    hf              export_hf / import_hf / load_hf: whole directories
    token_stream    the training token stream of an export, tied to its tokenizer by hash
    __main__        ``python -m mediswift_np.interop export|import``: the command line

Example (a checkpoint directory ``ckpt`` from ``python -m mediswift_np.pretrain``)::

    from mediswift_np.interop import export_hf, import_hf, load_hf
    export_hf("ckpt", "hf_out")                  # loads with GPT2LMHeadModel.from_pretrained
    model = import_hf("hf_out")                  # a mediswift_np GPT; model.logits(ids)
    full = load_hf("hf_out")                     # .model, .tokenizer, .soft_prompt, .prompt_tokens, .training
    import_hf_checkpoint("hf_out", "ckpt2")      # a checkpoint again; pretrain --resume continues it

Does not handle: anything but GPT-2-architecture models (see :mod:`.hf` for details).
"""

from .hf import HFImport, export_hf, export_model, import_hf, import_hf_checkpoint, load_hf, verify_sparsity
from .safetensors_io import SafetensorsError, load_safetensors, save_safetensors
from .tokenizer_hf import read_hf_tokenizer, write_hf_tokenizer
from .training_state import TrainingState

__all__ = [
    "HFImport",
    "SafetensorsError",
    "TrainingState",
    "export_hf",
    "export_model",
    "import_hf",
    "import_hf_checkpoint",
    "load_hf",
    "load_safetensors",
    "read_hf_tokenizer",
    "save_safetensors",
    "verify_sparsity",
    "write_hf_tokenizer",
]
