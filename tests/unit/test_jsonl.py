"""The one JSONL reader: byte-order mark, gzip, blank lines, and errors naming the file and line."""

from __future__ import annotations

import gzip

import pytest

from lens_vdb import LensInputError
from lens_vdb._jsonl import read_jsonl, read_jsonl_objects


def test_reads_a_bom_a_gzip_file_and_skips_blank_lines(tmp_path):
    plain = tmp_path / "bom.jsonl"
    plain.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"a": 2}\n')
    packed = tmp_path / "packed.jsonl.gz"
    packed.write_bytes(gzip.compress('{"a": "é"}\n[1, 2]\n'.encode()))
    assert list(read_jsonl(plain)) == [(1, {"a": 1}), (4, {"a": 2})]
    assert list(read_jsonl(packed)) == [(1, {"a": "é"}), (2, [1, 2])]


def test_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(LensInputError, match=r"bad.jsonl:3: not valid JSON"):
        list(read_jsonl(bad))
    array = tmp_path / "array.jsonl.gz"
    array.write_bytes(gzip.compress(b'{"a": 1}\n[1]\n'))
    with pytest.raises(LensInputError, match=r"array.jsonl.gz:2: a JSON object is expected, got list"):
        list(read_jsonl_objects(array))
    with pytest.raises(LensInputError, match=r"Training data file .*missing.jsonl does not exist"):
        list(read_jsonl(tmp_path / "missing.jsonl", what="Training data file"))
    not_gzip = tmp_path / "fake.jsonl.gz"
    not_gzip.write_text('{"a": 1}\n')
    with pytest.raises(LensInputError, match=r"Cannot read JSONL file .*fake.jsonl.gz: .*gzip-compressed"):
        list(read_jsonl(not_gzip))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"a": "café"}\n'.encode("latin-1"))
    with pytest.raises(LensInputError, match=r"Cannot read JSONL file .*latin.jsonl: .*UTF-8"):
        list(read_jsonl(latin))


def test_training_data_and_beir_corpora_share_it(tmp_path):
    from lens_vdb.eval import load_beir
    from lens_vdb.train import load_examples

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(b'\xef\xbb\xbf{"query": "bank", "pos": "a financial institution"}\n')
    assert [e.query for e in load_examples(pairs)] == ["bank"]  # the mark used to break the first line
    (tmp_path / "beir" / "qrels").mkdir(parents=True)
    (tmp_path / "beir" / "corpus.jsonl.gz").write_bytes(gzip.compress(b'{"_id": "d1", "text": "a bank"}\n'))
    (tmp_path / "beir" / "queries.jsonl").write_text('{"_id": "q1", "text": "bank"}\n')
    (tmp_path / "beir" / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    corpus = load_beir(tmp_path / "beir")
    assert corpus.documents == ["a bank"] and corpus.queries == ["bank"]
