"""NaN / Inf: stop at the first non-finite loss, never save non-finite weights.

  NonFiniteLossGuard      a SessionRunHook: stops at the first NaN / Inf loss
                          and names the step -> NonFiniteLossError
  FiniteCheckpointGuard   a CheckpointSaverListener: refuses to save weights
                          that are not finite, so the last checkpoint stays good
"""

import math

import tensorflow.compat.v1 as tf

from conv_t5 import errors


class NonFiniteLossGuard(tf.train.SessionRunHook):
  """Stops training at the first step whose loss is NaN or Inf, naming it.

  The Estimator's own NanTensorHook raises only "NaN loss during training."
  without the step; this hook runs before it (hooks passed to train() come
  first) and says which step, what the last good checkpoint is, and what to
  try. On TPU the loss is seen once per iterations_per_loop steps, so the step
  named is the end of the loop in which it happened.
  """

  def __init__(self, model_dir=None):
    self._model_dir = model_dir
    self._loss = None
    self._global_step = None
    self._last_finite = None

  def begin(self):
    losses = tf.get_collection(tf.GraphKeys.LOSSES)
    if not losses:
      raise ValueError("NonFiniteLossGuard: the graph has no loss in "
                       "tf.GraphKeys.LOSSES (the Estimator adds it).")
    self._loss = losses[-1]
    self._global_step = tf.train.get_global_step()

  def before_run(self, run_context):
    return tf.train.SessionRunArgs(self._loss)

  def after_run(self, run_context, run_values):
    loss = float(run_values.results)
    step = int(run_context.session.run(self._global_step))
    if math.isfinite(loss):
      self._last_finite = step
      return
    good = tf.train.latest_checkpoint(self._model_dir) if self._model_dir else None
    raise errors.NonFiniteLossError(
        f"Training stopped: the loss became {loss} at step {step}"
        + (f" (last finite loss at step {self._last_finite})"
           if self._last_finite is not None else "")
        + ". No checkpoint was saved from this point on"
        + (f"; the latest good checkpoint is {good}" if good else "")
        + ". Lower the learning rate (utils.run.learning_rate_schedule), "
        "check the data of this step, or use float32 activations; then run "
        "the same command again to resume from that checkpoint.")


class FiniteCheckpointGuard(tf.train.CheckpointSaverListener):
  """Refuses to save a checkpoint whose variables are not all finite.

  The Estimator runs the checkpoint saver hook before other hooks, so without
  this a NaN step that falls on a save step would be saved and then resumed
  from. Listeners run in order after mesh-tensorflow's, which copies the
  weights from the mesh slices to the saved variables first.
  """

  def __init__(self):
    self._finite = None

  def begin(self):
    checks = [tf.reduce_all(tf.is_finite(v)) for v in tf.global_variables()
              if v.dtype.base_dtype.is_floating]
    self._finite = tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)

  def before_save(self, session, global_step_value):
    if not session.run(self._finite):
      raise errors.NonFiniteLossError(
          f"Training stopped at step {global_step_value}: the weights are not "
          "finite (NaN / Inf), so this checkpoint was not saved; the previous "
          "one is intact. Lower the learning rate and run the command again.")
