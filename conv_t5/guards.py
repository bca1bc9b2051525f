"""Guards around a T5 training run: refuse what would go silently wrong, stop
what did go wrong, and leave earlier outputs of the model_dir intact.

  check_sequence_length   lengths / batch size the model or mesh cannot take
                          -> SequenceLengthError, before any graph is built
  ArchitectureGuard       a SessionRunHook: before the Estimator restores
                          model_dir's checkpoint, compares its variables with
                          the model's -> CheckpointMismatchError instead of a
                          partial (silent) or cryptic restore; without one,
                          the same for utils.run.init_checkpoint, whose
                          missing weights mesh-tensorflow would leave at
                          their random initial values
  NonFiniteLossGuard      a SessionRunHook: stops at the first NaN / Inf loss
                          and names the step -> NonFiniteLossError
  FiniteCheckpointGuard   a CheckpointSaverListener: refuses to save weights
                          that are not finite, so the last checkpoint stays good
  train_model             drop-in for mesh-tensorflow's utils.train_model (the
                          `utils.run.train_model_fn` gin parameter) that
                          applies all of the above, plus `seed`
  GuardedMtfModel         t5's MtfModel whose train() does the same

How they are applied. The `conv_t5_mesh_transformer` CLI puts gin/guards.gin
first among the gin files, which binds `utils.run.train_model_fn =
@conv_t5.train_model` (mesh-tensorflow's own train_model is not gin-registered,
so turn single guards off instead: conv_t5.train_model.check_architecture =
False, ...). Python users of MtfModel use GuardedMtfModel; other drivers call
the pieces. t5's own `--use_model_api` path builds an MtfModel internally and
is not guarded.

What the stack already guarantees, and is not re-implemented here: TF's Saver
writes each checkpoint file to a temporary name and renames it into place, and
rewrites the `checkpoint` index with an atomic write, so a killed run never
leaves the index pointing at a half-written checkpoint; the Estimator restores
the newest complete checkpoint of model_dir when the same command runs again.
Not atomic upstream: gin's operative_config.gin (rewritten at every start; see
`train_model`, which restores the previous one when a run fails before saving).
"""

import contextlib
import math
import os
import random

import gin
import tensorflow.compat.v1 as tf

import conv_t5  # noqa: F401  (TF compatibility fix before mesh_tensorflow)
from conv_t5 import errors
from conv_t5 import files

OPERATIVE_CONFIG = "operative_config.gin"
# Adafactor / Adam slot variables of mesh_tensorflow.optimize.
_SLOT_SUFFIXES = ("_slot_vr", "_slot_vc", "_slot_v", "_slot_m")


# --------------------------------------------------------------------------
# Sequence lengths.


def check_sequence_length(sequence_length, model=None, model_type="bitransformer",
                          batch_size=None, mesh_shape=None, layout_rules=None):
  """Checks that the model and mesh can take these lengths and batch size.

  Args:
    sequence_length: {"inputs": int, "targets": int} (or an int for both).
    model: optional built transformer.Bitransformer / Unitransformer: its
      learned or sinusoid position embeddings cap the length at max_length.
    model_type: "bitransformer" needs inputs and targets lengths; the language
      model types ("lm", "delimited_lm", "aligned") need targets.
    batch_size: optional int, the global batch size (sequences).
    mesh_shape, layout_rules: optional, inputs to mtf.convert_to_shape /
      convert_to_layout_rules: a dim the layout splits over the mesh must be
      divisible by the size of its mesh dimension.
  Returns:
    the lengths as a dict.
  Raises:
    errors.SequenceLengthError naming the length, the limit and the fix.
  """
  if isinstance(sequence_length, int) and not isinstance(sequence_length, bool):
    sequence_length = {"inputs": sequence_length, "targets": sequence_length}
  if not isinstance(sequence_length, dict):
    raise errors.SequenceLengthError(
        f"sequence_length must be a dict like {{'inputs': 512, 'targets': 114}}"
        f", got {sequence_length!r}; set utils.run.sequence_length.")
  needed = ["inputs", "targets"] if model_type == "bitransformer" else ["targets"]
  for key in needed:
    if key not in sequence_length:
      raise errors.SequenceLengthError(
          f"sequence_length {sequence_length} has no {key!r} length, which a "
          f"{model_type} model needs; set utils.run.sequence_length = "
          "{'inputs': ..., 'targets': ...}.")
  for key, value in sequence_length.items():
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise errors.SequenceLengthError(
          f"sequence_length[{key!r}] = {value!r}: a length must be a positive "
          "integer number of tokens.")
  for key, stack in _stacks(model, model_type):
    if key not in sequence_length:
      continue
    if getattr(stack, "positional_embedding", False) or getattr(
        stack, "sinusoid_positional_embedding", False):
      limit = stack.max_length_dim.size
      if sequence_length[key] > limit:
        raise errors.SequenceLengthError(
            f"sequence_length[{key!r}] = {sequence_length[key]} is longer than "
            f"the {key} stack's position embedding (max_length = {limit}): "
            "positions past it have no embedding. Use a length <= "
            f"{limit}, or raise transformer.Unitransformer.max_length (a new "
            "model), or use relative attention / convolutions, which need no "
            "position embedding.")
  if mesh_shape is not None and layout_rules is not None:
    _check_divisible(sequence_length, batch_size, mesh_shape, layout_rules)
  return dict(sequence_length)


