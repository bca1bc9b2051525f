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
# Demo data and its vocabulary, copied from tasks/demo_data/shipped/ and
# checked against their sha256 (`make data`; no download; not committed).
export CONV_T5_DATA_DIR ?= $(CURDIR)/data

.PHONY: venv demo demo-quick demo-full demo-pretrain lint test test-fast test-demo test-notebook test-paper-configs test-paper-configs-all bench data clean-venv

venv: $(STAMP)

# The interpreter, checked before anything is installed (only when .venv has
# no python yet): TensorFlow 2.15, the last with tf.estimator (which t5 and
# mesh-tensorflow need), has no wheel for Python 3.12+, and the pins are
# resolved for 3.11. One line and status 2 otherwise.
PYTHON_VERSION = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHON_ERROR = conv_t5 needs Python 3.11 but PYTHON=$(PYTHON) is $(or $(PYTHON_VERSION),not found): install Python 3.11 and run `make PYTHON=/path/to/python3.11 $(or $(MAKECMDGOALS),demo)`
$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(if $(wildcard $(PY)),,$(if $(filter 3.11,$(PYTHON_VERSION)),,$(error $(PYTHON_ERROR))))
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

# The demo release: every demo architecture pre-trained once (hours on 2
# cores; resumable), written where `make demo` reads it (docs/demo.md).
demo-pretrain: venv
	$(PY) -m conv_t5.experiments.demo_pretrain

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

# The demo end to end: `make demo`'s grid at small step counts (its records,
# verdicts, resume, failures, repeatability), and the demo release (a replay
# of a shipped run, a small release written and fine-tuned). .ci/run runs it
# after `make test`.
test-demo: venv
	$(PY) -m pytest tests/experiments/test_demo.py tests/experiments/test_release.py -m demo -s $(PYTEST_ARGS)

# notebooks/conv_t5_demo.ipynb executed end to end with a kernel from .venv
# (2-6 min on 2 cores). .ci/run runs it after `make test`.
test-notebook: venv
	$(PY) -m pytest tests/notebooks/test_notebook.py -m notebook -s $(PYTEST_ARGS)

# The small/base/large model configs: every one built and its parameters
# counted, a training step through the t5 pipeline for the small size of each
# architecture. .ci/run runs it after `make test`.
test-paper-configs: venv
	CONV_T5_PAPER_CONFIGS=1 $(PY) -m pytest tests/test_model_configs.py -m paper_configs $(PYTEST_ARGS)

# A training step for every size of every architecture (about 20 minutes on 2
# cores): run it before submitting a change to a model config or a layer.
test-paper-configs-all: venv
	CONV_T5_PAPER_CONFIGS=all $(PY) -m pytest tests/test_model_configs.py -m paper_configs $(PYTEST_ARGS)


clean-venv:
	rm -rf $(VENV)
