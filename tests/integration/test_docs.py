"""The documentation site builds with ``mkdocs build --strict`` (a broken link or a missing reference fails
it), the figures page shows every table, and its generated pages follow the code: the CLI reference lists every subcommand and argument of
``build_parser()``, the API reference every public name."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the site needs the docs extra: pip install 'lens-vdb[docs]'")
    built = os.environ.get("LENS_VDB_SITE")  # .ci/docs.sh has just built it: check that one
    if built and (Path(built) / "index.html").is_file():
        return Path(built)
    out = tmp_path_factory.mktemp("site")
    # as in a fresh clone: no source mirror yet (the build must write it before mkdocstrings looks for it)
    shutil.rmtree(ROOT / "build" / "api-src", ignore_errors=True)
    env = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return out


def page(site: Path, path: str) -> str:
    return (site / path / "index.html").read_text(encoding="utf-8")


def text_of(html: str) -> str:
    """What a reader sees of a page: tags removed, entities decoded, whitespace collapsed."""
    import html as html_lib
    import re

    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", html)))


def test_cli_reference_lists_every_subcommand_and_argument(site):
    from lens_vdb.cli import build_parser

    html = page(site, "reference/cli")
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert len(commands) >= 8
    for name, parser in commands.items():
        assert f'id="lens-vdb-{name}"' in html, name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):  # -h is in the usage line, not the table
                continue
            for flag in action.option_strings:
                assert f"<code>{flag}</code>" in html, (name, flag)


def test_api_reference_documents_every_public_name(site):
    import re

    import lens_vdb
    import lens_vdb.connectors
    import lens_vdb.export
    import lens_vdb.train

    for module, path in ((lens_vdb, "lens_vdb"), (lens_vdb.connectors, "connectors"), (lens_vdb.export, "export"),
                         (lens_vdb.train, "train")):
        html = page(site, f"reference/{path}")
        for name in module.__all__:
            if not name.startswith("__"):  # a heading anchored at the name's definition, e.g. lens_vdb._errors.X
                assert re.search(rf'id="(?:[\w.]+\.)?{name}"', html), (path, name)
    # a docstring's text made it through griffe, from a lazily exported class
    assert "Hybrid search in one engine query" in text_of(page(site, "reference/connectors"))


def test_figures_page_shows_every_table_row_and_the_readme_links_it(site):
    import re

    html = text_of(page(site, "figures"))
    figures = (ROOT / "docs" / "figures.md").read_text(encoding="utf-8")
    rows = [line for line in figures.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 30  # BBC News, the ablations, backends, pooling, k-means, connectors, chunking, ONNX, Ray
    for row in rows:  # every cell of every table row is on the rendered page (a broken table would lose some)
        for cell in (c.strip() for c in row.strip("|").split("|")):
            text = re.sub(r"\s+", " ", re.sub(r"[`*]", "", cell))
            assert text in html, (row, text)
    assert "](docs/figures.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_notebooks_are_pages_and_guides_link_them(site):
    guides = "\n".join(path.read_text(encoding="utf-8") for path in (site / "guides").glob("*/index.html"))
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / notebook.stem / "index.html").is_file(), notebook.name
        # a guide opens with its notebook (every page's navigation links them all, so look for the opening line)
        assert f'<p>Notebook: <a href="../../notebooks/{notebook.stem}/"' in guides, notebook.name
