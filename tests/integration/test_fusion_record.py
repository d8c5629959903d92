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


@pytest.mark.parametrize("engine", ["qdrant-edge", "milvus-lite"])
def test_a_search_without_fusion_runs_the_models_own_with_its_dense_model_only(tmp_path, engine, minilm):
    from tests.integration.engines import open_connector

    model_dir = copy_tiny_lens(tmp_path / "model")
    FusionRecord(fusion="weighted", weights=(0.7, 0.3), dense_model=MINILM, measured_on="held-out").save(model_dir)
    encoder = LensEncoder(model_dir)
    texts = ["The central bank raised interest rates.", "The striker scored twice.", "A new phone chip is fast.",
             "Rates fell as inflation cooled.", "The club signed a new goalkeeper."]

    def scores(connector, **options):  # ties may come back in either order
        hits = connector.search("interest rates", limit=5, **options)
        return sorted(((round(hit.score, 5), hit.id) for hit in hits), reverse=True)

    with open_connector(engine, tmp_path / "db", encoder=encoder, dense=minilm) as c:
        c.ingest(texts, show_progress=False)
        own = scores(c)
        assert own == scores(c, fusion="weighted", weights=(0.7, 0.3)) != scores(c, fusion="rrf")
        assert scores(c, fusion="rrf") == scores(c, fusion="rrf", weights=(1.0, 1.0))  # given: it wins
        if engine.startswith("qdrant"):  # weights alone: RRF with them (Milvus' RRFRanker takes no weights)
            assert scores(c, weights=(2.0, 1.0)) == scores(c, fusion="rrf", weights=(2.0, 1.0))
        assert 0.3 < own[0][0] <= 1.0  # a weighted sum of cosines, not an RRF score (at most 2/61)

    def other_dense(batch):  # another dense model: the record, measured with MiniLM, does not apply
        return [minilm.embed_query(text) for text in batch]

    with open_connector(engine, tmp_path / "db2", encoder=encoder, dense=other_dense) as c:
        c.ingest(texts, show_progress=False)
        assert scores(c) == scores(c, fusion="rrf", weights=(1.0, 1.0))


def test_the_calibrate_command_prints_each_fusion_and_saves_the_best_beside_the_model(tmp_path, corpus, capsys):
    from lens_vdb.cli import main

    model_dir = copy_tiny_lens(tmp_path / "model")
    pairs = tmp_path / "held-out.jsonl"
    pairs.write_text("".join(json.dumps({"query": q, "pos": d}) + "\n" for q, d in zip(corpus.queries, corpus.documents)))
    args = ["calibrate", "--pairs", str(pairs), "--model", str(model_dir), "--max-length", "64", "--no-progress"]
    assert main(args + ["--limit", "10"]) == 2  # too few queries to tell fusions apart: one line, nothing written
    assert "at least 20 queries" in capsys.readouterr().err and read_fusion(model_dir) is None
    assert main(args + ["--save"]) == 0
    out = capsys.readouterr().out
    record = read_fusion(model_dir)
    assert record is not None and f"{record.label}   <- best" in out and "held-out-40: 40 queries" in out
    assert LensEncoder(model_dir).specificity is not None and "lens_cluster_idf.safetensors" in out
    assert main(["calibrate", "--pairs", str(pairs), "--model", "default", "--save"]) == 2  # not a folder
    assert "is not a folder of yours" in capsys.readouterr().err
    # a named set: the Perl FAQ's calibration half, so its evaluation half stays free to report on
    assert main(["calibrate", "--dataset", "perl-faq-calibration", "--limit", "24", "--model", str(model_dir),
                 "--max-length", "64", "--no-progress"]) == 0
    assert "perl-faq-calibration-24: 24 queries" in capsys.readouterr().out


def test_an_export_carries_the_models_fusion_record(tmp_path):
    from tests.graphs import export_problem

    if export_problem() is not None:
        pytest.skip(f"exports a graph: {export_problem()}")
    from lens_vdb.export import export_onnx

    model_dir = copy_tiny_lens(tmp_path / "model")
    record = FusionRecord(fusion="weighted", weights=(0.6, 0.4), dense_model=MINILM, measured_on="held-out")
    record.save(model_dir)
    graph = export_onnx(str(model_dir), tmp_path / "onnx", retrieval_articles=0)
    assert LensEncoder(graph, backend="onnx").fusion == record
