"""Turning texts into LENS model inputs: validation, prompts, EOS handling, truncation, padding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from .._errors import LensInputError, LensTypeError
from .._instructions import QUERY_TOKEN, format_query

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["validate_texts", "positive_int", "TokenizedBatch", "tokenize_queries", "tokenize_documents", "pad_batch"]


def validate_texts(texts: object, *, what: str = "texts") -> list[str]:
    """Check that ``texts`` is an ordered collection of strings, naming the first bad item.

    Empty and whitespace-only strings are valid: they embed to the zero vector (nothing to pool).
    A dict or set is refused (a dict would be read as its keys, a set in no fixed order), and so is
    a string that is not valid Unicode (a lone surrogate cannot be tokenized).
    """
    if isinstance(texts, (str, bytes)):
        raise LensTypeError(f"{what} must be a list of strings, got a single {type(texts).__name__}; wrap it: [text].")
    if isinstance(texts, (Mapping, Set)):
        raise LensTypeError(f"{what} must be a list of strings, got a {type(texts).__name__}: a dict would be read as "
                        "its keys and a set has no order; pass a list, e.g. list(d.values()).")
    items: list[object]
    if isinstance(texts, Sequence):
        items = list(texts)
    else:
        try:
            items = list(cast("Iterable[object]", texts))  # a non-iterable raises TypeError here
        except TypeError:
            raise LensTypeError(f"{what} must be a list of strings, got {type(texts).__name__}.") from None
    strings: list[str] = []
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise LensTypeError(f"{what}[{index}] is {type(text).__name__} ({text!r:.40}), expected str.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LensInputError(f"{what}[{index}] is not valid Unicode: {exc.reason} at character {exc.start} "
                                 f"({text[max(0, exc.start - 20):exc.start + 1]!r}); decode the source text with "
                                 "errors='replace' or drop the character.") from None
        strings.append(text)
    return strings


def positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """``value`` if it is an int of at least ``minimum`` (not a bool, not a float), else a LensInputError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LensInputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class TokenizedBatch:
    """Token ids per text (EOS appended once), and which texts were cut to ``max_length``."""

    ids: list[list[int]]
    truncated: list[bool]


def tokenize_queries(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], instruction: str, max_length: int
) -> TokenizedBatch:
    """``<instruct>{instruction}\\n<query>{text}`` + EOS; the text is cut, never the instruction."""
    prompts = [format_query(instruction, text) for text in texts]
    batch = _tokenize(tokenizer, prompts, max_length, split_special_tokens=False)
    query_id = tokenizer.convert_tokens_to_ids(QUERY_TOKEN)
    for index, ids in enumerate(batch.ids):
        if query_id not in ids:
            raise LensInputError(
                f"The instruction {instruction[:60]!r}... is longer than max_length={max_length} tokens, "
                f"so queries[{index}] has no room left; raise max_length or shorten the instruction."
            )
    return batch


def tokenize_documents(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> TokenizedBatch:
    """Text + EOS. Special-token strings inside a document (``<query>``, ``</s>``) stay plain text."""
    return _tokenize(tokenizer, list(texts), max_length, split_special_tokens=True)


def _tokenize(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, *, split_special_tokens: bool
) -> TokenizedBatch:
    eos = tokenizer.eos_token_id
    if eos is None:
        raise LensInputError("The tokenizer has no EOS token; LENS needs one to end every text.")
    encoded = tokenizer(
        texts, add_special_tokens=True, split_special_tokens=split_special_tokens, verbose=False
    )["input_ids"]
    ids_out, truncated = [], []
    for ids in encoded:
        body = ids[:-1] if ids and ids[-1] == eos else ids  # some tokenizers append EOS: never two
        cut = len(body) + 1 > max_length
        ids_out.append((body[: max_length - 1] if cut else body) + [eos])
        truncated.append(cut)
    return TokenizedBatch(ids_out, truncated)


def pad_batch(sequences: Sequence[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad to the longest sequence: ``(input_ids, attention_mask)`` as int64 arrays."""
    width = max(len(s) for s in sequences)
    input_ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask
