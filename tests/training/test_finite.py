"""conv_t5.training.finite: training stops at the first non-finite loss and
never saves non-finite weights."""

import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import errors
from conv_t5.training import finite


def _train(model_dir, hooks, listeners, steps, nan_from_step):
  """A toy MonitoredTrainingSession whose loss turns NaN at a given step."""
  with tf.Graph().as_default():
    step = tf.train.get_or_create_global_step()
    w = tf.get_variable("w", [], initializer=tf.ones_initializer())
    bad = step + 1 >= nan_from_step  # this run's step
    new_w = tf.where(bad, w * float("nan"), w + 1.0)
    loss = tf.identity(new_w * 1.0)
    tf.add_to_collection(tf.GraphKeys.LOSSES, loss)
    with tf.control_dependencies([loss]):  # read the step before it moves
      train_op = tf.group(tf.assign(w, new_w), tf.assign_add(step, 1))
    saver_hook = tf.train.CheckpointSaverHook(
        model_dir, save_steps=2, listeners=listeners)
    with tf.train.MonitoredTrainingSession(
        checkpoint_dir=None, hooks=[saver_hook] + hooks,
        save_summaries_steps=None, log_step_count_steps=None) as sess:
      for _ in range(steps):
        sess.run(train_op)


def test_non_finite_loss_names_the_step(tmp_path):
  with pytest.raises(errors.NonFiniteLossError,
                     match=r"loss became nan at step 3 \(last finite loss at step 2\)"):
    _train(str(tmp_path), [finite.NonFiniteLossGuard(str(tmp_path))], [],
           steps=5, nan_from_step=3)
  _train(str(tmp_path / "ok"), [finite.NonFiniteLossGuard()], [], steps=3,
         nan_from_step=100)


def test_non_finite_weights_are_never_saved(tmp_path):
  model_dir = str(tmp_path)
  with pytest.raises(errors.NonFiniteLossError, match="at step 4: the weights"):
    _train(model_dir, [], [finite.FiniteCheckpointGuard()], steps=6,
           nan_from_step=3)
  assert tf.train.latest_checkpoint(model_dir).endswith("model.ckpt-2")
