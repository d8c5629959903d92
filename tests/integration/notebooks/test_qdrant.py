"""notebooks/qdrant.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import re

import pytest

from tests.integration.notebooks.support import (
    check_clean,
    check_filters,
    check_fusions,
    check_resumed,
    check_route_scores,
    check_updates_and_deletes,
    images,
    markdown_tables,
    outputs,
    run_notebook,
)

pytestmark = pytest.mark.slow

def test_qdrant_notebook_executes(tmp_path):
    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    pytest.importorskip("qdrant_edge", reason="the Qdrant notebook needs lens-vdb[qdrant]")
    notebook = run_notebook("qdrant.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    # before its first write the collection does not exist: counting it is an error that creates nothing
    assert re.search(r"^LensInputError: The embedded Qdrant collection 'bbc' at .* does not exist", printed, re.M)
    assert check_resumed(printed) == 1
    assert "64 texts encoded; stored: 64 documents" in printed  # the re-run encoded the 48 left (and chunks)
    # the five whole articles were chunked, every chunk within both windows (LENS max_length=128, MiniLM 254)
    (chunks,) = markdown_tables(notebook, "article")
    assert len(chunks) == 5, chunks
    for article, words, count, tokens, spans in chunks:
        lens_tokens, dense_tokens = (int(n) for n in tokens.split(","))
        assert int(words) > 200 and int(count) >= 3 and len(spans.split(",")) == int(count), (article, count, spans)
        assert lens_tokens <= 128 and dense_tokens <= 254, (article, tokens)
    # a grouped search: documents with their best chunks, the long article found by two of its chunks
    assert re.search(r"^business/001 'Ad sales boost Time Warner profit': chunk \d+ \(\d+, \d+\) \([\d.]+\), chunk \d+",
                     printed, re.M), printed
    check_updates_and_deletes(printed)
    check_filters(printed)
    (route_scores,) = markdown_tables(notebook, "fusion")
    check_route_scores(route_scores, ["rrf", "dbsf", "weighted"])
    (fusions,) = markdown_tables(notebook, "search")
    check_fusions(fusions, ["LENS alone", "MiniLM alone", "RRF", "DBSF", "weighted 1:1"])
    # storage options: the exact ones keep (nearly) the float32 top 10; pruning to the top N dims loses some
    (storage,) = markdown_tables(notebook, "storage")
    recall = {row[0]: float(row[2]) for row in storage}
    assert list(recall) == ["float32 (default)", "float16", 'quantization="int8"', "on_disk=True", "sparse_top=256",
                            "sparse_top=64"], storage
    assert recall["float32 (default)"] == 1.0 and recall["on_disk=True"] == 1.0
    assert recall["float16"] >= 0.95 and recall['quantization="int8"'] >= 0.95, recall
    assert 0 < recall["sparse_top=64"] <= recall["sparse_top=256"] < 1, recall
    # reopened, the int8 collection adopts its option and names its models; another option is refused
    assert "reopened without options: int8=True; LENS model " in printed
    assert re.search(r"^LensSchemaError: .*'bbc_quantizationint8'.* Options differ: \(stored, asked\) = "
                     r"\{'int8': \(True, False\)\}", printed, re.M), printed
    assert images(notebook) == 2, "the fusions chart and the storage recall chart"
    assert (tmp_path / "qdrant-data" / "bbc" / "lens_vdb_collection.json").is_file()  # written where it ran
