"""conv_t5.training.checkpoints: a checkpoint of another architecture is
refused; operative_config.gin is put back when a run fails before saving."""

import os

import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import errors
from conv_t5.training import checkpoints


def test_compare_variables():
  model = {"a": [2, 3], "b": [4], "b_slot_v": [4]}
  ckpt = {"a": [2, 3], "b": [5], "c": [1], "c_slot_vr": [1], "global_step": []}
  missing, unexpected, reshaped = checkpoints.compare_variables(model, ckpt)
  assert missing == ["b_slot_v"]
  assert unexpected == ["c", "global_step"]  # slots of removed weights: not listed
  assert reshaped == [("b", [4], [5])]
  assert checkpoints.compare_variables(model, dict(model)) == ([], [], [])


def _save_checkpoint(model_dir, shapes, step=3):
  with tf.Graph().as_default():
    for name, shape in shapes.items():
      tf.get_variable(name, shape, initializer=tf.zeros_initializer())
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return tf.train.Saver().save(sess, os.path.join(model_dir, "model.ckpt"),
                                   global_step=step)


def test_checkpoint_compatibility(tmp_path):
  model_dir = str(tmp_path)
  assert checkpoints.check_checkpoint_compatible(model_dir, {"w": [2]}) is None
  path = _save_checkpoint(model_dir, {"w": [2, 2], "extra": [3]})
  with pytest.raises(errors.CheckpointMismatchError) as e:
    checkpoints.check_checkpoint_compatible(model_dir, {"w": [2, 2]})
  assert "1 checkpoint weights are not in the model: extra" in str(e.value)
  with pytest.raises(errors.CheckpointMismatchError, match=r"w \[2, 3\] vs \[2, 2\]"):
    checkpoints.check_checkpoint_compatible(model_dir, {"w": [2, 3], "extra": [3]})
  assert checkpoints.check_checkpoint_compatible(
      model_dir, {"w": [2, 2], "extra": [3]}) == path


def test_operative_config_is_put_back_only_if_nothing_was_saved(tmp_path):
  model_dir = str(tmp_path)
  config = os.path.join(model_dir, checkpoints.OPERATIVE_CONFIG)
  with open(config, "w") as f:
    f.write("old = 1\n")
  with pytest.raises(RuntimeError):
    with checkpoints.keep_operative_config_on_failure(model_dir):
      with open(config, "w") as f:
        f.write("new = 2\n")
      raise RuntimeError("failed before saving")
  assert open(config).read() == "old = 1\n"
  with pytest.raises(RuntimeError):
    with checkpoints.keep_operative_config_on_failure(model_dir):
      with open(config, "w") as f:
        f.write("new = 2\n")
      _save_checkpoint(model_dir, {"w": [1]}, step=7)
      raise RuntimeError("failed after saving")
  assert open(config).read() == "new = 2\n"