def _stacks(model, model_type):
  if model is None:
    return []
  if model_type == "bitransformer" and hasattr(model, "encoder"):
    return [("inputs", model.encoder), ("targets", model.decoder)]
  return [("targets", model)]


def _check_divisible(sequence_length, batch_size, mesh_shape, layout_rules):
  import mesh_tensorflow as mtf  # pylint: disable=g-import-not-at-top
  mesh_shape = mtf.convert_to_shape(mesh_shape)
  layout_rules = mtf.convert_to_layout_rules(layout_rules)
  sizes = [("length", f"sequence_length[{k!r}]", v)
           for k, v in sorted(sequence_length.items())]
  if batch_size is not None:
    sizes.append(("batch", "the batch size (sequences)", batch_size))
  for dim_name, what, size in sizes:
    axis = layout_rules.tensor_dimension_to_mesh_axis(
        mtf.Dimension(dim_name, size), mesh_shape)
    if axis is None:
      continue
    mesh_dim = mesh_shape.dims[axis]
    if size % mesh_dim.size:
      raise errors.SequenceLengthError(
          f"{what} = {size} is not divisible by the mesh dimension "
          f"{mesh_dim.name}:{mesh_dim.size} that the layout rule "
          f"{dim_name}:{mesh_dim.name} splits it over (mesh_shape "
          f"{mesh_shape}). Use a multiple of {mesh_dim.size}, or change "
          "utils.run.mesh_shape / layout_rules.")


# --------------------------------------------------------------------------
# Checkpoints of another architecture.


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


# --------------------------------------------------------------------------
# NaN / Inf.


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


def training_hooks(model_dir, check_architecture=True, check_finite=True,
                   init_checkpoint=None):
  """The SessionRunHooks to pass to Estimator.train(hooks=...)."""
  hooks = []
  if check_architecture:
    hooks.append(ArchitectureGuard(model_dir, init_checkpoint))
  if check_finite:
    hooks.append(NonFiniteLossGuard(model_dir))
  return hooks


def saving_listeners(check_finite=True):
  """The CheckpointSaverListeners to pass to Estimator.train."""
  return [FiniteCheckpointGuard()] if check_finite else []


# --------------------------------------------------------------------------
# Files.


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


# --------------------------------------------------------------------------
# Training.


class _GuardedEstimator:
  """Passes everything to the estimator; adds hooks and listeners to train()."""

  def __init__(self, estimator, hooks, listeners):
    self._estimator = estimator
    self._hooks = hooks
    self._listeners = listeners

  def __getattr__(self, name):
    return getattr(self._estimator, name)

  def train(self, input_fn, hooks=None, steps=None, max_steps=None,
            saving_listeners=None):
    return self._estimator.train(
        input_fn, hooks=list(hooks or []) + self._hooks, steps=steps,
        max_steps=max_steps,
        saving_listeners=list(saving_listeners or []) + self._listeners)


def _apply_run_options(estimator, seed, cpu_devices, inter_op_threads,
                       disable_meta_optimizer=False):
  """Sets the graph seed and session options of an Estimator.

  mesh-tensorflow's get_estimator exposes none of them, so this sets the two
  Estimator fields that hold them (tf_estimator 2.15: `_config`, read when the
  training graph is built, and `_session_config`, read when the session is).
  """
  if seed is not None:
    estimator._config = estimator._config.replace(tf_random_seed=seed)  # pylint: disable=protected-access
  if cpu_devices or inter_op_threads or disable_meta_optimizer:
    config = tf.ConfigProto()
    if estimator._session_config is not None:  # pylint: disable=protected-access
      config.CopyFrom(estimator._session_config)  # pylint: disable=protected-access
    if cpu_devices:
      config.device_count["CPU"] = cpu_devices
    if inter_op_threads:
      config.inter_op_parallelism_threads = inter_op_threads
    if disable_meta_optimizer:
      config.graph_options.rewrite_options.disable_meta_optimizer = True
    estimator._session_config = config  # pylint: disable=protected-access


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
    tf.logging.warning(
        "conv_t5: a seed is set, but the losses will not be identical between "
        "runs unless the process starts with %s (see conv_t5.guards."
        "seed_everything).", " ".join(missing))


