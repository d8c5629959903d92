"""Each test's own lens-vdb cache home (``$LENS_VDB_HOME``), so that no test sees what another exported,
calibrated or cached, whatever order the tests run in.

What the suite's set-up step built before any test ran (``make models``: the default models, and
``backend="auto"``'s measurement of the trained one with the graph it chose) is the same input for
every test, and costs minutes to make: each test's home gets it by links, not copies. A model folder
becomes a folder of links to its files, so that whatever a test writes beside the model (``auto``'s
measurements) stays in that test's home; ``auto``'s JSON file itself is copied for the same reason. An
exported graph is linked whole (a test never writes into a graph folder it did not export).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lens_vdb._inference.auto_cache import AUTO_FILE

__all__ = ["populate_home"]

# the folders of the suite's home that hold built models (see lens_vdb._model.default)
MODEL_PREFIX = "smollm2-"


def populate_home(home: Path, suite_home: Path) -> Path:
    """Make ``home`` a fresh cache home holding links to what ``suite_home`` was given by the set-up step."""
    home.mkdir(parents=True, exist_ok=True)
    if not suite_home.is_dir():
        return home
    for model in suite_home.glob(f"{MODEL_PREFIX}*"):
        if model.is_dir():
            _link_model(model, home / model.name)
    for graph in (suite_home / "onnx").glob("*"):
        if graph.is_dir():
            (home / "onnx").mkdir(exist_ok=True)
            (home / "onnx" / graph.name).symlink_to(graph, target_is_directory=True)
    return home


def _link_model(model: Path, target: Path) -> None:
    target.mkdir()
    for item in model.iterdir():
        if item.name == AUTO_FILE:
            shutil.copy2(item, target / item.name)
        else:
            (target / item.name).symlink_to(item, target_is_directory=item.is_dir())
