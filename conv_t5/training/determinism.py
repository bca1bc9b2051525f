"""What identical CPU runs need besides a seed; importable without TensorFlow.

  DETERMINISM_ENV         environment variables to set before Python /
                          TensorFlow start (the demo sets them for its
                          workers; tests for their subprocesses)
  nondeterministic_env    which of them the environment lacks
  seed_everything         seeds Python's `random` and warns about the above
"""

import os
import random

# Set before TensorFlow starts, for bit-identical CPU runs (see seed_everything).
DETERMINISM_ENV = {"PYTHONHASHSEED": "0", "TF_ENABLE_ONEDNN_OPTS": "0"}


def nondeterministic_env(environ=None):
  """The DETERMINISM_ENV settings missing from the environment, as 'K=V' lines."""
  environ = os.environ if environ is None else environ
  return [f"{k}={v}" for k, v in DETERMINISM_ENV.items()
          if environ.get(k) != v]


def seed_everything(seed):
  """Seeds Python's `random`, which mesh-tensorflow draws dropout seeds from,
  and warns about what else identical runs need.

  Measured on CPU (TF 2.15.1, tiny models): with the graph seed, the data seed
  and Python's random seeded, losses still differed between runs from step 2
  on unless all of these held:
    * PYTHONHASHSEED fixed: mesh-tensorflow's placement mesh seeds each dropout
      op with hash() of a string, which Python salts per process;
    * TF_ENABLE_ONEDNN_OPTS=0: oneDNN's CPU kernels are not bit-reproducible;
    * one inter-op thread (train_model sets it when a seed is given): ops of
      one step that race run in varying order otherwise. conv_t5.OrderedUpdates
      (the CLI's default optimizer) removes the largest race, updates against
      the backward pass; the global step is still read (Adafactor's decay,
      the learning-rate schedule) while the same step increments it.
  The two environment variables must be set before Python / TensorFlow start.
  """
  random.seed(seed)
  missing = nondeterministic_env()
  if missing:
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    tf.logging.warning(
        "conv_t5: a seed is set, but the losses will not be identical between "
        "runs unless the process starts with %s (see conv_t5.training."
        "determinism.seed_everything).", " ".join(missing))
