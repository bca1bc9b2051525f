"""The init-checkpoint guard: a checkpoint that lacks model weights, or stores
them with other shapes or dtypes, is refused before mesh-tensorflow would
start the missing ones from random values (or fail in the restore); optimizer
slots and global_step may be missing, and model_dir's own checkpoint, when
there is one, is what counts (the Estimator restores it, not the init one)."""

import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import errors
from conv_t5.training import checkpoints
from conv_t5.training import train


def save(directory, variables, step=5):
  """A checkpoint of {name: numpy value} at directory/model.ckpt-<step>."""
  with tf.Graph().as_default():
    tf_vars = {n: tf.Variable(v, name=n) for n, v in variables.items()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return tf.train.Saver(tf_vars).save(
          sess, os.path.join(directory, "model.ckpt"), global_step=step)


@pytest.fixture
def ckpt(tmp_path):
  return save(str(tmp_path), {
      "a": np.zeros([2, 3], np.float32), "b": np.zeros([5], np.float32),
      "a_slot_vr": np.zeros([3], np.float32)})


def test_a_checkpoint_with_every_weight_passes(ckpt):
  model = {"a": [2, 3], "b": [5], "a_slot_vc": [2], "b_slot_v": [5],
           "global_step": []}
  checkpoints.check_init_checkpoint(ckpt, model, {"a": tf.float32})


def test_missing_weights_are_refused(ckpt):
  with pytest.raises(errors.CheckpointMismatchError) as e:
    checkpoints.check_init_checkpoint(ckpt, {"a": [2, 3], "b": [5], "c": [1]})
  message = str(e.value)
  assert "1 model weights are not in the checkpoint: c" in message
  assert "models/authors_<lconv|dconv>.<size>.gin" in message
  assert "check_init_checkpoint = False" in message


def test_other_shapes_and_dtypes_are_refused(ckpt):
  with pytest.raises(errors.CheckpointMismatchError,
                     match=r"b \[6\] vs \[5\]"):
    checkpoints.check_init_checkpoint(ckpt, {"a": [2, 3], "b": [6]})
  with pytest.raises(errors.CheckpointMismatchError,
                     match="master_dtype = 'float32'"):
    checkpoints.check_init_checkpoint(ckpt, {"a": [2, 3], "b": [5]},
                                 {"a": tf.bfloat16})


def test_model_dirs_own_checkpoint_comes_first(tmp_path, ckpt):
  """With a checkpoint in model_dir, the Estimator restores it and ignores
  init_checkpoint: only model_dir's is compared."""
  model_dir = str(tmp_path / "run")
  os.makedirs(model_dir)
  save(model_dir, {"c": np.zeros([1], np.float32)})
  with tf.Graph().as_default():
    tf.Variable(np.zeros([1], np.float32), name="c")
    checkpoints.ArchitectureGuard(model_dir, init_checkpoint=ckpt).begin()
  with tf.Graph().as_default():
    tf.Variable(np.zeros([1], np.float32), name="c")
    with pytest.raises(errors.CheckpointMismatchError,
                       match="not in the checkpoint: c"):
      checkpoints.ArchitectureGuard(str(tmp_path / "empty"),
                               init_checkpoint=ckpt).begin()


def test_another_vocabulary_is_named(tmp_path):
  ckpt = save(str(tmp_path), {"shared/embedding": np.zeros([16, 4],
                                                           np.float32)})
  with pytest.raises(errors.CheckpointMismatchError,
                     match=r"embedding has 16 rows, the task's vocabulary 8"):
    checkpoints.check_init_checkpoint(ckpt, {"shared/embedding": [8, 4]})


def test_the_check_stands_aside_when_gin_selects_what_to_restore(bind):
  """With mesh-tensorflow's own filter (e.g. no optimizer slots), a partial
  restore is what the user asked for."""
  from mesh_tensorflow.transformer import utils  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  assert train._custom_init_selection() is False  # pylint: disable=protected-access
  bind("utils.tpu_estimator_model_fn.init_variable_filter", "^(?!.*_slot_)")
  assert train._custom_init_selection() is True  # pylint: disable=protected-access
