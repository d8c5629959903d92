"""notebooks/milvus.ipynb runs top to bottom in a real Jupyter kernel and shows what it says."""

from __future__ import annotations

import os
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

def test_milvus_notebook_executes(tmp_path):
    import signal
    import socket

    pytest.importorskip("matplotlib", reason="the notebooks' plots need matplotlib: pip install 'lens-vdb[docs]'")
    pytest.importorskip("milvus_lite", reason="the Milvus notebook needs lens-vdb[milvus]")
    notebook = run_notebook("milvus.ipynb", tmp_path)
    check_clean(notebook)
    printed = outputs(notebook)
    started = re.search(r"^Milvus server: process (\d+), answering on port (\d+) after", printed, re.M)
    assert started, printed
    pid, port = (int(n) for n in started.groups())
    try:  # the notebook's last cell stopped exactly the process it started
        assert f"Milvus server process {pid} stopped" in printed
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        try:
            os.kill(pid, signal.SIGKILL)  # only if the assertions above failed: leave no server behind
        except ProcessLookupError:
            pass
    assert check_resumed(printed) == 2, "Milvus Lite, then the server"
    assert "{'business/001': 8, 'entertainment/029': 5, 'politics/026': 5, 'sports/023': 6, 'tech/015': 4} chunks" \
        in printed, printed
    assert re.search(r"^business/001 'Ad sales boost Time Warner profit': chunk \d+ \(\d+, \d+\) \([\d.]+\), chunk \d+",
                     printed, re.M), printed
    check_updates_and_deletes(printed)
    assert printed.count("ingested 0, skipped 63 (unchanged), updated 1, failed 0") == 2  # on both engines
    check_filters(printed)
    (route_scores,) = markdown_tables(notebook, "fusion")
    check_route_scores(route_scores, ["rrf", "weighted"])
    assert "LensInputError: Milvus has no DBSF fusion" in printed
    names = ["LENS alone", "MiniLM alone", "RRF", "weighted 1:1"]
    (lite,) = markdown_tables(notebook, "Milvus Lite")
    (server,) = markdown_tables(notebook, "Milvus server")
    check_fusions(lite, names)
    check_fusions(server, names)
    same, pairs = (int(n) for n in re.search(r"the same rank on both engines for (\d+) of (\d+)", printed).groups())
    assert pairs == 4 * 64 and same >= 0.9 * pairs, (same, pairs)  # ties may break otherwise; the data is the same
    assert images(notebook) == 1
    assert (tmp_path / "bbc.db").exists() and (tmp_path / "milvus-server").is_dir()  # written where it ran
