"""A test-only reference that follows the official LENS usage (Yibin-Lei/LENS ``eval/model.py``) literally.

Left padding; ``text + "</s>"`` tokenised with ``add_special_tokens=True``; queries as
``<instruct>{task}\\n<query>{query}`` pooled over ``[<query> position : -2]``; documents pooled
with ``attention_mask[:, -2:] = 0``; ``max(log(1 + relu(logits)) * mask)``; L2 normalisation.
The model runs the full ``[batch, tokens, vocab]`` logits. Bidirectional attention is given as
a padding-only 4-D mask, built here independently of lens-vdb, and positions are the plain
``arange`` the official code gets under left padding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoTokenizer, MistralConfig, MistralModel


class OfficialLens:
    def __init__(self, directory: Path, instruction: str) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.unk_token or self.tokenizer.eos_token
        self.tokenizer.add_special_tokens({"additional_special_tokens": ["<instruct>", "<query>", "<response>"]})
        data = json.loads((directory / "config.json").read_text())
        data["vocab_size"] = len(self.tokenizer)
        config = MistralConfig(**{k: v for k, v in data.items() if k not in ("architectures", "transformers_version")})
        self.model = MistralModel.from_pretrained(directory, config=config, attn_implementation="eager").eval()
        with torch.serialization.safe_globals([nn.Linear]):
            self.lm_head = torch.load(directory / "lm_head.pth", weights_only=True)
        self.instruction = instruction
        self.suffix = "</s>"

    def _logits(self, inputs) -> torch.Tensor:
        mask = inputs["attention_mask"].float()
        bias = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        hidden = self.model(input_ids=inputs["input_ids"], attention_mask=bias).last_hidden_state
        return self.lm_head(hidden)

    @staticmethod
    def _pool(vecs: torch.Tensor, pooling_mask: torch.Tensor) -> torch.Tensor:
        values, _ = torch.max(torch.log(1 + torch.relu(vecs)) * pooling_mask.unsqueeze(-1), dim=1)
        return F.normalize(values, p=2, dim=1)

    @torch.no_grad()
    def encode_queries(self, queries: list[str]) -> np.ndarray:
        sentences = [f"<instruct>{self.instruction}\n<query>{q}" + self.suffix for q in queries]
        inputs = self.tokenizer(sentences, padding=True, return_tensors="pt", add_special_tokens=True)
        logits = self._logits(inputs)
        pooling_mask = torch.zeros_like(inputs["input_ids"], dtype=inputs["attention_mask"].dtype)
        special_token_id = self.tokenizer.convert_tokens_to_ids("<query>")
        for idx, seq in enumerate(inputs["input_ids"]):
            special_pos = (seq == special_token_id).nonzero()
            last_pos = special_pos[-1].item()
            pooling_mask[idx, last_pos:-2] = 1
        return self._pool(logits, pooling_mask).numpy()

    @torch.no_grad()
    def encode_corpus(self, corpus: list[str]) -> np.ndarray:
        sentences = [doc + self.suffix for doc in corpus]
        inputs = self.tokenizer(sentences, padding=True, return_tensors="pt", add_special_tokens=True)
        logits = self._logits(inputs)
        inputs["attention_mask"][:, -2:] = 0
        return self._pool(logits, inputs["attention_mask"]).numpy()
