"""A small user script, type-checked by tests/unit/test_typing.py: mypy must see lens-vdb's real types.

It is never run (it would load models); it is read by mypy, which must accept it as written and
reject it with one misspelt keyword.
"""

from __future__ import annotations

from lens_vdb import LensEmbeddings, LensEncoder
from lens_vdb.connectors import Hit, IngestReport, QdrantConnector
from lens_vdb.export import export_onnx


def main() -> None:
    encoder = LensEncoder("default", batch_size=16, threads=1)
    vectors = encoder.encode_documents(["The Bank of England raised interest rates."])
    print(vectors.shape)
    with QdrantConnector("./data", "news", encoder=encoder, sparse_top=256) as store:
        report: IngestReport = store.ingest(["first text", "second text"], batch_size=32)
        print(report.ingested)
        hits: list[Hit] = store.search("interest rates", limit=3, fusion="rrf", filter={"topic": "business"})
        print(hits[0].scores["lens"])
        retriever = store.as_retriever(search_type="similarity", search_kwargs={"k": 4})
        print(retriever)
    embeddings = LensEmbeddings(model_name="default", show_progress=True)
    print(embeddings.embed_query("what is LENS?")[:3])
    print(export_onnx("my-lens-model", "my-lens-onnx", quantize="int8").name)
