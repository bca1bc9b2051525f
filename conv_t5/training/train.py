"""conv_t5.train_model: mesh-tensorflow's utils.train_model with the guards.

  train_model             drop-in for mesh-tensorflow's utils.train_model (the
                          `utils.run.train_model_fn` gin parameter) that
                          applies the guards of this package, plus `seed`:
                            lengths.check_sequence_length   before training
                            checkpoints.ArchitectureGuard   before restoring
                            finite.NonFiniteLossGuard       every step
                            finite.FiniteCheckpointGuard    every save
                            checkpoints.keep_operative_config_on_failure
  training_hooks, saving_listeners
                          the hooks and listeners, for other drivers

How they are applied. The `conv_t5_mesh_transformer` CLI puts gin/guards.gin
first among the gin files, which binds `utils.run.train_model_fn =
@conv_t5.train_model` (mesh-tensorflow's own train_model is not gin-registered,
so turn single guards off instead: conv_t5.train_model.check_architecture =
False, ...). Python users of MtfModel use conv_t5.training.model's
GuardedMtfModel; other drivers call the pieces. t5's own `--use_model_api`
path builds an MtfModel internally and is not guarded.
"""

import gin
import tensorflow.compat.v1 as tf

from conv_t5.training import checkpoints
from conv_t5.training import determinism
from conv_t5.training import finite
from conv_t5.training import lengths


def training_hooks(model_dir, check_architecture=True, check_finite=True,
                   init_checkpoint=None):
  """The SessionRunHooks to pass to Estimator.train(hooks=...)."""
  hooks = []
  if check_architecture:
    hooks.append(checkpoints.ArchitectureGuard(model_dir, init_checkpoint))
  if check_finite:
    hooks.append(finite.NonFiniteLossGuard(model_dir))
  return hooks


def saving_listeners(check_finite=True):
  """The CheckpointSaverListeners to pass to Estimator.train."""
  return [finite.FiniteCheckpointGuard()] if check_finite else []


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
                       disable_meta_optimizer=False, summary_steps=None):
  """Sets the graph seed, summary interval and session options of an Estimator.

  mesh-tensorflow's get_estimator exposes none of them, so this sets the two
  Estimator fields that hold them (tf_estimator 2.15: `_config`, read when the
  training graph is built, and `_session_config`, read when the session is).
  """
  if seed is not None:
    estimator._config = estimator._config.replace(tf_random_seed=seed)  # pylint: disable=protected-access
  if summary_steps:
    estimator._config = estimator._config.replace(  # pylint: disable=protected-access
        save_summary_steps=summary_steps)
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


@gin.configurable(module="conv_t5")
def train_model(estimator, vocabulary, sequence_length, batch_size,
                train_dataset_fn, train_steps, ensemble_inputs,
                dataset_split="train", skip_seen_data=False,
                seen_data_init_step=0, checkpoint_input_pipeline=False,
                seed=None, check_architecture=True, check_finite=True,
                check_lengths=True, cpu_devices=None, inter_op_threads=None,
                disable_meta_optimizer=False, check_init_checkpoint=True,
                init_checkpoint=None, summary_steps=None):
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
      started with determinism.DETERMINISM_ENV, CPU runs give identical losses.
      None: T5's behaviour (unseeded).
    check_architecture, check_finite, check_lengths: turn a guard off.
    cpu_devices: int or None: run the session with this many CPU devices, so
      mesh_devices such as ["cpu:0", ..., "cpu:3"] are real devices (testing
      model-parallel layouts on one host).
    inter_op_threads: the session's inter-op thread pool size; default 1 when
      a seed is given (see determinism.seed_everything), else TF's default.
    disable_meta_optimizer: skip Grappler's graph rewrites at session start
      (mesh-tensorflow does so on TPU); faster start-up for short CPU runs.
    check_init_checkpoint: refuse an init checkpoint that lacks model weights
      (checkpoints.check_init_checkpoint); off when mesh-tensorflow's own
      filters (tpu_estimator_model_fn.init_variable_filter,
      should_load_variable, init_checkpoint_variable_mapping) select what it
      restores.
    init_checkpoint: the checkpoint the estimator initializes from; default
      the gin value of utils.run.init_checkpoint.
    summary_steps: write the TensorBoard summaries (loss, learning rate)
      every this many steps instead of the Estimator's 100 (the notebook
      plots a loss curve from them); None keeps 100.
  """
  from mesh_tensorflow.transformer import utils as mtf_utils  # pylint: disable=g-import-not-at-top
  model_dir = estimator.model_dir
  if check_lengths:
    lengths.check_sequence_length(
        sequence_length, **_model_for_checks(vocabulary, batch_size))
  if seed is not None and inter_op_threads is None:
    inter_op_threads = 1
  _apply_run_options(estimator, seed, cpu_devices, inter_op_threads,
                     disable_meta_optimizer, summary_steps)
  if seed is not None:
    determinism.seed_everything(seed)
    train_dataset_fn = _with_data_seed(train_dataset_fn, seed)
  if init_checkpoint is None:
    init_checkpoint = _query("utils.run.init_checkpoint", None)
  if not check_init_checkpoint or _custom_init_selection():
    init_checkpoint = None
  guarded = _GuardedEstimator(
      estimator, training_hooks(model_dir, check_architecture, check_finite,
                                init_checkpoint),
      saving_listeners(check_finite))
  with checkpoints.keep_operative_config_on_failure(model_dir):
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

