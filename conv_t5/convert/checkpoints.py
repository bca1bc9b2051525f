"""Reading the authors' checkpoint and writing the converted one.

Paths are local or gs:// (everything goes through tf.io.gfile and TF's
checkpoint reader). The output is assembled in a local temporary directory and
published at the end: renamed into place for a local output_dir; for gs://,
copied file by file with the `checkpoint` index last, so that a reader never
finds an index that names an incomplete checkpoint. A refusal or a crash before
that leaves nothing at output_dir.
"""

import contextlib
import os
import shutil
import tempfile

import numpy as np

from conv_t5.convert import refusals

GLOBAL_STEP = "global_step"
# Write the checkpoint in parts of about this many bytes (memory bound: the
# dynamic large model has 1.2B parameters).
PART_BYTES = 1 << 30


def _tf():
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  return tf


@contextlib.contextmanager
def reaching(path):
  """Turns a storage error (gs:// unreachable, no permission) into one
  ConversionError that names the path and the fix."""
  tf = _tf()
  try:
    yield
  except tf.errors.OpError as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e)
    raise refusals.ConversionError(
        f"{path} cannot be reached: {first}. Check the network and the "
        "credentials (gcloud auth application-default login) for gs://, or "
        "copy the checkpoint to a local directory first (gsutil -m cp -r "
        "gs://pretrainedconvs/<name> .) and pass that. Nothing was "
        "written.") from e


def resolve(path, step=None):
  """The checkpoint prefix (…/model.ckpt-N) for a directory or a prefix.

  Args:
    path: a model directory (its latest checkpoint is used, as t5's
      pretrained_model_dir does) or a checkpoint prefix; local or gs://.
    step: optional int: the checkpoint model.ckpt-<step> of the directory.
  Raises:
    refusals.ConversionError if there is no such checkpoint.
  """
  with reaching(path):
    return _resolve(path, step)


def _resolve(path, step):
  tf = _tf()
  gfile = tf.io.gfile
  if step is not None:
    prefix = os.path.join(path, f"model.ckpt-{step}")
  elif gfile.exists(path + ".index"):
    prefix = path
  elif gfile.isdir(path):
    prefix = tf.train.latest_checkpoint(path)
    if prefix is None:  # no `checkpoint` index file: take the newest prefix
      steps = sorted(_step(p) for p in gfile.glob(
          os.path.join(path, "model.ckpt-*.index")))
      steps = [s for s in steps if s is not None]
      prefix = os.path.join(path, f"model.ckpt-{steps[-1]}") if steps else None
    if prefix is None:
      raise refusals.ConversionError(
          f"{path} holds no checkpoint (no model.ckpt-*.index): pass the "
          "directory of a released checkpoint, e.g. gs://pretrainedconvs/"
          "lconv_base, or a checkpoint prefix such as "
          f"{os.path.join(path, 'model.ckpt-524288')}.")
  else:
    raise refusals.ConversionError(
        f"{path}: no such directory or checkpoint. Pass a model directory "
        "(gs://pretrainedconvs/lconv_base) or a checkpoint prefix "
        "(…/model.ckpt-<step>).")
  if not gfile.exists(prefix + ".index"):
    raise refusals.ConversionError(
        f"{prefix}.index does not exist: no checkpoint at step "
        f"{_step(prefix + '.index')} in {os.path.dirname(prefix)}.")
  return prefix


def _step(index_path):
  try:
    return int(index_path.rsplit("-", 1)[1].split(".")[0])
  except (IndexError, ValueError):
    return None


def step_of(prefix):
  """The global step of a checkpoint prefix ("model.ckpt-1200" -> 1200)."""
  return _step(prefix + ".index")


