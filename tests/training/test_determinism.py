"""Determinism on CPU: the same seed, config and data give identical training
losses in two separate runs of the command line (dropout on); the settings
that needs are readable without TensorFlow."""

import math
import subprocess
import sys

import pytest

import cli_helpers as h
from conv_t5.training import determinism

STEPS = 4


@pytest.mark.slow
def test_same_seed_same_losses(tmp_path):
  corpus = h.write_corpus(str(tmp_path / "corpus.txt"))
  runs = []
  for name in ("first", "second"):
    argv = h.train_argv(
        str(tmp_path / name), corpus, model="models/conv_lightweight.tiny.gin",
        steps=STEPS, save_every=100, params=["conv_t5.train_model.seed = 7"])
    status, text = h.run_cli(argv, str(tmp_path / f"{name}.log"),
                             **determinism.DETERMINISM_ENV)
    assert status == 0, text[-3000:]
    assert "will not be identical" not in text  # the environment is complete
    runs.append(h.losses(text))
  first, second = runs
  assert len(first) == STEPS, first
  assert all(math.isfinite(v) for v in first)
  assert len(set(first)) == STEPS  # a real run: the loss moves
  assert first == second  # bit-identical, as printed (9 significant digits)
  print(f"\ndeterminism: {first} == {second}")


def test_determinism_environment_check():
  assert determinism.nondeterministic_env(
      {"PYTHONHASHSEED": "0", "TF_ENABLE_ONEDNN_OPTS": "0"}) == []
  assert determinism.nondeterministic_env({"PYTHONHASHSEED": "0"}) == [
      "TF_ENABLE_ONEDNN_OPTS=0"]


def test_determinism_settings_import_without_tensorflow():
  """The demo driver reads DETERMINISM_ENV; that must not load TensorFlow."""
  code = ("import sys\n"
          "import conv_t5.training.determinism as d\n"
          "assert d.DETERMINISM_ENV\n"
          "loaded = sorted(m for m in sys.modules if m == 'tensorflow' or\n"
          "                m.startswith(('tensorflow.', 'mesh_tensorflow')))\n"
          "print(loaded)\n")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, env=h.env(), timeout=120, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip() == "[]"
