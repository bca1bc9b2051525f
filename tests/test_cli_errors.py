"""Errors raised inside t5's run, behind gin's wrapping, reach the user as one
message and exit status 2 (configuration and data) or 1 (training)."""

import gin
import pytest

from conv_t5 import cli
from conv_t5 import errors
import cli_helpers as h


@pytest.mark.slow
def test_offline_vocabulary_not_built_is_one_message_and_status_2(tmp_path):
  empty = tmp_path / "data"
  empty.mkdir()
  corpus = h.write_corpus(str(tmp_path / "corpus.txt"))
  argv = [a for a in h.train_argv(str(tmp_path / "m"), corpus, steps=1)
          if "vocabulary_model" not in a]   # the default: "offline"
  status, text = h.run_cli(argv, str(tmp_path / "log"),
                           CONV_T5_DATA_DIR=str(empty))
  assert status == 2, text[-3000:]
  assert "Traceback" not in text
  errors_printed = [l for l in text.splitlines()
                    if l.startswith("conv_t5_mesh_transformer: error: ")]
  assert errors_printed == [
      "conv_t5_mesh_transformer: error: The offline vocabulary "
      f"{empty}/spm/conv_t5_8k.model is not built yet. Build the demo data "
      "with `make data` (or `python -m conv_t5.tasks.demo_data "
      f"--data_dir={empty}`), or choose another vocabulary with "
      "--gin_param=\"conv_t5.vocabulary_model.path = 't5'\"."]
  assert "In call to configurable" not in text


@gin.configurable
def _fails(error=None):
  raise error


def _raised(fn):
  try:
    fn()
  except Exception as e:  # pylint: disable=broad-except
    return e
  raise AssertionError("did not raise")


def test_errors_behind_gins_proxy_and_exception_chains_are_found():
  wrapped = _raised(lambda: _fails(errors.SequenceLengthError("too long")))
  assert type(wrapped) is not errors.SequenceLengthError  # gin's proxy
  assert "In call to configurable '_fails'" in str(wrapped)

  def reraised():
    try:
      _fails(errors.NonFiniteLossError("nan"))
    except Exception as e:
      raise RuntimeError("wrapped") from e
  with pytest.raises(cli._Exit) as e:  # pylint: disable=protected-access
    cli._exit_if_ours(_raised(reraised))  # pylint: disable=protected-access
  assert (e.value.status, e.value.message) == (1, "nan")
  with pytest.raises(cli._Exit) as e:  # pylint: disable=protected-access
    cli._exit_if_ours(wrapped)  # pylint: disable=protected-access
  assert (e.value.status, e.value.message) == (2, "too long")
  cli._exit_if_ours(RuntimeError("not ours"))  # returns: not ours
