"""Shared test setup: CPU only, quiet TF, and the compatibility fix first."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import conv_t5  # noqa: E402,F401  (must precede any mesh_tensorflow import)
# TensorFlow at collection time, as when `import conv_t5` still imported it:
# its Python logging binds the sys.stderr of the moment it is imported.
import tensorflow  # noqa: E402,F401

import copy  # noqa: E402

import gin  # noqa: E402
import pytest  # noqa: E402

PAPER_CONFIGS_ENV = "CONV_T5_PAPER_CONFIGS"


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "paper_configs: trains the small/base/large configs (minutes each; "
      "opt in with `make test-paper-configs` or CONV_T5_PAPER_CONFIGS=1)")


def pytest_collection_modifyitems(config, items):
  value = os.environ.get(PAPER_CONFIGS_ENV)
  if value not in (None, "", "1", "all"):
    raise pytest.UsageError(
        f"{PAPER_CONFIGS_ENV}={value!r}: use 1 (`make test-paper-configs`: "
        "every config built, the small ones trained) or all (`make "
        "test-paper-configs-all`: every config trained)")
  if value in ("1", "all"):
    return
  skip = pytest.mark.skip(reason="small/base/large configs take minutes on a "
                          "CPU: run `make test-paper-configs`")
  for item in items:
    if "paper_configs" in item.keywords:
      item.add_marker(skip)


@pytest.fixture
def bind():
  """gin.bind_parameter for one test; the previous gin config is restored."""
  saved = copy.deepcopy(gin.config._CONFIG)  # pylint: disable=protected-access

  def _bind(name, value):
    with gin.unlock_config():
      gin.bind_parameter(name, value)

  yield _bind
  gin.config._CONFIG.clear()  # pylint: disable=protected-access
  gin.config._CONFIG.update(saved)  # pylint: disable=protected-access


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory):
  """The offline demo data, copied once per session from the files the
  package ships (the same directory tests/tasks/test_tasks_demo_data.py
  builds into; the builder's fast path returns at once when it is there)."""
  from conv_t5.tasks import demo_data  # pylint: disable=g-import-not-at-top
  return demo_data.build(
      str(tmp_path_factory.getbasetemp() / "demo_data"))["data_dir"]
