"""The fusion a LENS model is best fused with: measured on held-out data, kept beside the model, read by the
encoder; a damaged record is an error naming the file, never a silent RRF."""

from __future__ import annotations

import json

import pytest

from lens_vdb import LensEncoder, LensInputError, LensModelError
from lens_vdb._model.fusion import FUSION_FILE, FusionRecord, read_fusion
from lens_vdb.eval import Corpus, LensSystem, MiniLMSystem, bbc_corpus
from lens_vdb.eval._calibrate import FUSION_CANDIDATES, calibrate_fusion
from tests.tiny import copy_tiny_lens

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return bbc_corpus(limit=40, doc_words=48)


def test_the_best_fusion_on_held_out_data_is_recorded_with_every_candidates_score(tmp_path, corpus):
    model_dir = copy_tiny_lens(tmp_path / "model")
    lens = LensSystem("LENS", LensEncoder(model_dir, max_length=64, batch_size=8))
    record = calibrate_fusion(corpus, lens, MiniLMSystem(), dense_model=MINILM, depth=20)
    tried = {FusionRecord(fusion=f, weights=(a, b), dense_model=MINILM, measured_on="").label
             for f, a, b in FUSION_CANDIDATES}
    assert set(record.scores) == tried | {"LENS alone", "dense alone"}
    assert record.scores[record.label] == max(record.scores[label] for label in tried)
    # the random tiny model ranks far below MiniLM: the winner leans on the dense route, above plain RRF
    assert record.scores[record.label] >= record.scores["dense alone"] - 0.05
    assert record.scores["rrf 1:1"] < record.scores["dense alone"]
    assert record.dense_model == MINILM and "bbc-news-40: 40 queries, 40 documents" == record.measured_on

    record.save(model_dir)
    assert read_fusion(model_dir) == record and LensEncoder(model_dir).fusion == record
    assert LensEncoder(copy_tiny_lens(tmp_path / "other")).fusion is None  # not measured: today's RRF 1:1
    options = record.search_options()
    assert options["fusion"] == record.fusion and ("weights" in options) == (record.fusion != "dbsf")


def test_a_damaged_record_is_an_error_naming_the_file(tmp_path):
    model_dir = copy_tiny_lens(tmp_path / "model")
    for damage in ("{not json", json.dumps({"fusion": "rff", "dense_model": MINILM, "measured_on": "x"}),
                   json.dumps({"fusion": "weighted", "weights": [-1, 1], "dense_model": MINILM, "measured_on": "x"}),
                   json.dumps({"fusion": "rrf", "dense_model": MINILM, "measured_on": "x", "format_version": 99})):
        (model_dir / FUSION_FILE).write_text(damage)
        with pytest.raises(LensModelError, match=rf"{FUSION_FILE}.*lens-vdb calibrate"):
            LensEncoder(model_dir)


def test_too_few_queries_cannot_tell_fusions_apart(tmp_path):
    small = Corpus.known_item("small", ["a query"] * 1, ["a document"])
    with pytest.raises(LensInputError, match="at least 20 queries"):
        calibrate_fusion(small, None, None, dense_model=MINILM)  # type: ignore[arg-type]
