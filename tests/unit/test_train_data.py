"""Training data: JSONL validation, same-dataset batches, the InfoNCE loss and its candidate mask."""

from __future__ import annotations

import gzip
import json
import random

import pytest
import torch

from lens_vdb import LensInputError
from lens_vdb.train import Example, info_nce, load_examples, parse_example
from lens_vdb.train._data import make_batches
from lens_vdb.train._loss import collate


def _record(i: int, **extra) -> dict:
    return {"query": f"query {i}", "pos": f"passage {i}", "neg": [f"negative {i}.{j}" for j in range(3)], **extra}


def test_task_sets_instruction_kind_and_symmetry():
    retrieval = parse_example(_record(0, task="retrieval"))
    assert retrieval.kind == "retrieval" and retrieval.in_batch_negatives and not retrieval.symmetric
    classification = parse_example(_record(0, task="classification"))
    assert classification.kind == "classification" and not classification.in_batch_negatives
    assert classification.symmetric and classification.instruction.startswith("Classify")
    free = parse_example(_record(0, instruction="Find the entry.", dataset="mine"))
    assert (free.instruction, free.dataset, free.kind) == ("Find the entry.", "mine", "retrieval")


@pytest.mark.parametrize(("record", "message"), [
    ({"pos": "p"}, "'query'"),
    ({"query": "q", "pos": ""}, "'pos'"),
    ({"query": "q", "pos": "p", "neg": ["ok", 3]}, r"'neg'\[1\]"),
    ({"query": "q", "pos": "p", "task": "nope"}, "Unknown task 'nope'"),
    ({"query": "q", "pos": "p", "task": "retrieval", "instruction": "x"}, "not both"),
    ({"query": "q", "pos": "p", "kind": "classification"}, "need 'neg'"),
    ({"query": "q", "pos": "p", "colour": "red"}, "unknown field"),
])
def test_bad_records_name_the_field(record, message):
    with pytest.raises(LensInputError, match=message):
        parse_example(record)


def test_load_examples_names_file_and_line(tmp_path):
    good = tmp_path / "good.jsonl.gz"
    with gzip.open(good, "wt") as handle:
        handle.write("\n".join(json.dumps(_record(i)) for i in range(3)) + "\n\n")
    assert [e.query for e in load_examples(good)] == ["query 0", "query 1", "query 2"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_record(0)) + "\n{not json\n")
    with pytest.raises(LensInputError, match=r"bad.jsonl:2: not valid JSON"):
        load_examples(bad)
    with pytest.raises(LensInputError, match="does not exist"):
        load_examples(tmp_path / "missing.jsonl")


def test_batches_hold_one_dataset_and_depend_only_on_seed_and_epoch():
    examples = [parse_example(_record(i, dataset="a" if i % 3 else "b")) for i in range(30)]
    first = make_batches(examples, 4, seed=1, epoch=0)
    assert all(len({e.dataset for e in b.examples}) == 1 for b in first)
    assert sorted(e.query for b in first for e in b.examples) == sorted(e.query for e in examples)
    assert first == make_batches(examples, 4, seed=1, epoch=0)
    assert first != make_batches(examples, 4, seed=1, epoch=1)


def test_info_nce_is_cross_entropy_over_allowed_cosines():
    torch.manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(2, 8), dim=1)
    docs = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    allowed = torch.tensor([[True, True, False, False], [False, False, True, True]])
    loss = info_nce(queries, docs, torch.tensor([0, 2]), allowed, 0.02)
    scores = queries @ docs.T / 0.02
    expected = -(torch.log_softmax(scores[0, :2], 0)[0] + torch.log_softmax(scores[1, 2:], 0)[0]) / 2
    assert torch.allclose(loss, expected, atol=1e-5)


def _tokenizer(built_dirs):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(built_dirs["llama"])


def test_collate_masks_in_batch_negatives_by_kind(built_dirs):
    tokenizer = _tokenizer(built_dirs)
    retrieval = [parse_example(_record(i, task="retrieval")) for i in range(2)]
    # a duplicate positive in another example must not count as a negative
    retrieval.append(Example(query="other", positives=("passage 0",), negatives=("x",), instruction="i",
                             dataset="retrieval", kind="retrieval", symmetric=False))
    from lens_vdb.train._data import Batch

    tensors = collate(Batch(0, tuple(retrieval)), tokenizer, negatives=2, query_max_length=32, doc_max_length=32,
                      rng=random.Random(0))
    assert tensors.positive.tolist() == [0, 3, 6] and tensors.doc_ids.shape[0] == 8
    assert tensors.allowed[0].tolist() == [True] * 6 + [False, True]  # doc 6 is "passage 0" again
    classification = [parse_example(_record(i, task="classification")) for i in range(2)]
    tensors = collate(Batch(0, tuple(classification)), tokenizer, negatives=7, query_max_length=32,
                      doc_max_length=32, rng=random.Random(0))
    assert tensors.allowed.tolist() == [[True] * 4 + [False] * 4, [False] * 4 + [True] * 4]
    # symmetric tasks embed documents like queries: every document row holds the <query> token
    query_id = tokenizer.convert_tokens_to_ids("<query>")
    assert bool((tensors.doc_ids == query_id).any(dim=1).all())
