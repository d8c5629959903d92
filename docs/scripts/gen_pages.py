"""Write the pages that come from other files at build time: the figures (from the README, their one
source) and the notebooks (rendered by mkdocs-jupyter).

The notebooks are stored without outputs. ``LENS_VDB_EXECUTED_NOTEBOOKS`` may name a folder of
executed copies (``.ci/docs.sh`` writes one while it runs them); the site then shows their outputs
and plots.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]


def readme_section(text: str, heading: str, *, stop_at_subsection: bool = False) -> str:
    """The body of the README's ``## heading`` section, up to the next ``## `` (or ``### ``) heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:  # fail the build: a renamed README section must not empty the page silently
        raise RuntimeError(f"README.md has no '## {heading}' section; update docs/scripts/gen_pages.py")
    body = match.group(1)
    if stop_at_subsection:
        body = re.split(r"^### ", body, maxsplit=1, flags=re.M)[0]
    return body.strip()


def figures_page() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    training = readme_section(readme, "Training and evaluation", stop_at_subsection=True)
    ray = readme_section(readme, "Ingesting at scale (Ray Data)")
    tables = training.find("**BBC News")  # the tables, without the section's introduction to the commands
    return "\n\n".join([
        "# Figures",
        "Every figure here was measured by a script in `bench/` (or `lens-vdb eval`), side by side in one run, and "
        "each table says how to reproduce it. This page is built from the README's tables, their one source.",
        "## Retrieval quality and training (BBC News)",
        training[tables:] if tables >= 0 else training,
        "## Speed, memory and storage",
        readme_section(readme, "Figures"),
        "## Ingesting on Ray Data",
        ray[ray.find("`python bench/ray_ingest.py"):],
    ]) + "\n"


def copy_notebooks() -> None:
    stored = ROOT / "notebooks"
    executed = os.environ.get("LENS_VDB_EXECUTED_NOTEBOOKS")
    for notebook in sorted(stored.glob("*.ipynb")):
        source = notebook
        if executed and (Path(executed) / notebook.name).is_file():
            source = Path(executed) / notebook.name
        with mkdocs_gen_files.open(f"notebooks/{notebook.name}", "wb") as out:
            out.write(source.read_bytes())


with mkdocs_gen_files.open("figures.md", "w") as out:
    out.write(figures_page())
copy_notebooks()
