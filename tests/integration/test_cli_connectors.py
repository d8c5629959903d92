"""`lens-vdb ingest` and `lens-vdb search` on the embedded engines: store and encoder options, and store errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lens_vdb.cli import main

ROWS = [{"id": "a", "text": "The central bank raised interest rates.", "topic": "business"},
        {"id": "b", "text": "The striker scored twice in the derby.", "topic": "sport"},
        {"id": "c", "text": "The new phone has a faster chip.", "topic": "tech"}]


def _docs(tmp_path):
    data = tmp_path / "docs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS))
    return data


@pytest.mark.parametrize("store, location", [("qdrant", "db"), ("milvus", "m.db")])
def test_ingest_then_search_with_filter_and_explanations(tmp_path, capsys, built_dirs, store, location):
    data = _docs(tmp_path)
    common = ["--store", store, "--location", str(tmp_path / location), "--model", str(built_dirs["llama"]),
              "--sparse-top", "8"]
    assert main(["ingest", str(data), *common]) == 0
    assert "ingested 3, skipped 0" in capsys.readouterr().out
    assert main(["ingest", str(data), *common]) == 0
    assert "ingested 0, skipped 3" in capsys.readouterr().out
    assert main(["search", "interest rates", "--explain", "--filter", "topic=sport", *common]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["id"] for h in hits] == ["b"] and hits[0]["metadata"] == {"topic": "sport"}
    assert hits[0]["shared_clusters"] and set(hits[0]["scores"]) == {"lens", "dense"}


def test_the_old_store_spelling_still_works_with_a_warning(tmp_path, capsys, built_dirs):
    common = ["--location", str(tmp_path / "m.db"), "--model", str(built_dirs["llama"])]
    assert main(["ingest", str(_docs(tmp_path)), "--backend", "milvus", *common]) == 0
    out = capsys.readouterr()
    assert "ingested 3" in out.out and "use --store milvus" in out.err and "0.3.0" in out.err
    assert main(["search", "rates", "--backend", "milvus", "--store", "qdrant", *common]) == 2
    assert "contradicts --store qdrant" in capsys.readouterr().err


def test_encoder_backend_and_threads_reach_the_encoder(tmp_path, capsys, built_dirs):
    model = str(built_dirs["llama"])
    # the ONNX backend really is asked for: it refuses a torch model folder, on one line
    assert main(["search", "rates", "--backend", "onnx", "--model", model, "--location", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lens-vdb search: error: ") and "has no model.onnx" in err and len(err.splitlines()) == 1
    script = ("import sys, torch; from lens_vdb.cli import main; "
              f"code = main(['ingest', {str(_docs(tmp_path))!r}, '--threads', '1', '--model', {model!r}, "
              f"'--location', {str(tmp_path / 'q')!r}]); print(code, torch.get_num_threads())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split()[-2:] == ["0", "1"], done.stderr  # torch's threads are per process: hence a process


def test_an_embedded_store_held_by_another_process_is_one_line(tmp_path, built_dirs, minilm):
    from lens_vdb.connectors import QdrantConnector

    location, model = tmp_path / "held", str(built_dirs["llama"])
    with QdrantConnector(location, "lens", encoder=model, dense=minilm) as store:  # held here, searched from another
        store.ingest(ROWS[:1], show_progress=False)  # a collection is made by its first write
        done = subprocess.run([sys.executable, "-m", "lens_vdb.cli", "search", "rates", "--location", str(location),
                               "--model", model], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # earlier lines: warnings of the libraries while the models load
    assert last.startswith("lens-vdb search: error: The embedded Qdrant collection ") and \
        "open in another process" in last


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
        assert store.encoder.chosen_backend.reason == "backend='torch' was asked for"  # the one default, not auto
    assert main(["delete", "0", "--filter", "topic=business", *model]) == 2  # ids or a filter, not both
    assert main(["delete", "0", *model]) == 0 and "deleted 1 document(s)" in capsys.readouterr().out
    assert main(["delete", "--filter", "topic=business", *model]) == 0
    assert "deleted 1 document(s)" in capsys.readouterr().out
    assert main(["ingest", str(data), "--chunk-size", "64", *model]) == 0
    assert "ingested 2, skipped 1 (unchanged), updated 0" in capsys.readouterr().out
