# conv_t5: `make demo` runs the offline small-scale reproduction, `make test` the
# linter and the tests.
# Both create .venv with the pinned versions on first use and re-install when
# setup.cfg, pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Quiet TF's C++ logging; keep everything on the CPU.
export TF_CPP_MIN_LOG_LEVEL ?= 2
export CUDA_VISIBLE_DEVICES ?=
# Demo data, its vocabulary and source archives (`make data`; not committed).
export CONV_T5_DATA_DIR ?= $(CURDIR)/data

.PHONY: venv demo demo-quick demo-full lint test test-fast test-demo test-notebook test-paper-configs bench data clean-venv

venv: $(STAMP)

# --no-deps: constraints.txt is the complete, resolved set. Letting pip resolve
# t5's own requirements would add tensorflow-datasets beside tfds-nightly
# (mesh-tensorflow[transformer] asks for it) and break `tensorflow_datasets`.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

demo: venv
	$(PY) -m conv_t5.demo

demo-quick: venv
	$(PY) -m conv_t5.demo --quick

demo-full: venv
	$(PY) -m conv_t5.demo --full

data: venv
	$(PY) -m conv_t5.tasks.demo_data

bench: venv
	$(PY) -m conv_t5.bench

# ruff, pinned in constraints.txt, configured in pyproject.toml.
lint: venv
	$(PY) -m ruff check .

# PYTEST_ARGS: extra pytest arguments (.ci/run passes --junitxml).
PYTEST_ARGS ?=

# The linter first, then every test but the demo's and the notebook's
# end-to-end runs (the paper configs are skipped: see below).
test: venv lint
	$(PY) -m pytest tests -m "not demo and not notebook" $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest tests -m "not slow and not demo and not notebook"

# The demo end to end: --quick (resume, failures, repeatability), then the
# whole default grid, as `make demo` runs it. .ci/run runs it after `make test`.
test-demo: venv
	$(PY) -m pytest tests/experiments/test_demo.py tests/experiments/test_demo_full.py -m demo -s $(PYTEST_ARGS)

# notebooks/conv_t5_demo.ipynb executed end to end with a kernel from .venv
# (2-6 min on 2 cores). .ci/run runs it after `make test`.
test-notebook: venv
	$(PY) -m pytest tests/notebooks/test_notebook.py -m notebook -s $(PYTEST_ARGS)

# The small/base/large model configs through the t5 pipeline (minutes each on a CPU).
# .ci/run runs it after `make test`.
test-paper-configs: venv
	CONV_T5_PAPER_CONFIGS=1 $(PY) -m pytest tests/test_model_configs.py -m paper_configs $(PYTEST_ARGS)


clean-venv:
	rm -rf $(VENV)
