"""Interrupt and resume: a training run killed with SIGKILL at an arbitrary
point resumes from its last checkpoint when the same command runs again and
reaches the requested step; what the kill leaves behind is readable."""

import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest

import cli_helpers as h

STEPS, SAVE_EVERY = 8, 2


def _wait_for_step(log_path, proc, step, timeout=300):
  """Polls the log until the run has printed `step`'s loss (or exited)."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    if proc.poll() is not None:
      return False
    with open(log_path) as f:
      if len(h.losses(f.read())) >= step:
        return True
    time.sleep(0.05)
  return False


def _check_leftovers(model_dir):
  """Every checkpoint the index names reads in full, with finite values, and
  operative_config.gin parses."""
  import gin  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  state = tf.train.get_checkpoint_state(model_dir)
  assert state is not None, os.listdir(model_dir)
  for path in state.all_model_checkpoint_paths:
    values = h.read_checkpoint(path)
    assert values and all(np.all(np.isfinite(v)) for v in values.values()
                          if v.dtype.kind == "f")
  config = os.path.join(model_dir, "operative_config.gin")
  if os.path.exists(config):
    with gin.unlock_config():
      gin.parse_config_file(config, skip_unknown=True)
  return h.latest_step(model_dir)


@pytest.mark.slow
def test_sigkill_then_same_command_resumes_to_the_requested_step(tmp_path):
  corpus = h.write_corpus(str(tmp_path / "corpus.txt"))
  model_dir = str(tmp_path / "model")
  argv = h.train_argv(model_dir, corpus, steps=STEPS, save_every=SAVE_EVERY)
  # Kill after an arbitrary step at or past the first periodic checkpoint, at
  # an arbitrary moment within that step (the seed is printed on failure).
  seed = int(time.time())
  rng = random.Random(seed)
  kill_after = rng.randint(SAVE_EVERY + 1, STEPS - 2)
  delay = rng.uniform(0.0, 0.3)
  first_log = str(tmp_path / "first.log")
  with open(first_log, "w") as log:
    proc = subprocess.Popen([h.CLI] + argv, stdout=log,
                            stderr=subprocess.STDOUT, env=h.env())
    try:
      reached = _wait_for_step(first_log, proc, kill_after)
      time.sleep(delay)
      proc.send_signal(signal.SIGKILL)
    finally:
      status = proc.wait(timeout=60)
  context = f"seed {seed}: kill after step {kill_after} + {delay:.2f}s"
  assert reached and status == -signal.SIGKILL, (context, open(first_log).read()[-3000:])
  interrupted = h.losses(open(first_log).read())  # steps 1, 2, ...
  assert kill_after <= len(interrupted) < STEPS, context

  saved = _check_leftovers(model_dir)
  assert saved is not None and saved >= SAVE_EVERY, context
  assert saved <= len(interrupted), context

  status, text = h.run_cli(argv, str(tmp_path / "second.log"))
  assert status == 0, (context, text[-3000:])
  assert f"Restoring parameters from {model_dir}/model.ckpt-{saved}" in text
  resumed = h.losses(text)  # steps saved + 1, ..., STEPS
  assert len(resumed) == STEPS - saved, (context, resumed)
  assert _check_leftovers(model_dir) == STEPS
  # The resumed run continues from the trained weights, not a fresh start:
  # its first loss is below the first loss of the interrupted run.
  assert resumed[0] < interrupted[0], (context, interrupted, resumed)
  print(f"\nkill/resume: {context}; killed after {len(interrupted)} steps, "
        f"restored model.ckpt-{saved}, resumed steps {saved + 1}..{STEPS}; "
        f"losses {interrupted} then {resumed}")
