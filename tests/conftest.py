from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items) -> None:
    """The modules holding a slow test first, each module's tests in the order written (a stable sort).
    pytest-xdist (``--dist loadfile --no-loadscope-reorder``, as ``make test`` runs it) hands whole modules to
    its workers in this order: the long ones start at once and the workers end together, instead of a notebook
    starting last on one worker while the other sits idle."""
    slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow)


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

