#!/bin/sh
# Build the venv that runs a real Triton Inference Server for the remote-encoder tests (tests/integration/triton.py):
# Triton 2.51 from the nvidia-pytriton 0.7.0 wheel (the tritonserver binary and its Python backend, no ONNX Runtime
# backend), onnxruntime for the Python-backend model that runs the graph, and numpy<2 (pytriton pins it); its own
# venv, since lens-vdb's venv has numpy 2.
#
# The wheel keeps one Python-backend stub per Python version under python_backend_stubs/ and pytriton copies the
# right one into backends/python when it starts a server; the suite starts tritonserver itself, so the stub of
# this venv's Python is copied there once, here.
#
#     .ci/triton_venv.sh [VENV] [UV]        (defaults: .venv-triton, .cache/uv/bin/uv)
set -eu
VENV=${1:-.venv-triton}
UV=${2:-.cache/uv/bin/uv}
"$UV" venv -q --seed --clear --python "${PYTHON:-python3}" "$VENV"
"$UV" pip install -q --compile-bytecode --python "$VENV/bin/python" "nvidia-pytriton==0.7.0" onnxruntime "numpy<2"
"$VENV/bin/python" - <<'EOF'
import shutil, sys
from pytriton.utils.distribution import get_root_module_path, get_stub_path

stub = get_stub_path(f"{sys.version_info[0]}.{sys.version_info[1]}")
target = get_root_module_path() / "tritonserver" / "backends" / "python" / "triton_python_backend_stub"
shutil.copy(stub, target)
print(f"Triton Python-backend stub for Python {sys.version_info[0]}.{sys.version_info[1]} -> {target}")
EOF
touch "$VENV/.installed"
