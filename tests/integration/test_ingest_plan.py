"""The one ingestion path's own steps (``connectors/_ingest.py``), on a real embedded collection: the plan both
runners follow (new / updated / skipped), the one retry policy, and the options both runners check."""

from __future__ import annotations

import pytest

from lens_vdb import LensEncoder, LensInputError
from tests.integration.engines import open_connector

DOCS = [{"id": "a", "text": "The central bank raised interest rates."},
        {"id": "b", "text": "The striker scored twice in the derby."}]


@pytest.fixture
def connector(tmp_path, built_dirs, minilm):
    with open_connector("qdrant-edge", tmp_path, encoder=LensEncoder(built_dirs["llama"]), dense=minilm) as c:
        assert c.ingest(DOCS, show_progress=False).ingested == 2
        yield c


def planner_of(connector, tally, *, max_retries=4):
    from lens_vdb.connectors._ingest import Planner

    model_hash = connector._builder(True, None, None).model_hash
    return Planner(connector.collection, model_hash, max_retries=max_retries, tally=tally)


def items(*docs):
    from lens_vdb.connectors import point_id
    from lens_vdb.connectors._ingest import Item
    from lens_vdb.connectors._records import text_hash

    return [Item(point_id(doc_id, text), doc_id, text_hash(text)) for doc_id, text in docs]


def test_the_plan_marks_new_updated_and_skipped_and_refuses_one_id_with_two_texts(connector):
    from lens_vdb.connectors._ingest import NEW, SKIPPED, UPDATED, Tally

    tally = Tally()
    planner = planner_of(connector, tally)
    batch = items(("a", DOCS[0]["text"]), ("b", "The striker scored three times."), ("c", "A new document."),
                  ("c", "A new document."))
    first = planner.first_time(batch)
    assert [item.id for item in first] == ["a", "b", "c"]  # the second copy of c is this run's, met already
    assert planner.plan(first) == {first[0].key: SKIPPED, first[1].key: UPDATED, first[2].key: NEW}
    assert planner.first_time(items(("a", DOCS[0]["text"]))) == []  # met in an earlier batch of the run
    with pytest.raises(LensInputError, match=r"Document id='c' comes twice in this ingestion with different texts"):
        planner.first_time(items(("c", "Another text.")))
    assert (tally.retried, tally.failed_ids) == (0, [])


def test_a_look_up_is_retried_by_the_one_policy_and_counted_failed_when_it_never_succeeds(connector, monkeypatch):
    from lens_vdb.connectors._ingest import FAILED, SKIPPED, Tally

    store, heads = connector.store, connector.store.heads
    calls = []

    def timing_out(times):  # an embedded engine does not time out on demand: the fault is injected
        def call(keys):
            calls.append(keys)
            if len(calls) <= times:
                raise TimeoutError("injected")
            return heads(keys)
        return call

    monkeypatch.setattr(store, "heads", timing_out(2))
    tally = Tally()
    batch = items(("a", DOCS[0]["text"]), ("b", DOCS[1]["text"]))
    assert planner_of(connector, tally, max_retries=3).plan(batch) == dict.fromkeys((i.key for i in batch), SKIPPED)
    assert len(calls) == 3 and tally.retried == 2 and tally.failed_ids == []

    calls.clear()
    monkeypatch.setattr(store, "heads", timing_out(10))
    tally = Tally()
    assert planner_of(connector, tally, max_retries=3).plan(batch) == dict.fromkeys((i.key for i in batch), FAILED)
    assert len(calls) == 3 and tally.retried == 2
    assert tally.failed_ids == ["a", "b"] and tally.errors == ["TimeoutError: injected"]


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"write_workers": -1}, {"max_retries": True},
                                 {"batch_size": 2.5}])
def test_both_runners_refuse_the_same_bad_options_naming_them(connector, bad):
    (name, value), = bad.items()
    for ray in (None, True):  # checked before Ray is even imported
        with pytest.raises(LensInputError, match=rf"{name} must be a positive int, got {value!r}"):
            connector.ingest(DOCS, show_progress=False, ray=ray, **bad)
