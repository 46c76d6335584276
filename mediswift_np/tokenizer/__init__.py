"""Moses + BPE tokenizer with fastBPE files (paper Sec. 3.1).

    moses     Moses tokenization/detokenization (sacremoses, BioGPT's settings)
    bpe       BPE trainers: fast incremental :func:`learn_bpe` and :func:`learn_bpe_reference`
    encoder   :class:`Tokenizer`: merges by rank, fairseq vocabulary, encode/decode
    files     ``bpecodes`` / ``dict.txt`` readers and writers
    __main__  ``python -m mediswift_np.tokenizer train|encode|decode``

Example:
    >>> from mediswift_np.tokenizer import Tokenizer
    >>> tok = Tokenizer.train(["Aspirin lowers fever."] * 4, 50, progress=False)
    >>> tok.decode(tok.encode("Aspirin lowers fever."))
    'Aspirin lowers fever.'

Does not handle: byte-level BPE (GPT-2/3 style); this is the word-level BPE of
subword-nmt/fastBPE that BioGPT and MediSwift use.
"""

from .bpe import END_OF_WORD, Merge, learn_bpe, learn_bpe_reference, num_merges_for_vocab_size, word_frequencies
from .encoder import Tokenizer, apply_merges, build_dictionary, symbol_to_token, words_from_pieces
from .files import SPECIAL_TOKENS, read_bpecodes, read_dict, write_bpecodes, write_dict
from .moses import moses_detokenize, moses_tokenize

__all__ = [
    "END_OF_WORD",
    "Merge",
    "SPECIAL_TOKENS",
    "Tokenizer",
    "apply_merges",
    "build_dictionary",
    "learn_bpe",
    "learn_bpe_reference",
    "moses_detokenize",
    "moses_tokenize",
    "num_merges_for_vocab_size",
    "read_bpecodes",
    "read_dict",
    "symbol_to_token",
    "word_frequencies",
    "words_from_pieces",
    "write_bpecodes",
    "write_dict",
]
