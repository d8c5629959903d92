"""A second KServe v2 server for the remote encoder: an MLServer custom runtime running the same LENS graph.

Copied into the model folder that ``test_remote_protocol_servers.py`` gives MLServer; MLServer imports it
there (``implementation: "lens_runtime.LensRuntime"``). It speaks v2 JSON only: no binary tensor
extension, no ``/config`` endpoint, so the client's fallbacks (JSON, its own batch size) are what runs.
Self-contained: MLServer's venv has onnxruntime, not lens-vdb.
"""

from __future__ import annotations

from pathlib import Path

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class LensRuntime(MLModel):
    async def load(self) -> bool:
        import onnxruntime as ort

        graph = Path(self.settings.parameters.uri)
        self.session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feed = {i.name: NumpyCodec.decode_input(i).astype("int64") for i in payload.inputs}
        (vectors,) = self.session.run(["lens_embedding"], feed)
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("lens_embedding", vectors)])
