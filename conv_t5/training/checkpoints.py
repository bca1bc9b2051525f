"""Checkpoints of another architecture, and the operative config of a run.

  compare_variables, check_checkpoint_compatible
                          the model's variables against a checkpoint's
  ArchitectureGuard       a SessionRunHook: before the Estimator restores
                          model_dir's checkpoint, compares its variables with
                          the model's -> CheckpointMismatchError instead of a
                          partial (silent) or cryptic restore; without one,
                          the same for utils.run.init_checkpoint
                          (check_init_checkpoint), whose missing weights
                          mesh-tensorflow would leave at their random
                          initial values
  keep_operative_config_on_failure
                          puts model_dir's operative_config.gin back when a
                          run fails before it saved a checkpoint

What the stack already guarantees, and is not re-implemented here: TF's Saver
writes each checkpoint file to a temporary name and renames it into place, and
rewrites the `checkpoint` index with an atomic write, so a killed run never
leaves the index pointing at a half-written checkpoint; the Estimator restores
the newest complete checkpoint of model_dir when the same command runs again.
Not atomic upstream: gin's operative_config.gin (rewritten at every start).
"""

import contextlib
import os

import tensorflow.compat.v1 as tf

from conv_t5 import errors
from conv_t5 import files

OPERATIVE_CONFIG = "operative_config.gin"
# Adafactor / Adam slot variables of mesh_tensorflow.optimize.
_SLOT_SUFFIXES = ("_slot_vr", "_slot_vc", "_slot_v", "_slot_m")


def checkpoint_step(path):
  """The global step of a checkpoint path like .../model.ckpt-1200, or None."""
  try:
    return int(path.rsplit("-", 1)[1])
  except (IndexError, ValueError):
    return None


def compare_variables(model_vars, checkpoint_vars):
  """Differences between the model's variables and a checkpoint's.

  Args:
    model_vars, checkpoint_vars: {name: shape as a list of ints}.
  Returns:
    (missing, unexpected, reshaped): names in the model but not the checkpoint;
    model weights (not optimizer slots) in the checkpoint but not the model;
    names whose shapes differ, as (name, model_shape, checkpoint_shape).
  """
  missing = sorted(set(model_vars) - set(checkpoint_vars))
  unexpected = sorted(n for n in set(checkpoint_vars) - set(model_vars)
                      if not n.endswith(_SLOT_SUFFIXES))
  reshaped = sorted(
      (n, list(model_vars[n]), list(checkpoint_vars[n]))
      for n in set(model_vars) & set(checkpoint_vars)
      if list(model_vars[n]) != list(checkpoint_vars[n]))
  return missing, unexpected, reshaped


def check_checkpoint_compatible(model_dir, model_vars, checkpoint=None):
  """Refuses model_dir's checkpoint if its variables differ from the model's.

  Without this, the Estimator restores model_dir's latest checkpoint into the
  new graph: a checkpoint with *more* weights than the model (say 4 layers
  into 2) restores silently in part; one with fewer or other shapes fails deep
  in the Saver with a message that does not say what changed.

  Args:
    model_dir: the run's directory.
    model_vars: {name: shape} of the variables the run will save and restore.
    checkpoint: a checkpoint path; default model_dir's latest.
  Returns:
    the checkpoint path checked, or None if model_dir has none.
  Raises:
    errors.CheckpointMismatchError listing the differences and the fixes.
  """
  checkpoint = checkpoint or tf.train.latest_checkpoint(model_dir)
  if not checkpoint:
    return None
  ckpt_vars = dict(tf.train.list_variables(checkpoint))
  missing, unexpected, reshaped = compare_variables(model_vars, ckpt_vars)
  if not (missing or unexpected or reshaped):
    return checkpoint

  def some(items, fmt=str):
    shown = [fmt(i) for i in items[:6]]
    more = f" ... and {len(items) - 6} more" if len(items) > 6 else ""
    return ", ".join(shown) + more

  lines = [f"{model_dir} holds a checkpoint ({os.path.basename(checkpoint)}) "
           "of a different architecture than the configured model, so "
           "training would restore it only in part, or fail in the Saver. "
           "Nothing was restored or written."]
  weights = [n for n in missing if not n.endswith(_SLOT_SUFFIXES)]
  slots = len(missing) - len(weights)
  if reshaped:
    lines.append(f"  {len(reshaped)} variables have other shapes (model vs "
                 "checkpoint): " + some(
                     reshaped, lambda r: f"{r[0]} {r[1]} vs {r[2]}"))
  if weights:
    lines.append(f"  {len(weights)} model weights are not in the checkpoint: "
                 + some(weights))
  if slots:
    lines.append(f"  {slots} optimizer slot variables are not in the "
                 "checkpoint (another optimizer or its settings).")
  if unexpected:
    lines.append(f"  {len(unexpected)} checkpoint weights are not in the "
                 "model: " + some(unexpected))
  lines.append(
      "To continue that run, use the configuration it was trained with "
      f"({os.path.join(model_dir, OPERATIVE_CONFIG)}); to train a new model, "
      "use a new --model_dir; to start from its matching weights on purpose, "
      "use utils.run.init_checkpoint with a new --model_dir.")
  raise errors.CheckpointMismatchError("\n".join(lines))