@gin.configurable(module="conv_t5")
def train_model(estimator, vocabulary, sequence_length, batch_size,
                train_dataset_fn, train_steps, ensemble_inputs,
                dataset_split="train", skip_seen_data=False,
                seen_data_init_step=0, checkpoint_input_pipeline=False,
                seed=None, check_architecture=True, check_finite=True,
                check_lengths=True, cpu_devices=None, inter_op_threads=None,
                disable_meta_optimizer=False, check_init_checkpoint=True,
                init_checkpoint=None):
  """mesh-tensorflow's utils.train_model, guarded (same arguments, plus gin).

  Bound by the CLI as utils.run.train_model_fn. Before training: the sequence
  lengths and batch size are checked against the configured model and mesh.
  During training: the hooks and listener above. If the run fails before it
  saves a new checkpoint, the previous operative_config.gin is put back.

  Args (beyond utils.train_model's):
    seed: int or None. Sets the TF graph seed (weight init), Python's random
      (mesh-tensorflow's dropout seeds), the data seed passed to
      train_dataset_fn (seqio's shuffling and span-corruption noise) and one
      inter-op thread. With the same seed, config and data, and the process
      started with DETERMINISM_ENV, CPU runs give identical losses.
      None: T5's behaviour (unseeded).
    check_architecture, check_finite, check_lengths: turn a guard off.
    cpu_devices: int or None: run the session with this many CPU devices, so
      mesh_devices such as ["cpu:0", ..., "cpu:3"] are real devices (testing
      model-parallel layouts on one host).
    inter_op_threads: the session's inter-op thread pool size; default 1 when
      a seed is given (see seed_everything), else TF's default.
    disable_meta_optimizer: skip Grappler's graph rewrites at session start
      (mesh-tensorflow does so on TPU); faster start-up for short CPU runs.
    check_init_checkpoint: refuse an init checkpoint that lacks model weights
      (check_init_checkpoint); off when mesh-tensorflow's own filters
      (tpu_estimator_model_fn.init_variable_filter, should_load_variable,
      init_checkpoint_variable_mapping) select what it restores.
    init_checkpoint: the checkpoint the estimator initializes from; default
      the gin value of utils.run.init_checkpoint.
  """
  from mesh_tensorflow.transformer import utils as mtf_utils  # pylint: disable=g-import-not-at-top
  model_dir = estimator.model_dir
  if check_lengths:
    check_sequence_length(sequence_length, **_model_for_checks(vocabulary,
                                                               batch_size))
  if seed is not None and inter_op_threads is None:
    inter_op_threads = 1
  _apply_run_options(estimator, seed, cpu_devices, inter_op_threads,
                     disable_meta_optimizer)
  if seed is not None:
    seed_everything(seed)
    train_dataset_fn = _with_data_seed(train_dataset_fn, seed)
  if init_checkpoint is None:
    init_checkpoint = _query("utils.run.init_checkpoint", None)
  if not check_init_checkpoint or _custom_init_selection():
    init_checkpoint = None
  guarded = _GuardedEstimator(
      estimator, training_hooks(model_dir, check_architecture, check_finite,
                                init_checkpoint),
      saving_listeners(check_finite))
  with keep_operative_config_on_failure(model_dir):
    mtf_utils.train_model(
        guarded, vocabulary, sequence_length, batch_size, train_dataset_fn,
        train_steps, ensemble_inputs, dataset_split=dataset_split,
        skip_seen_data=skip_seen_data, seen_data_init_step=seen_data_init_step,
        checkpoint_input_pipeline=checkpoint_input_pipeline)


def _with_data_seed(dataset_fn, seed):
  """dataset_fn with seed=seed, if it takes a seed (t5's dataset fns do)."""
  import inspect  # pylint: disable=g-import-not-at-top
  try:
    takes_seed = "seed" in inspect.signature(dataset_fn).parameters
  except (TypeError, ValueError):
    takes_seed = False
  if not takes_seed:
    tf.logging.warning("conv_t5: %s takes no seed; the data is not seeded.",
                       dataset_fn)
    return dataset_fn

  def seeded(*args, **kwargs):
    kwargs.setdefault("seed", seed)
    return dataset_fn(*args, **kwargs)
  return seeded


