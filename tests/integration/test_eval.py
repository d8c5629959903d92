"""The harness on real text: a BEIR-layout corpus built here from BBC News (graded qrels, distractors),
BM25, all-MiniLM-L6-v2, a LENS model and the hybrids; metrics held to ir-measures; BBC figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lens_vdb.eval import (
    CachedEmbedder,
    LensSystem,
    MiniLMSystem,
    bbc_corpus,
    evaluate,
    load_bbc_news,
    load_beir,
    write_beir,
)
from tests.graphs import export_problem

MEASURES = {"mrr@10": "RR@10", "ndcg@10": "nDCG@10", "recall@10": "R@10", "recall@100": "R@100", "map@100": "AP@100"}


def make_beir_news(root: Path, size: int = 72) -> Path:
    """``size // 3`` headline queries over ``size`` BBC bodies (24 over 72): its own article
    grade 2, the next one grade 1, the one after judged 0; two thirds of the bodies are judged
    relevant to no query (distractors). Topics in metadata."""
    articles = load_bbc_news(limit=size)
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w") as out:
        for a in articles:
            out.write(json.dumps({"_id": a.id, "title": "", "text": " ".join(a.body.split()[:64]),
                                  "metadata": {"topic": a.topic}}) + "\n")
    queries = articles[::3]
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q-{a.id}", "text": a.title}) + "\n"
                                                for a in queries))
    lines = ["query-id\tcorpus-id\tscore"]
    for index in range(0, size, 3):
        q = f"q-{articles[index].id}"
        lines += [f"{q}\t{articles[index].id}\t2", f"{q}\t{articles[index + 1].id}\t1", f"{q}\t{articles[index + 2].id}\t0"]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    return load_beir(make_beir_news(tmp_path_factory.mktemp("beir") / "news"), label_field="topic")


@pytest.fixture(scope="module")
def dense(minilm):
    system = MiniLMSystem()
    system._model = minilm.model  # the session's loaded all-MiniLM-L6-v2
    return system


def _library(corpus, scores: np.ndarray) -> dict[str, float]:
    """ir-measures on the raw scores of every document: no ranking of ours in between."""
    import ir_measures

    run = {q: {d: float(s) for d, s in zip(corpus.doc_ids, row)} for q, row in zip(corpus.query_ids, scores)}
    measures = {name: ir_measures.parse_measure(m) for name, m in MEASURES.items()}
    values = ir_measures.calc_aggregate(list(measures.values()), corpus.qrels, run)
    return {name: values[m] for name, m in measures.items()}


def test_a_beir_corpus_with_distractors_and_graded_qrels_agrees_with_the_library(news, llama_encoder, dense, tmp_path):
    assert (news.size, len(news.documents), news.dropped_queries) == (24, 72, 0)
    report = evaluate(news, [LensSystem("tiny LENS", llama_encoder)], dense=dense, cache_dir=tmp_path / "cache")
    names = [row.system for row in report.rows]
    assert names == ["BM25", "MiniLM", "BM25 + MiniLM (RRF)", "tiny LENS", "tiny LENS + MiniLM (RRF)",
                     "tiny LENS + MiniLM (DBSF)", "tiny LENS + MiniLM (weighted)"]
    lens_scores = llama_encoder.encode_queries(news.queries, "retrieval") @ llama_encoder.encode_documents(news.documents).T
    minilm_scores = dense.embed_queries(news.queries) @ dense.embed_documents(news.documents).T
    # prefetch 500 >= 72 documents: the weighted hybrid is the plain sum of the two cosines over all of them
    for row, scores in (("MiniLM", minilm_scores), ("tiny LENS", lens_scores),
                        ("tiny LENS + MiniLM (weighted)", lens_scores + minilm_scores)):
        assert report.row(row).retrieval == pytest.approx(_library(news, scores), abs=1e-6), row
    # real news: headlines find their articles; the grade-1 neighbour keeps nDCG and recall below 1
    minilm = report.row("MiniLM")
    assert 0.6 < minilm.retrieval["mrr@10"] and minilm.retrieval["recall@10"] < 1.0
    assert minilm.classification_accuracy > 0.5 and report.row("BM25").classification_accuracy is None
    low, high = minilm.intervals["ndcg@10"]
    assert low <= minilm.retrieval["ndcg@10"] <= high and high - low > 0
    assert len(minilm.per_query["ndcg@10"]) == 24 and report.query_ids == news.query_ids
    table = report.table()
    assert "tiny LENS + MiniLM (DBSF)" in table and "24 queries over 72 documents" in table
    saved = json.loads(report.to_json(tmp_path / "eval.json").read_text())
    assert saved["size"] == 24 and len(saved["rows"]) == 7 and saved["settings"]["prefetch"] == 500
    assert report.plot(tmp_path / "eval.png").read_bytes()[:4] == b"\x89PNG"


def test_the_cache_keys_on_the_model_and_never_mixes_two(news, llama_encoder, built_dirs, tmp_path):
    from lens_vdb import LensEncoder, LensInputError

    cache = tmp_path / "cache"
    first = CachedEmbedder(LensSystem("tiny LENS", llama_encoder), cache)
    vectors = first.embed_documents(news.documents)
    again = CachedEmbedder(LensSystem("tiny LENS", llama_encoder), cache)
    assert np.array_equal(again.embed_documents(news.documents), vectors) and again.texts_encoded == 0
    # the same name over other weights, another dtype, another max_length: each its own entry
    others = [LensEncoder(built_dirs["qwen2"]), LensEncoder(built_dirs["llama"], dtype="bf16"),
              LensEncoder(built_dirs["llama"], max_length=64)]
    entries = {first.entry("documents", news.documents)}
    for encoder in others:
        other = CachedEmbedder(LensSystem("tiny LENS", encoder), cache)
        other.embed_documents(news.documents)
        assert other.texts_encoded == len(news.documents)
        entries.add(other.entry("documents", news.documents))
    assert len(entries) == 4 and len(list(cache.glob("*.npy"))) == 4

    class Anonymous:
        name = "no identity"

    with pytest.raises(LensInputError, match="no fingerprint"):
        CachedEmbedder(Anonymous(), cache)  # type: ignore[arg-type]


@pytest.mark.skipif(export_problem() is not None, reason=f"exports two graphs: {export_problem()}")
def test_onnx_encoders_have_an_identity_from_their_export(built_dirs, tmp_path):
    from lens_vdb import LensEncoder
    from lens_vdb.export import export_onnx

    graphs = {family: export_onnx(str(built_dirs[family]), tmp_path / family) for family in ("llama", "qwen2")}
    llama, qwen = (LensSystem("ONNX", LensEncoder(graphs[f], backend="onnx")) for f in ("llama", "qwen2"))
    torch_llama = LensSystem("ONNX", LensEncoder(built_dirs["llama"]))
    assert llama.fingerprint.startswith(torch_llama.encoder.fingerprint)  # one model, one identity...
    assert len({llama.fingerprint, qwen.fingerprint, torch_llama.fingerprint}) == 3  # ...three kinds of vectors
    texts = ["a text to cache"]
    assert CachedEmbedder(llama, tmp_path).entry("documents", texts) != CachedEmbedder(qwen, tmp_path).entry(
        "documents", texts)


def test_bbc_figures_come_out_unchanged_through_the_general_form(tmp_path):
    # the README's BBC-500 BM25 row (MRR@10 0.901, nDCG@10 0.920, R@10 0.978), directly and through a BEIR folder
    corpus = bbc_corpus(limit=500)
    direct = evaluate(corpus, bootstrap=0).row("BM25").retrieval
    assert [round(direct[m], 3) for m in ("mrr@10", "ndcg@10", "recall@10")] == [0.901, 0.920, 0.978]
    beir = load_beir(write_beir(corpus, tmp_path / "bbc"), label_field="label")
    assert evaluate(beir, bootstrap=0).row("BM25").retrieval == direct


@pytest.mark.slow
def test_the_default_model_ranks_bbc_as_the_known_item_formula_says(tmp_path):
    from lens_vdb import LensEncoder

    corpus = bbc_corpus(limit=60, doc_words=64)
    system = LensSystem("LENS", LensEncoder("default", max_length=128))
    cached = CachedEmbedder(system, tmp_path)  # encoded once here; evaluate() reads the same vectors back
    scores = cached.embed_queries(corpus.queries) @ cached.embed_documents(corpus.documents).T
    report = evaluate(corpus, [system], bm25=False, bootstrap=0, cache_dir=tmp_path)
    order = np.argsort(-scores, axis=1, kind="stable")
    gold = np.argmax(order == np.arange(len(order))[:, None], axis=1) + 1  # each headline's article's rank
    hit = gold <= 10
    expected = {"mrr@10": np.mean(np.where(hit, 1 / gold, 0)), "ndcg@10": np.mean(np.where(hit, 1 / np.log2(gold + 1), 0)),
                "recall@10": np.mean(hit)}
    got = report.row("LENS").retrieval
    assert {m: got[m] for m in expected} == pytest.approx(expected, abs=1e-9)
    assert got["mrr@10"] > 0.3  # the trained model (the untrained one is near 0.1 at this size)


def test_eval_command_on_a_beir_folder_prints_the_table_and_writes_json_and_a_plot(built_dirs, tmp_path, capsys):
    from lens_vdb.cli import main

    folder = make_beir_news(tmp_path / "news")
    out, plot = tmp_path / "eval.json", tmp_path / "eval.png"
    code = main(["eval", "--corpus", str(folder), "--label-field", "topic", "--model", str(built_dirs["llama"]),
                 "--label", "tiny", "--no-dense", "--no-progress", "--json", str(out), "--plot", str(plot)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "news: 24 queries over 72 documents" in printed and "tiny" in printed
    assert [row["system"] for row in json.loads(out.read_text())["rows"]] == ["BM25", "tiny"]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    broken = tmp_path / "broken"
    write_beir(load_beir(folder), broken)
    (broken / "qrels" / "test.tsv").write_text("q-x\tnowhere\t1\n")
    assert main(["eval", "--corpus", str(broken), "--no-dense", "--no-bm25", "--model", str(built_dirs["llama"])]) == 2
    assert "test.tsv:1: query 'q-x' is not in queries.jsonl" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--backend", "tensorflow"])
    assert "invalid choice: 'tensorflow' (choose from auto, torch, onnx" in capsys.readouterr().err


def test_eval_command_on_the_perl_faq_named_set(built_dirs, capsys):
    from lens_vdb.cli import main

    code = main(["eval", "--dataset", "perl-faq", "--articles", "20", "--model", str(built_dirs["llama"]), "--label",
                 "tiny", "--no-dense", "--no-progress", "--bootstrap", "0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "perl-faq-20: 20 queries over 20 documents" in printed
    assert [line.split()[0] for line in printed.splitlines() if line.startswith(("BM25", "tiny"))] == ["BM25", "tiny"]
    with pytest.raises(SystemExit):
        main(["eval", "--dataset", "perl-faq", "--corpus", "my-corpus/"])
    assert "argument --corpus: not allowed with argument --dataset" in capsys.readouterr().err