def check_init_checkpoint(init_checkpoint, model_vars, model_dtypes=None):
  """Refuses an init checkpoint that lacks model weights or stores them with
  other shapes or dtypes.

  mesh-tensorflow initializes from utils.run.init_checkpoint the variables it
  finds there and leaves the others at their random initial values, logging
  their names only (utils.py, tpu_estimator_model_fn), so a checkpoint of
  another architecture fine-tunes a partly random model without a word.
  Optimizer slots and global_step may be missing (they start at zero, as in
  t5); extra checkpoint variables are ignored, as mesh-tensorflow does.

  Args:
    init_checkpoint: a checkpoint prefix.
    model_vars: {name: shape} of the model's variables.
    model_dtypes: optional {name: tf.DType}: the dtypes they restore as.
  Raises:
    errors.CheckpointMismatchError naming the differences and the fixes.
  """
  reader = tf.train.load_checkpoint(init_checkpoint)
  ckpt_vars = reader.get_variable_to_shape_map()
  missing, _, reshaped = compare_variables(model_vars, ckpt_vars)
  weights = [n for n in missing
             if not n.endswith(_SLOT_SUFFIXES) and n != "global_step"]
  ckpt_dtypes = reader.get_variable_to_dtype_map()
  retyped = sorted(
      (n, d.name, ckpt_dtypes[n].name) for n, d in (model_dtypes or {}).items()
      if n in ckpt_dtypes and d.base_dtype != ckpt_dtypes[n].base_dtype)
  if not (weights or reshaped or retyped):
    return
  lines = [f"utils.run.init_checkpoint = {init_checkpoint!r} does not fit "
           "the configured model: mesh-tensorflow would start the weights it "
           "lacks from random values, or fail in the restore. Nothing was "
           "restored or written."]
  if weights:
    lines.append(f"  {len(weights)} model weights are not in the checkpoint: "
                 + ", ".join(weights[:6])
                 + (f" ... and {len(weights) - 6} more" if len(weights) > 6
                    else ""))
  if reshaped:
    lines.append(f"  {len(reshaped)} variables have other shapes (model vs "
                 "checkpoint): " + ", ".join(
                     f"{n} {m} vs {c}" for n, m, c in reshaped[:6]))
  if retyped:
    n, model_dtype, ckpt_dtype = retyped[0]
    lines.append(f"  {len(retyped)} variables are stored as {ckpt_dtype} but "
                 f"the model restores them as {model_dtype} (e.g. {n}): set "
                 f"utils.get_variable_dtype.master_dtype = '{ckpt_dtype}'.")
  vocab = [r for r in reshaped if r[0] == "shared/embedding"]
  if vocab:
    lines.append(f"  The vocabulary differs: the checkpoint's embedding has "
                 f"{vocab[0][2][0]} rows, the task's vocabulary "
                 f"{vocab[0][1][0]}; the authors' checkpoints use T5's "
                 "(conv_t5.vocabulary_model.path = 't5': 32,128 rows).")
  if weights or reshaped:
    lines.append(
        "  Use the gin config the checkpoint was trained with (the authors' "
        "released checkpoints: models/authors_<lconv|dconv>.<size>.gin; a "
        "converted one: the model.gin beside it), or set "
        "conv_t5.train_model.check_init_checkpoint = False to start from its "
        "matching weights on purpose.")
  raise errors.CheckpointMismatchError("\n".join(lines))


class ArchitectureGuard(tf.train.SessionRunHook):
  """Runs check_checkpoint_compatible on the graph's variables in begin(),
  or, if model_dir has no checkpoint, check_init_checkpoint.

  begin() runs after the model graph is built and before the session is
  created, i.e. before the Estimator restores anything or the saver writes.
  """

  def __init__(self, model_dir, init_checkpoint=None):
    self._model_dir = model_dir
    self._init_checkpoint = init_checkpoint

  def begin(self):
    variables = tf.global_variables()
    model_vars = {v.op.name: v.shape.as_list() for v in variables}
    checked = check_checkpoint_compatible(self._model_dir, model_vars)
    if checked is None and self._init_checkpoint:
      check_init_checkpoint(self._init_checkpoint, model_vars,
                            {v.op.name: v.dtype for v in variables})


@contextlib.contextmanager
def keep_operative_config_on_failure(model_dir):
  """Restores model_dir's operative_config.gin if the body fails before it
  saved a new checkpoint (gin rewrites that file at every start, so a run that
  fails at once would otherwise leave a config that describes no checkpoint).
  """
  path = os.path.join(model_dir, OPERATIVE_CONFIG)
  before = None
  if "://" not in model_dir and os.path.exists(path):
    with open(path) as f:
      before = f.read()
  start = tf.train.latest_checkpoint(model_dir)
  try:
    yield
  except BaseException:
    if before is not None and tf.train.latest_checkpoint(model_dir) == start:
      files.atomic_write_text(path, before)
    raise