class Reader:
  """A checkpoint's variables: names, shapes, dtypes, and values on demand."""

  def __init__(self, prefix):
    tf = _tf()
    try:
      with reaching(prefix):
        self._reader = tf.train.load_checkpoint(prefix)
    except refusals.ConversionError as e:
      if not isinstance(e.__cause__, (tf.errors.DataLossError,
                                      tf.errors.NotFoundError)):
        raise
      raise refusals.ConversionError(
          f"{prefix} cannot be read as a TensorFlow checkpoint "
          f"({e.__cause__}); copy it again (all of model.ckpt-<step>.index "
          "and .data-*). Nothing was written.") from e.__cause__
    self.prefix = prefix
    self.shapes = {n: tuple(s) for n, s in
                   self._reader.get_variable_to_shape_map().items()}
    self.dtypes = dict(self._reader.get_variable_to_dtype_map())

  def get(self, name):
    """The value of a variable as a numpy array (its stored dtype)."""
    with reaching(self.prefix):
      return np.asarray(self._reader.get_tensor(name))


def write(prefix, tensors, part_bytes=PART_BYTES):
  """Writes a TF checkpoint (V2 bundle) with the exact names given.

  Args:
    prefix: the checkpoint prefix (local), e.g. /tmp/x/model.ckpt-100.
    tensors: an iterable of (name, numpy array); consumed once, in parts of
      about `part_bytes`, so that the whole model is never in memory at once.
    part_bytes: size of a part.
  """
  tf = _tf()
  parts, chunk, size = [], [], 0

  def flush():
    if not chunk:
      return
    part = f"{prefix}_parts/part-{len(parts):05d}"
    with tf.Graph().as_default(), tf.Session() as sess:
      holders = [tf.placeholder(tf.as_dtype(v.dtype), shape=v.shape)
                 for _, v in chunk]
      save = tf.raw_ops.SaveV2(
          prefix=part, tensor_names=[n for n, _ in chunk],
          shape_and_slices=[""] * len(chunk), tensors=holders)
      sess.run(save, feed_dict={h: v for h, (_, v) in zip(holders, chunk)})
    parts.append(part)
    chunk.clear()

  for name, value in tensors:
    chunk.append((name, value))
    size += value.nbytes
    if size >= part_bytes:
      flush()
      size = 0
  flush()
  with tf.Graph().as_default(), tf.Session() as sess:
    sess.run(tf.raw_ops.MergeV2Checkpoints(
        checkpoint_prefixes=parts, destination_prefix=prefix,
        delete_old_dirs=True))
  shutil.rmtree(f"{prefix}_parts", ignore_errors=True)


def write_index(directory, checkpoint_name):
  """The `checkpoint` file that tf.train.latest_checkpoint reads."""
  with open(os.path.join(directory, "checkpoint"), "w") as f:
    f.write(f'model_checkpoint_path: "{checkpoint_name}"\n'
            f'all_model_checkpoint_paths: "{checkpoint_name}"\n')


def check_output_dir(output_dir):
  """Refuses an output_dir that already holds anything."""
  gfile = _tf().io.gfile
  with reaching(output_dir):
    used = gfile.exists(output_dir) and (not gfile.isdir(output_dir) or
                                         gfile.listdir(output_dir))
  if used:
    raise refusals.ConversionError(
        f"{output_dir} exists and is not empty: the converter writes a new "
        "directory and never mixes its checkpoint with another. Pass a new "
        "--output_dir (or remove that one).")


@contextlib.contextmanager
def staging(output_dir):
  """A local temporary directory, published as output_dir if the body
  succeeds and removed either way."""
  check_output_dir(output_dir)
  if "://" in output_dir:
    tmp = tempfile.mkdtemp(prefix="conv_t5_convert_")
  else:
    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
  try:
    yield tmp
    _publish(tmp, output_dir)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp, output_dir):
  if "://" not in output_dir:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private
    if os.path.isdir(output_dir):
      os.rmdir(output_dir)  # empty (checked): replace it
    os.rename(tmp, output_dir)
    return
  gfile = _tf().io.gfile
  with reaching(output_dir):
    gfile.makedirs(output_dir)
    names = sorted(os.listdir(tmp), key=lambda n: n == "checkpoint")
    for name in names:  # the `checkpoint` index last
      gfile.copy(os.path.join(tmp, name), os.path.join(output_dir, name),
                 overwrite=False)
