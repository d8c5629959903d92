#!/usr/bin/env bash
# The documentation job: run every notebook in a real kernel (their tests), then build the site with
# `mkdocs build --strict`, rendering the executed notebooks, and say how long each step took.
# Usage: bash .ci/docs.sh [site dir, default build/site]. Needs .venv (make setup); installs the docs extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SITE="${1:-build/site}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
export DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1   # a banner some plugins print on every build
export LENS_VDB_NOTEBOOK_OUT="$PWD/build/notebooks" LENS_VDB_EXECUTED_NOTEBOOKS="$PWD/build/notebooks"

if ! $PY -c "import mkdocs, mkdocstrings, mkdocs_gen_files, mkdocs_jupyter, matplotlib" 2>/dev/null; then
    $PY -m pip install -q -e ".[docs]"
fi
rm -rf build/notebooks
# the deploy notebook starts a real tritonserver from the Triton venv; without one its test skips (saying why)
# and the site shows that notebook unexecuted
make --no-print-directory setup-triton || echo "docs.sh: no Triton venv; notebooks/deploy.ipynb is rendered unexecuted"

start=$(date +%s)
# -s: each notebook's test prints its wall and kernel CPU time
$PY -m pytest tests/integration/notebooks -q -s -rs -p no:cacheprovider
notebooks=$(( $(date +%s) - start ))

start=$(date +%s)
$PY -m mkdocs build --strict -d "$SITE"
site=$(( $(date +%s) - start ))

start=$(date +%s)
LENS_VDB_SITE="$SITE" $PY -m pytest tests/integration/test_docs.py -q -rs -p no:cacheprovider  # pages follow the code
checks=$(( $(date +%s) - start ))

echo "docs.sh: notebooks ${notebooks} s, mkdocs build --strict ${site} s, site checks ${checks} s; site in ${SITE}"
