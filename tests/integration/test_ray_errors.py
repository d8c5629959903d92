"""Bad input through the Ray path is the error ``ingest`` gives: the same LensError naming the document, and
nothing written. A missing ``ray`` is a LensDependencyError naming the extra."""

from __future__ import annotations

import math
import sys

import pytest

from lens_vdb import LensDependencyError, LensEncoder, LensError, LensInputError, LensSchemaError
from lens_vdb.connectors import RayOptions
from tests.integration.engines import open_connector
from tests.integration.ray_support import local_ray  # skips the module without ray

ONE = RayOptions(encoders=1)
NO_TEXT = [{"id": "a", "text": "A fine first document."}, {"id": "b", "text": 3}]
TWO_TEXTS = [{"id": "a", "text": "first text"}, {"id": "b", "text": "second text"}, {"id": "a", "text": "other"}]

ray_runtime = pytest.fixture(scope="module")(local_ray)
# run once, in the 4.57 suite (their subject is the engines' and Ray's behaviour); a minute or more
pytestmark = [pytest.mark.engine_only, pytest.mark.slow]


def poisoned_dense():
    """A dense embedder that returns NaN for any text holding 'poison' (sent to the actors pickled)."""

    def embed(texts):
        return [[math.nan] * 8 if "poison" in text else [1.0 + len(text) % 5] + [0.5] * 7 for text in texts]

    return embed


def outcome(call):
    try:
        call()
    except LensError as error:
        return type(error).__name__, str(error)
    return "no error", ""


@pytest.fixture()
def connector(tmp_path, built_dirs):
    with open_connector("qdrant-edge", tmp_path, encoder=LensEncoder(built_dirs["llama"]),
                        dense=poisoned_dense()) as c:
        yield c


@pytest.mark.parametrize(("rows", "bad_id"), [(NO_TEXT, "b"), (TWO_TEXTS, "a")], ids=["no text", "one id, two texts"])
def test_bad_records_are_the_errors_of_ingest(connector, rows, bad_id, ray_runtime):
    import ray.data

    single = outcome(lambda: connector.ingest(rows, show_progress=False))
    assert single[0] == "LensInputError" and f"id={bad_id!r}" in single[1]
    assert outcome(lambda: connector.ingest(rows, ray=ONE, show_progress=False)) == single
    kind, message = outcome(lambda: connector.ingest(ray.data.from_items(rows), ray=ONE, show_progress=False))
    assert kind == "LensInputError" and f"id={bad_id!r}" in message
    assert message.split(") ", 1)[-1] == single[1].split(") ", 1)[-1]  # the same words after the document's name
    assert connector.store.stored_spec() is None  # nothing was created, let alone written


def test_a_nan_vector_stops_the_run_naming_the_document(connector, ray_runtime):
    rows = [{"id": "ok", "text": "A fine document."}, {"id": "bad", "text": "A poison pill."}]
    single = outcome(lambda: connector.ingest(rows, show_progress=False))
    assert single[0] == "LensInputError" and "id='bad'" in single[1]
    assert outcome(lambda: connector.ingest(rows, ray=ONE, show_progress=False)) == single
    assert connector.store.stored_spec() is None


def test_actors_of_another_model_are_refused(connector, ray_runtime, tmp_path):
    from lens_vdb import build_lens_model
    from tests.tiny import make_causal_lm

    base = make_causal_lm(tmp_path / "base", "llama", seed=1)  # the test model's shapes, other weights
    model = build_lens_model(base, k=32, seed=0, niter=10).save_pretrained(tmp_path / "other")
    other = RayOptions(encoders=1, model=str(model))  # also k=32: only its fingerprint differs
    kind, message = outcome(lambda: connector.ingest(["some text"], ray=other, show_progress=False))
    assert kind == LensSchemaError.__name__ and connector.encoder.fingerprint in message
    assert connector.store.stored_spec() is None


def test_ray_options_are_checked_and_a_missing_ray_names_the_extra(connector, monkeypatch):
    with pytest.raises(LensInputError, match="ray= takes True or a RayOptions"):
        connector.ingest(["text"], ray="yes")
    for bad in ({"encoders": 0}, {"gpus_per_encoder": -1}, {"cpus_per_encoder": 0, "gpus_per_encoder": 0},
                {"dense": "minilm"}, {"address": "head:6379", "num_cpus": 2}):
        with pytest.raises(LensInputError):
            RayOptions(**bad)
    with pytest.raises(LensInputError, match=r"RayOptions\(dtype=\) must be one of \('fp32', 'bf16', 'fp16'\), got 'fp8'"):
        RayOptions(dtype="fp8")  # refused on the driver, before any actor starts
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(LensDependencyError, match=r"lens-vdb\[ray\]"):
        connector.ingest(["text"], ray=True)


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
    # one line of lens-vdb's own (a Ray runtime this process joined earlier may log to stderr too)
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("lens-vdb")]
    assert len(ours) == 1 and f"No Ray cluster answers at '{address}'" in ours[0], ours
    error = ours[0]
    assert "ray start --head" in error
    assert not (tmp_path / "db").exists() or not any((tmp_path / "db").rglob("*")), "something was written"


def test_ray_addresses_are_read_and_probed_before_ray_is_asked():
    from lens_vdb.connectors._ray.cluster import probe_address
    from tests.integration.engines import free_port

    with pytest.raises(LensError, match=r"No Ray cluster answers at 'ray://127\.0\.0\.1:\d+'"):
        probe_address(f"ray://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(LensError, match="A Ray address is 'host:port'"):
        probe_address("head-without-port", timeout=1)



def test_an_address_other_than_the_joined_runtimes_is_refused(connector, ray_runtime):
    import socket

    with socket.socket() as listener:  # something answers there, but not the cluster this process joined
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(LensInputError, match=rf"already joined the Ray cluster at .*address='{address}'"):
            connector.ingest(["text"], ray=RayOptions(address=address))
    assert connector.store.stored_spec() is None  # nothing was created, let alone written


def test_the_actors_take_the_drivers_backend_and_precision(built_dirs):
    from lens_vdb.connectors._ray.encode import _backend_and_dtype

    model = str(built_dirs["llama"])
    bf16 = LensEncoder(model, dtype="bf16")
    assert _backend_and_dtype(bf16, model, ONE) == ("torch", "bf16")  # read from the driver's weights
    assert _backend_and_dtype(bf16, model, RayOptions(dtype="fp32")) == ("torch", "fp32")  # asked for
    assert _backend_and_dtype(LensEncoder(model), model, ONE) == ("torch", "fp32")
    assert _backend_and_dtype(bf16, model, RayOptions(dtype="fp16")) == ("torch", "fp32")  # fp16: GPUs only
