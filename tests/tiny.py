"""Tiny, seeded, real models and tokenizers for tests: no weights are committed, nothing is downloaded.

The tokenizer is a real BPE trained (deterministically) on a small built-in corpus, shaped like
Mistral's: Metaspace pre-tokenisation, ``<s>`` prepended, and optionally ``</s>`` appended by the
post-processor, as the official LENS hub tokenizers do.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

CORPUS = [
    "The Bank of England raised interest rates to curb inflation.",
    "Chelsea won the cup final after extra time at Wembley.",
    "The new phone has a faster chip and a better camera.",
    "Parliament debated the budget and the tax on fuel.",
    "The film won three awards at the festival in Cannes.",
    "A lexicon embedding maps text to weighted vocabulary clusters.",
    "Dense vectors capture meaning; lexical vectors capture words.",
    "Hybrid search fuses sparse and dense scores with reciprocal rank fusion.",
    "What is the capital of France? Paris is the capital of France.",
    "Stocks fell sharply as investors worried about growth and oil prices.",
    "Given a web search query, retrieve relevant passages that answer the query.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
] * 3

SPECIALS = ["<unk>", "<s>", "</s>"]
LENS_TOKENS = ["<instruct>", "<query>", "<response>"]


def make_tokenizer(directory: Path, *, append_eos: bool = False, lens_tokens: bool = True, vocab_size: int = 400):
    """Train a small Mistral-like BPE tokenizer, save it to ``directory`` and return it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    template = "<s> $A </s>" if append_eos else "<s> $A"
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    if lens_tokens:
        fast.add_special_tokens({"additional_special_tokens": LENS_TOKENS})
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(directory)
    return fast


def tiny_config(family: str, vocab_size: int, *, layers: int = 2, tied: bool = False):
    """A random config of the given family (mistral, llama, qwen2), 2 layers unless told."""
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    common = dict(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, bos_token_id=1,
        eos_token_id=2, pad_token_id=None, tie_word_embeddings=tied,
    )
    return {"mistral": MistralConfig, "llama": LlamaConfig, "qwen2": Qwen2Config}[family](**common)


def make_official_checkpoint(directory: Path, *, k: int = 48, seed: int = 0, append_eos: bool = True,
                             hidden_size: int | None = None) -> Path:
    """A random Mistral checkpoint in the official LENS layout (``yibinlei/LENS-d*``)."""
    from transformers import MistralModel

    tokenizer = make_tokenizer(directory, append_eos=append_eos)
    torch.manual_seed(seed)
    config = tiny_config("mistral", len(tokenizer))
    MistralModel(config).save_pretrained(directory, safe_serialization=True)
    # The hub configs advertise vocab_size = k and the bidirectional class, as the official repos do.
    data = json.loads((directory / "config.json").read_text())
    data.update(vocab_size=k, architectures=["MistralBiForCausalLM"])
    (directory / "config.json").write_text(json.dumps(data, indent=2))
    head = nn.Linear(hidden_size or config.hidden_size, k, bias=False)
    torch.save(head, directory / "lm_head.pth")  # a pickled nn.Linear, as the official repo ships it
    return directory


def make_causal_lm(directory: Path, family: str = "llama", *, seed: int = 0, tied: bool = False) -> Path:
    """A random causal LM with a plain BPE tokenizer (no LENS tokens): input for build_lens_model.

    ``tied``: the LM head is the input embedding matrix (as SmolLM2's), else a matrix of its own."""
    from transformers import AutoModelForCausalLM

    tokenizer = make_tokenizer(directory, lens_tokens=False)
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(tiny_config(family, len(tokenizer), tied=tied)).save_pretrained(directory)
    return directory


_TINY_LENS: Path | None = None


def tiny_lens_dir() -> Path:
    """A tiny k=32 LENS model built once per process (for test classes that take constructor params)."""
    global _TINY_LENS
    if _TINY_LENS is None:
        import atexit
        import shutil
        import tempfile

        from lens_vdb import build_lens_model

        root = Path(tempfile.mkdtemp(prefix="lens-vdb-tiny-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        base = make_causal_lm(root / "base", "llama")
        _TINY_LENS = build_lens_model(base, k=32, seed=0, niter=10).save_pretrained(root / "lens")
    return _TINY_LENS


def copy_tiny_lens(target: Path) -> Path:
    """A private copy of :func:`tiny_lens_dir` at ``target``, without what other tests wrote beside the shared
    model (``backend="auto"``'s measurements): a model this machine never measured."""
    import shutil

    from lens_vdb._inference.auto_cache import AUTO_FILE

    return Path(shutil.copytree(tiny_lens_dir(), target, ignore=shutil.ignore_patterns(AUTO_FILE)))
