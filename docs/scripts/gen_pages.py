"""Write the pages that come from other files at build time: the notebooks (rendered by mkdocs-jupyter).
The figures page is a page of its own, ``docs/figures.md``.

The notebooks are stored without outputs. ``LENS_VDB_EXECUTED_NOTEBOOKS`` may name a folder of
executed copies (``.ci/docs.sh`` writes one while it runs them); the site then shows their outputs
and plots.
"""

from __future__ import annotations

import os
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]


def copy_notebooks() -> None:
    stored = ROOT / "notebooks"
    executed = os.environ.get("LENS_VDB_EXECUTED_NOTEBOOKS")
    for notebook in sorted(stored.glob("*.ipynb")):
        source = notebook
        if executed and (Path(executed) / notebook.name).is_file():
            source = Path(executed) / notebook.name
        with mkdocs_gen_files.open(f"notebooks/{notebook.name}", "wb") as out:
            out.write(source.read_bytes())


copy_notebooks()
