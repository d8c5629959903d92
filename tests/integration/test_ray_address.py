"""A Ray address where nothing listens fails fast, in one line, writing nothing.

In a module of its own: a Ray runtime already running in this process (another module's fixture)
is joined whatever the address, so these tests run where none is.
"""

from __future__ import annotations

import pytest

from lens_vdb import LensError
from tests.integration.ray_support import local_ray  # noqa: F401 - skips the module without ray


@pytest.mark.timeout(120)  # Ray alone would retry such an address for minutes
def test_a_ray_address_where_nothing_listens_is_one_line_and_nothing_is_written(tmp_path, built_dirs, capsys):
    import json

    from lens_vdb.cli import main
    from tests.integration.engines import free_port

    data = tmp_path / "docs.jsonl"
    data.write_text(json.dumps({"id": "a", "text": "The central bank raised interest rates."}) + "\n")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    common = ["--model", str(built_dirs["llama"]), "--location", str(tmp_path / "db"), "--backend", "torch"]
    assert main(["ingest", str(data), "--ray", "--ray-address", address, *common]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"No Ray cluster answers at '{address}'" in error, error
    assert "ray start --head" in error
    assert not (tmp_path / "db").exists() or not any((tmp_path / "db").rglob("*")), "something was written"


def test_ray_addresses_are_read_and_probed_before_ray_is_asked():
    from lens_vdb.connectors._ray.cluster import probe_address
    from tests.integration.engines import free_port

    with pytest.raises(LensError, match=r"No Ray cluster answers at 'ray://127\.0\.0\.1:\d+'"):
        probe_address(f"ray://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(LensError, match="A Ray address is 'host:port'"):
        probe_address("head-without-port", timeout=1)

