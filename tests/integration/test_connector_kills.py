"""kill -9 in the middle of an update or a delete, then a re-run: each document present once, in its latest
text, with no stale chunk. On each embedded engine.

The child process SIGKILLs itself just before its N-th write or delete call to the engine, so every
kill lands at a known step of the write order (``connectors/_collection.py``); the parent then
re-runs the same ingestion or deletes and checks every point left in the collection. The first
version is written by a child too: pymilvus keeps a Milvus Lite database (and its lock) open in
the process that opened it, closed or not, until that process exits.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lens_vdb import LensEncoder
from lens_vdb.connectors import Document
from tests.integration.engines import open_connector
from tests.integration.test_connector_lifecycle import WINDOW, article

# run once, in the 4.57 suite (their subject is the engines' and Ray's behaviour); a minute or more
pytestmark = [pytest.mark.engine_only, pytest.mark.slow]

EMBEDDED = ["qdrant-edge", "qdrant-local", "milvus-lite"]
CHILD = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    from lens_vdb import LensEncoder
    from lens_vdb.connectors._dense import MiniLMEmbedder
    from tests.integration.engines import open_connector
    engine, where, model, window, job, kill_at = sys.argv[1:7]
    c = open_connector(engine, Path(where), encoder=LensEncoder(model, max_length=int(window)),
                       dense=MiniLMEmbedder("cpu"))
    calls = [0]

    def killing(method):
        def call(*args, **kwargs):
            calls[0] += 1
            if calls[0] == int(kill_at):
                print("KILLED", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            return method(*args, **kwargs)
        return call

    for name in ("upsert", "delete_ids", "delete_chunks", "delete_matching"):
        setattr(c.store, name, killing(getattr(c.store, name)))
    job = json.loads(job)
    if "ingest" in job:
        c.ingest(job["ingest"], batch_size=2, write_workers=1, show_progress=False)
    else:
        c.delete(job["delete"])
        c.delete(filter=job["filter"])
    print("DONE", flush=True)
""")


def versions():
    v1 = [{"id": f"n{i}", "text": article(i, 4 + 2 * (i % 3)), "topic": ["business", "sport"][i % 2]} for i in range(6)]
    v2 = [dict(row) for row in v1]
    v2[0]["text"] = article(9, 2)   # shorter: its old tail must go
    v2[1]["text"] = article(8, 10)  # longer
    v2[2]["text"] = "Now a single short sentence."
    v2[4]["text"] = article(7, 6)   # same length, other text
    return v1, v2


def run_child(engine, where, model, job, kill_at=0):
    """Run ``job`` in a child process, killed with SIGKILL before its ``kill_at``-th write (0: never)."""
    child = subprocess.run([sys.executable, "-c", CHILD, engine, str(where), str(model), str(WINDOW), json.dumps(job),
                            str(kill_at)], capture_output=True, text=True, timeout=300, cwd=str(Path.cwd()))
    if kill_at:
        assert child.returncode == -signal.SIGKILL and "KILLED" in child.stdout, child.stderr[-2000:]
    else:
        assert child.returncode == 0 and "DONE" in child.stdout, child.stderr[-2000:]


def check_exactly(connector, rows):
    """Each document once, every chunk of its latest text, and not one point more."""
    builder = connector._builder(True, None, None)
    total = 0
    for row in rows:
        expected = builder.chunks(Document(row["id"], row["text"]))
        stored = connector.get([row["id"]])
        assert [(c.chunk, c.text, c.span) for c in stored] == [(c.index, c.text, (c.start, c.end)) for c in expected]
        total += len(expected)
    assert connector.count() == len(rows)
    assert connector.store.count(heads_only=False) == total


@pytest.fixture(scope="module")
def encoder(built_dirs):
    return LensEncoder(built_dirs["llama"], max_length=WINDOW)


@pytest.fixture(scope="module")
def first_version(tmp_path_factory, built_dirs):
    """The collection of the first version, per engine: written once by a child, copied for each test."""
    made: dict[str, Path] = {}

    def copy_to(engine: str, where: Path) -> None:
        if engine not in made:
            made[engine] = tmp_path_factory.mktemp(f"v1-{engine}")
            run_child(engine, made[engine], built_dirs["llama"], {"ingest": versions()[0]})
        shutil.copytree(made[engine], where, dirs_exist_ok=True)

    return copy_to


@pytest.mark.parametrize("kill_at", [2, 3])  # after chunks 1.. were written; after the stale ones were deleted
@pytest.mark.parametrize("engine", EMBEDDED)
def test_kill_during_an_update_then_rerun(engine, kill_at, tmp_path, encoder, minilm, built_dirs, first_version):
    v1, v2 = versions()
    first_version(engine, tmp_path)
    run_child(engine, tmp_path, built_dirs["llama"], {"ingest": v2}, kill_at)
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:
        report = c.ingest(v2, batch_size=2, show_progress=False)
        assert report.failed == 0 and report.ingested == 0 and report.updated + report.skipped == 6
        assert report.updated >= 1  # the kill left at least one document in its old version
        check_exactly(c, v2)


@pytest.mark.parametrize("kill_at", [2, 4])  # heads deleted, chunks not: by id; by filter
@pytest.mark.parametrize("engine", EMBEDDED)
def test_kill_during_a_delete_then_rerun(engine, kill_at, tmp_path, encoder, minilm, built_dirs, first_version):
    v1, _ = versions()
    job = {"delete": ["n0", "n3"], "filter": {"topic": "sport"}}
    first_version(engine, tmp_path)
    run_child(engine, tmp_path, built_dirs["llama"], job, kill_at)
    kept = [row for row in v1 if row["id"] not in job["delete"] and row["topic"] != "sport"]
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:
        c.delete(job["delete"])
        c.delete(filter=job["filter"])
        check_exactly(c, kept)
        report = c.ingest(v1, show_progress=False)  # the deleted documents come back whole, as new ones
        assert (report.ingested, report.updated, report.skipped) == (len(v1) - len(kept), 0, len(kept))
        check_exactly(c, v1)