def _query(name, default):
  """A gin parameter's value; a `@fn()` reference is evaluated as gin would."""
  try:
    value = gin.query_parameter(name)
  except ValueError:
    return default
  if isinstance(value, gin.config.ConfigurableReference):
    if not value.evaluate:
      return default
    try:
      value = value.scoped_configurable_fn()
    except Exception:  # pylint: disable=broad-except
      return default
  return value


def _custom_init_selection():
  """True if gin selects or renames what init_checkpoint restores."""
  return any(_query(name, None) for name in (
      "tpu_estimator_model_fn.init_variable_filter",
      "should_load_variable.filter_fn",
      "init_checkpoint_variable_mapping.mapping_fn"))


def _model_for_checks(vocabulary, batch_size):
  """The model, mesh and layout utils.run is configured with (from gin)."""
  from mesh_tensorflow.transformer import utils as mtf_utils  # pylint: disable=g-import-not-at-top
  model_type = _query("utils.run.model_type", "bitransformer")
  mesh_shape = _query("utils.run.mesh_shape", None)
  layout_rules = _query("utils.run.layout_rules", None)
  model = mtf_utils.build_model(
      model_type=model_type,
      input_vocab_size=mtf_utils.inputs_vocabulary(vocabulary).vocab_size,
      output_vocab_size=mtf_utils.targets_vocabulary(vocabulary).vocab_size,
      layout_rules=layout_rules, mesh_shape=mesh_shape)
  return dict(model=model, model_type=model_type, batch_size=batch_size,
              mesh_shape=mesh_shape, layout_rules=layout_rules)


def _mtf_model_class():
  from t5.models import mtf_model  # pylint: disable=g-import-not-at-top
  return mtf_model.MtfModel


def __getattr__(name):
  # GuardedMtfModel is built on first use: importing t5.models (and torch)
  # only for users who ask for it.
  if name == "GuardedMtfModel":
    cls = _make_guarded_mtf_model(_mtf_model_class())
    globals()[name] = cls
    return cls
  raise AttributeError(name)


def _make_guarded_mtf_model(base):
  """GuardedMtfModel: t5's MtfModel with a guarded train()."""

  class GuardedMtfModel(base):
    """t5.models.MtfModel whose train() runs conv_t5.guards.train_model.

    Same constructor as MtfModel plus `seed` (see train_model) and
    `cpu_devices`; the optimizer defaults to conv_t5.ordered.OrderedUpdates
    (Adafactor, updates after all gradients). Other methods (eval, predict,
    finetune...) are MtfModel's.
    """

    def __init__(self, *args, seed=None, cpu_devices=None, **kwargs):
      from conv_t5 import ordered  # pylint: disable=g-import-not-at-top
      if kwargs.get("optimizer") is None:
        kwargs["optimizer"] = ordered.OrderedUpdates
      super().__init__(*args, **kwargs)
      self._seed = seed
      self._cpu_devices = cpu_devices

    def train(self, mixture_or_task_name, steps, init_checkpoint=None,
              split="train"):
      import functools  # pylint: disable=g-import-not-at-top
      from t5.models import mesh_transformer  # pylint: disable=g-import-not-at-top
      from mesh_tensorflow.transformer import utils as mtf_utils  # pylint: disable=g-import-not-at-top
      vocabulary = mesh_transformer.get_vocabulary(mixture_or_task_name)
      model = mtf_utils.build_model(
          model_type=self._model_type,
          input_vocab_size=mtf_utils.inputs_vocabulary(vocabulary).vocab_size,
          output_vocab_size=mtf_utils.targets_vocabulary(vocabulary).vocab_size,
          layout_rules=self._layout_rules, mesh_shape=self._mesh_shape)
      check_sequence_length(
          self._sequence_length, model=model, model_type=self._model_type,
          batch_size=self.batch_size, mesh_shape=self._mesh_shape,
          layout_rules=self._layout_rules)
      dataset_fn = functools.partial(
          mesh_transformer.mesh_train_dataset_fn,
          mixture_or_task_name=mixture_or_task_name)
      train_model(
          self.estimator(vocabulary, init_checkpoint), vocabulary,
          self._sequence_length, self.batch_size, dataset_fn, steps,
          self._ensemble_inputs, dataset_split=split, seed=self._seed,
          check_lengths=False, cpu_devices=self._cpu_devices,
          init_checkpoint=init_checkpoint or "")

  return GuardedMtfModel
