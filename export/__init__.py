"""Model export (``lens_vdb.export``): ONNX and TensorRT graphs of LENS models, built on the lens-vdb core."""
