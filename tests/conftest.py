from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# the cache home the suite was started with: where its set-up step built the default models (make models)
SUITE_HOME = Path(os.environ.get("LENS_VDB_HOME", Path.home() / ".cache" / "lens-vdb")).expanduser()


def pytest_collection_modifyitems(config, items) -> None:
    """The order tests run in, after pytest-randomly shuffled modules and the tests inside them (its seed is
    printed in the header; ``-p no:randomly`` runs them as written): no test may depend on another's leftovers.

    - A module marked ``in_order`` runs its tests as written: each builds on the files the one before wrote, as
      a reader following the README does (tests/integration/test_readme.py).
    - The modules holding a slow test first (a stable sort, so the shuffled order holds inside each group).
      pytest-xdist (``--dist loadfile --no-loadscope-reorder``, as ``make test`` runs it) hands whole modules to
      its workers in this order: the long ones start at once and the workers end together, instead of a
      notebook starting last on one worker while the other sits idle."""
    def module(item) -> str:
        return item.nodeid.split("::")[0]

    in_order = {module(item) for item in items if item.get_closest_marker("in_order")}
    for path in in_order:
        places = [i for i, item in enumerate(items) if module(item) == path]
        written = sorted((items[i] for i in places), key=_written_position)
        for place, item in zip(places, written):
            items[place] = item
    slow = {module(item) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: module(item) not in slow)


def _written_position(item) -> tuple:
    """Where a test stands in its module: its function's line, then its parameters' positions."""
    callspec = getattr(item, "callspec", None)
    return item.location[1], tuple(callspec.indices.values()) if callspec is not None else ()


@pytest.fixture(autouse=True)
def lens_home(tmp_path_factory, monkeypatch) -> Path:
    """This test's own cache home: what it exports, calibrates or caches no other test sees (see tests/cache_home.py).
    Subprocesses the test starts (the CLI, notebook kernels, Ray workers it starts) inherit it."""
    from tests.cache_home import populate_home

    home = populate_home(tmp_path_factory.mktemp("lens-home"), SUITE_HOME)
    monkeypatch.setenv("LENS_VDB_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def official_dir(tmp_path_factory) -> Path:
    """Official-layout checkpoint whose tokenizer appends </s> itself (the hub pitfall)."""
    from tests.tiny import make_official_checkpoint

    return make_official_checkpoint(tmp_path_factory.mktemp("official"), append_eos=True)


@pytest.fixture(scope="session")
def official_dir_plain_tokenizer(tmp_path_factory, official_dir) -> Path:
    """The same weights with a tokenizer that does not append </s> (the base Mistral tokenizer)."""
    import shutil

    from tests.tiny import make_tokenizer

    target = tmp_path_factory.mktemp("official_plain")
    for item in official_dir.iterdir():
        if item.is_file() and "token" not in item.name:
            shutil.copy(item, target / item.name)
    make_tokenizer(target, append_eos=False)
    return target


@pytest.fixture(scope="session")
def built_dirs(tmp_path_factory) -> dict[str, Path]:
    """lens-vdb models built with k-means from tiny random causal LMs of three families."""
    from lens_vdb import build_lens_model
    from tests.tiny import make_causal_lm

    out = {}
    for family in ("mistral", "llama", "qwen2"):
        base = make_causal_lm(tmp_path_factory.mktemp(f"base_{family}"), family)
        model = build_lens_model(base, k=32, seed=0, niter=10)
        out[family] = model.save_pretrained(tmp_path_factory.mktemp(f"lens_{family}"))
    return out


@pytest.fixture(scope="session")
def llama_encoder(built_dirs):
    from lens_vdb import LensEncoder

    return LensEncoder(built_dirs["llama"], batch_size=4)


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 dense embedder from the offline package, loaded once."""
    from lens_vdb.connectors._dense import MiniLMEmbedder

    return MiniLMEmbedder(device="cpu")

