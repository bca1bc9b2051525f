"""Determinism on CPU: the same seed, config and data give identical training
losses in two separate runs of the command line (dropout on)."""

import math

import pytest

import cli_helpers as h
from conv_t5 import guards

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
                             **guards.DETERMINISM_ENV)
    assert status == 0, text[-3000:]
    assert "will not be identical" not in text  # the environment is complete
    runs.append(h.losses(text))
  first, second = runs
  assert len(first) == STEPS, first
  assert all(math.isfinite(v) for v in first)
  assert len(set(first)) == STEPS  # a real run: the loss moves
  assert first == second  # bit-identical, as printed (9 significant digits)
  print(f"\ndeterminism: {first} == {second}")
