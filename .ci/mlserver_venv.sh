#!/bin/sh
# Build the venv of a second KServe v2 server, MLServer, for the test that the remote encoder follows the protocol
# and not one server (tests/integration/test_remote_servers.py): MLServer with onnxruntime for its custom runtime.
#
#     .ci/mlserver_venv.sh [VENV] [UV]        (defaults: .venv-mlserver, .cache/uv/bin/uv)
set -eu
VENV=${1:-.venv-mlserver}
UV=${2:-.cache/uv/bin/uv}
"$UV" venv -q --seed --clear --python "${PYTHON:-python3}" "$VENV"
"$UV" pip install -q --compile-bytecode --python "$VENV/bin/python" "mlserver>=1.6,<2" onnxruntime
touch "$VENV/.installed"
