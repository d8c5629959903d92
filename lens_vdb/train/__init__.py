"""Training LENS models: InfoNCE over cosine similarity with LoRA (the paper's recipe), and training data.

Data builders, each deterministic with a held-out split: WordNet glosses, Debian package
descriptions, man pages and Python docstrings (``write_*_pairs``), and ``write_mix`` to combine them.

    >>> from lens_vdb.train import TrainConfig, train
    >>> result = train("my-lens-model", "pairs.jsonl", "runs/first", TrainConfig(epochs=1))
    >>> result.model_dir          # a plain LENS model: LensEncoder(result.model_dir)

On a CPU, ``TrainConfig(train_layers=N)`` is the cheap mode: the lower layers run once per text
(cached on disk, :class:`HiddenCache`) and only the top ``N`` layers and the head train;
:class:`CachedLensSystem` evaluates such a model through the harness running only those layers,
and :func:`apply_trained` loads its small saved part (``top/``) into the start model.

Needs the ``train`` extra (``peft``): ``pip install 'lens-vdb[train]'``. The modules load lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "TrainConfig": "._config",
    "TrainResult": "._config",
    "train": "._train",
    "Example": "._data",
    "load_examples": "._data",
    "parse_example": "._data",
    "info_nce": "._loss",
    "export_adapter": "._adapters",
    "merge_trained": "._adapters",
    "write_wordnet_pairs": "._wordnet",
    "write_debian_pairs": "._debian",
    "write_manpage_pairs": "._manpages",
    "write_pydoc_pairs": "._pydoc",
    "write_pairs": "._pairs",
    "Pair": "._pairs",
    "PairCounts": "._pairs",
    "write_mix": "._mix",
    "HiddenCache": "._hidden_cache",
    "CachedLensSystem": "._cached_eval",
    "apply_trained": "._cached",
}

__all__ = [
    "CachedLensSystem",
    "Example",
    "HiddenCache",
    "Pair",
    "PairCounts",
    "TrainConfig",
    "TrainResult",
    "apply_trained",
    "export_adapter",
    "info_nce",
    "load_examples",
    "merge_trained",
    "parse_example",
    "train",
    "write_debian_pairs",
    "write_manpage_pairs",
    "write_mix",
    "write_pairs",
    "write_pydoc_pairs",
    "write_wordnet_pairs",
]

if TYPE_CHECKING:
    from ._adapters import export_adapter, merge_trained
    from ._cached import apply_trained
    from ._cached_eval import CachedLensSystem
    from ._config import TrainConfig, TrainResult
    from ._data import Example, load_examples, parse_example
    from ._debian import write_debian_pairs
    from ._hidden_cache import HiddenCache
    from ._loss import info_nce
    from ._manpages import write_manpage_pairs
    from ._mix import write_mix
    from ._pairs import Pair, PairCounts, write_pairs
    from ._pydoc import write_pydoc_pairs
    from ._train import train
    from ._wordnet import write_wordnet_pairs


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
