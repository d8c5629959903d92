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
