"""`lens-vdb ingest` and `lens-vdb search` on the embedded engine."""

from __future__ import annotations

import json

import pytest

from lens_vdb.cli import main


@pytest.mark.parametrize("backend, location", [("qdrant", "db"), ("milvus", "m.db")])
def test_ingest_then_search_with_filter_and_explanations(tmp_path, capsys, built_dirs, backend, location):
    data = tmp_path / "docs.jsonl"
    rows = [{"id": "a", "text": "The central bank raised interest rates.", "topic": "business"},
            {"id": "b", "text": "The striker scored twice in the derby.", "topic": "sport"},
            {"id": "c", "text": "The new phone has a faster chip.", "topic": "tech"}]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    common = ["--backend", backend, "--location", str(tmp_path / location), "--model", str(built_dirs["llama"]), "--sparse-top", "8"]
    assert main(["ingest", str(data), *common]) == 0
    assert "ingested 3, skipped 0" in capsys.readouterr().out
    assert main(["ingest", str(data), *common]) == 0
    assert "ingested 0, skipped 3" in capsys.readouterr().out
    assert main(["search", "interest rates", "--explain", "--filter", "topic=sport", *common]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["id"] for h in hits] == ["b"] and hits[0]["metadata"] == {"topic": "sport"}
    assert hits[0]["shared_clusters"] and set(hits[0]["scores"]) == {"lens", "dense"}


def test_the_collection_remembers_its_options_and_a_missing_one_is_an_error(tmp_path, capsys, built_dirs,
                                                                            monkeypatch):
    """`ingest --sparse-top 8` then `search` without it works (the options are the collection's); searching,
    counting or deleting where there is no collection exits 2 and creates nothing; ``QdrantConnector()`` and the
    CLI share one default location."""
    from lens_vdb.connectors import QdrantConnector

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "docs.jsonl"
    data.write_text("\n".join(json.dumps({"id": i, "text": f"Article {i}: " + "interest rates rose again. " * 80,
                                          "topic": "business" if i % 2 else "sport"}) for i in range(3)))
    model = ["--model", str(built_dirs["llama"])]
    assert main(["search", "interest rates", *model]) == 2
    assert "does not exist" in capsys.readouterr().err and sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl"]
    assert main(["ingest", str(data), "--sparse-top", "8", "--chunk-size", "64", *model]) == 0
    assert "ingested 3, skipped 0" in capsys.readouterr().out
    assert main(["search", "interest rates", "--sparse", "--group-by-document", "--limit", "2", *model]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 2 and all(h["chunks"] and h["span"] for h in hits)
    with QdrantConnector(encoder=str(built_dirs["llama"])) as store:  # the same default location as the CLI
        assert store.count() == 3 and store.spec.sparse_top == 8
    assert main(["delete", "0", "--filter", "topic=business", *model]) == 2  # ids or a filter, not both
    assert main(["delete", "0", *model]) == 0 and "deleted 1 document(s)" in capsys.readouterr().out
    assert main(["delete", "--filter", "topic=business", *model]) == 0
    assert "deleted 1 document(s)" in capsys.readouterr().out
    assert main(["ingest", str(data), "--chunk-size", "64", *model]) == 0
    assert "ingested 2, skipped 1 (unchanged), updated 0" in capsys.readouterr().out
