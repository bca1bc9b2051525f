"""The eval stage's evaluation: what t5's MtfModel.eval computes and writes,
with one decoding graph per sequence length instead of one per checkpoint.

    evaluator = stage_eval.StageEvaluator(model)    # a t5 MtfModel
    evaluator.eval(task, checkpoint_steps=[150, 300], split="validation")
    evaluator.eval(task, checkpoint_steps=[300], split="test")
    evaluator.close()

`eval` takes MtfModel.eval's arguments (greedy decoding, the sequence lengths
computed from the split's examples, the model's batch size) and writes what
t5.models.utils.run_eval writes to <model_dir>/<split>_eval: <task>_targets,
<task>_inputs, <task>_<step>_outputs, <task>_<step>_predictions and an events
file with eval/<task>/<metric> at every step (what experiments.results
reads). The same t5, seqio and mesh-tensorflow code computes each part: the
tasks and datasets (seqio's get_valid_eval_tasks, t5's mesh_eval_dataset_fn),
the targets (get_targets_and_examples' loop, with the task's postprocess_fn),
the decoding input (MtfModel._predict_or_score_fn's input_fn), the decoding
(the TPUEstimator's own input and model functions, then mtf's decode), the
predictions, files, metrics and summaries (run_eval's loop: postprocess_fn,
metric_fns, write_lines_to_file). tests/experiments/test_stage_eval.py checks
that every prediction, file and metric equals MtfModel.eval's.

Why t5's own eval is not called: its cost is not decoding. Every
Estimator.predict call (one per checkpoint and split: 3 or 4 in a demo eval
stage) builds the whole PREDICT graph again (model_fn, mtf Lowering) and
creates and restores a new session, and run_eval reads each task's dataset
again and again (the whole seqio pipeline, under the worker's TF1 graph
mode a new graph and session per pass) to compute the targets, to write the
inputs and, at every checkpoint, to pair predictions with examples. py-spy
on one demo worker (the Transformer fine-tuned 300 steps from the release on
demo_finetune; eval on validation at 2 checkpoints, then on test at the
chosen ones; a loaded machine): eval stage 74 s against 79 s of training;
of its sampled time 40% building the graph, 15% creating and restoring
sessions, 10% input_fn, 24% target handling, 8% in session.run (py-spy
leaves out time spent waiting on TF's threads, so decoding is more than
that in wall time).

Here the graph is built once per distinct sequence length (validation and
test share it when their longest examples match), each checkpoint is
restored into its one session (the Estimator's saver, local_init_op,
ready_op and MtfRestoreHook, as a MonitoredSession runs them), and each
split's datasets are read twice in all, in eager mode: the examples, and
the padded decoding batches, fed to the graph at every checkpoint.

Measured on a 2-vCPU Intel Xeon shared with `make demo-pretrain` (load
average 6-8), runs back to back, t5's eval then this one, every eval file
identical. The grid above (`python -m conv_t5.demo --jobs 1 --gin_param
"GridSpec.archs = ['transformer']"`, tasks demo_finetune, pretrained_from a
release, finetune_gin demo/finetune_release.gin, one seed): its eval stage
65.9 s then 24.7 s, and 39.2 s then 21.6 s (its training stage 82.5 s and
62.1 s, then 61.7 s and 55.4 s). `python -m conv_t5.demo --quick --jobs 1`
(8 eval stages, a pair task in the mixture, evals followed by training in
the same worker; all 32 records identical): 271 s then 114 s of eval, 8:55
then 5:49 in all. Of what is left (py-spy --idle), about half is decoding,
a third reading the datasets, a sixth building the graphs.
"""

import os

from absl import logging
from mesh_tensorflow.transformer import dataset as transformer_dataset
from mesh_tensorflow.transformer import utils as mtf_utils
import seqio
import t5.data
from t5.models import mesh_transformer
from t5.models import mtf_model
from t5.models import utils as t5_utils
import tensorflow.compat.v1 as tf
import tensorflow_datasets as tfds
from tensorflow.python.eager import context  # pylint: disable=g-direct-tensorflow-import

PREDICT = tf.estimator.ModeKeys.PREDICT


def _task_dataset(task, sequence_length, split):
  """MtfModel.eval's _get_task_eval_dataset (and its input_fn's per task)."""
  return mesh_transformer.mesh_eval_dataset_fn(
      mixture_or_task_name=task.name, sequence_length=sequence_length,
      dataset_split=split)[0].dataset_fn()


def _as_numpy(make_dataset):
  """The elements of make_dataset(), as tfds.as_numpy gives them, read in
  eager mode (the worker runs TF1 graph mode, where every pass over a
  dataset builds a graph and a session and runs one step per element;
  the values are the same, the pass a few times faster)."""
  with context.eager_mode():
    return list(tfds.as_numpy(make_dataset()))


def read_split(tasks, split):
  """Each task's examples, read once, and what run_eval derives from them.

  The loop of t5.models.utils.get_targets_and_examples (sequence_dims={}),
  keeping the examples, which run_eval reads again for the inputs file and at
  every checkpoint.

  Returns:
    ({task: [example]}, {task: [postprocessed target]}, {feature: max length})
  """
  max_sequence_length = {k: 0 for k in tasks[0].output_features.keys()}
  for task in tasks:
    assert max_sequence_length.keys() == task.output_features.keys(), (
        "all tasks must have the same features")
  examples, targets = {}, {}
  for task in tasks:
    examples[task.name] = _as_numpy(lambda t=task: _task_dataset(t, None,
                                                                 split))
    targets[task.name] = []
    for ex in examples[task.name]:
      for k in max_sequence_length:
        max_sequence_length[k] = max(max_sequence_length[k], ex[k].shape[0])
      if "targets_pretokenized" in ex:
        target = ex["targets_pretokenized"]
      else:
        target = task.output_features["targets"].vocabulary.decode(
            list(ex["targets"]))
      if isinstance(target, bytes):
        target = target.decode("utf-8")
      targets[task.name].append(
          task.postprocess_fn(target, example=ex, is_target=True))
  return examples, targets, max_sequence_length


def write_targets_and_inputs(summary_dir, examples, targets):
  """t5.models.utils.write_targets_and_examples, from the examples read."""
  for name, task_targets in targets.items():
    t5_utils.write_lines_to_file(
        task_targets, os.path.join(summary_dir, f"{name}_targets"))
    inputs = [ex["inputs_pretokenized"] if "inputs_pretokenized" in ex
              else ex["inputs"] for ex in examples[name]]
    t5_utils.write_lines_to_file(
        inputs, os.path.join(summary_dir, f"{name}_inputs"))


def decoding_batches(tasks, split, sequence_length, batch_size):
  """The batches Estimator.predict decodes, as numpy: the input_fn of
  MtfModel._predict_or_score_fn (all tasks concatenated, batched, the last
  batch padded to batch_size), run once."""
  def input_fn():
    combined = None
    for task in tasks:
      ds = _task_dataset(task, sequence_length, split).map(
          t5_utils.filter_features,
          num_parallel_calls=tf.data.experimental.AUTOTUNE)
      combined = ds if combined is None else combined.concatenate(ds)
    combined = combined.batch(batch_size, drop_remainder=False)
    return transformer_dataset.trim_and_pad_dataset(combined,
                                                    length=batch_size)
  return _as_numpy(input_fn)


class Decoder:
  """The PREDICT graph of an estimator (MtfModel.estimator's TPUEstimator),
  built once as Estimator.predict builds it, its features fed; `predict`
  restores a checkpoint into the one session and yields what
  Estimator.predict yields, so mtf_utils.decode can take it as the estimator.

  Args:
    estimator: the TPUEstimator (on CPU) of the sequence length decoded.
    batch: one decoding batch ({feature: array}), for the features' shapes.
  """

  def __init__(self, estimator, batch):
    self._graph = tf.Graph()
    with self._graph.as_default():
      # Estimator.predict, up to its MonitoredSession.
      tf.set_random_seed(estimator.config.tf_random_seed)
      estimator._create_and_assert_global_step(self._graph)  # pylint: disable=protected-access
      self._features = {k: tf.placeholder(v.dtype, v.shape, name=k)
                        for k, v in sorted(batch.items())}

      def input_fn(params):
        del params
        return dict(self._features)
      features = estimator._call_input_fn(input_fn, PREDICT)  # pylint: disable=protected-access
      spec = estimator._call_model_fn(features, None, PREDICT,  # pylint: disable=protected-access
                                      estimator.config)
      self._predictions = estimator._extract_keys(spec.predictions, None)  # pylint: disable=protected-access
      # MonitoredSession: the hooks' begin, then the scaffold (and graph)
      # finalized; ChiefSessionCreator's session manager.
      self._hooks = list(spec.prediction_hooks or [])
      for hook in self._hooks:
        hook.begin()
      scaffold = spec.scaffold
      scaffold.finalize()
      self._saver = scaffold.saver
      self._manager = tf.train.SessionManager(
          local_init_op=scaffold.local_init_op,
          local_init_feed_dict=scaffold.local_init_feed_dict,
          ready_op=scaffold.ready_op,
          ready_for_local_init_op=scaffold.ready_for_local_init_op,
          graph=self._graph)
    self._session = tf.Session(estimator.config.master, graph=self._graph,
                               config=estimator._session_config)  # pylint: disable=protected-access

  def restore(self, checkpoint_path):
    """SessionManager.prepare_session and the hooks' after_create_session,
    on the one session."""
    self._saver.restore(self._session, checkpoint_path)
    ok, msg = self._manager._try_run_local_init_op(self._session)  # pylint: disable=protected-access
    if ok:
      ok, msg = self._manager._model_ready(self._session)  # pylint: disable=protected-access
    if not ok:
      raise RuntimeError(f"{checkpoint_path}: model not ready: {msg}")
    for hook in self._hooks:
      hook.after_create_session(self._session, None)

  def predict(self, batches, checkpoint_path):
    """Yields one {key: value} per example of `batches` (padding included),
    decoded at checkpoint_path. Named as Estimator.predict, whose input_fn
    the batches replace, for mtf_utils.decode."""
    self.restore(checkpoint_path)
    for batch in batches:
      values = self._session.run(
          self._predictions,
          feed_dict={self._features[k]: v for k, v in batch.items()})
      for i in range(len(next(iter(values.values())))):
        yield {k: v[i] for k, v in values.items()}

  def close(self):
    self._session.close()


class StageEvaluator:
  """MtfModel.eval for a model, its decoding graphs kept between calls.

  Args:
    model: a t5 MtfModel (its model dir, batch size and estimator()).
  """

  def __init__(self, model):
    self._model = model
    self._decoders = {}
    self.graphs_built = 0

  def _decoder(self, vocabulary, sequence_length, batch):
    key = tuple(sorted(sequence_length.items())) + tuple(
        (k, v.dtype.str, v.shape) for k, v in sorted(batch.items()))
    if key not in self._decoders:
      estimator = self._model.estimator(
          vocabulary, score_in_predict_mode=False,
          sequence_length=sequence_length)
      self._decoders[key] = Decoder(estimator, batch)
      self.graphs_built += 1
    return self._decoders[key]

  def eval(self, mixture_or_task_name, checkpoint_steps=None,
           split="validation"):
    """MtfModel.eval(mixture_or_task_name, checkpoint_steps, split=split),
    with its defaults otherwise (summaries in <model_dir>/<split>_eval,
    decoded predictions, computed sequence lengths)."""
    model_dir = self._model._model_dir  # pylint: disable=protected-access
    batch_size = self._model.batch_size
    mtf_model._parse_operative_config(model_dir)  # pylint: disable=protected-access
    summary_dir = os.path.join(model_dir, f"{split}_eval")
    steps = t5_utils.get_checkpoints_iterator(checkpoint_steps, model_dir)
    # run_eval from here.
    vocabulary = t5_utils.get_vocabulary(mixture_or_task_name)
    tasks = seqio.evaluation.get_valid_eval_tasks(
        t5.data.get_subtasks(t5.data.get_mixture_or_task(mixture_or_task_name)),
        split)
    if not tasks:
      logging.info("All provided tasks have metric_fns=[] or no matching "
                   "splits; eval is not possible.")
      return
    examples, targets, sequence_length = read_split(tasks, split)
    write_targets_and_inputs(summary_dir, examples, targets)
    logging.info("Setting sequence lengths to %s", sequence_length)
    batches = decoding_batches(tasks, split, sequence_length, batch_size)
    if batches:
      decoder = self._decoder(vocabulary, sequence_length, batches[0])
    summary_writer = None
    for step in steps:
      logging.info("Evaluating checkpoint step: %d", step)
      checkpoint_path = os.path.join(model_dir, f"model.ckpt-{step}")
      outputs = []
      if batches:  # mtf's decode, with the Decoder for the estimator
        outputs = [tf.compat.as_text(d) for d in mtf_utils.decode(
            decoder, batches, vocabulary, checkpoint_path)]
      for task in tasks:
        summary_writer = _write_step(
            summary_dir, summary_writer, task, step, outputs,
            examples[task.name], targets[task.name])
      # Only padding should remain.
      expected_pad = -sum(len(t) for t in targets.values()) % batch_size
      if outputs and len(outputs) != expected_pad:
        raise ValueError(f"{len(outputs)} padded outputs, {expected_pad} "
                         "expected.")
    if summary_writer:
      summary_writer.close()

  def close(self):
    for decoder in self._decoders.values():
      decoder.close()
    self._decoders.clear()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _write_step(summary_dir, summary_writer, task, step, outputs, examples,
                targets):
  """One task at one step, as run_eval's loop: consumes the task's outputs
  (from the front of `outputs`), writes its outputs, predictions and metric
  summaries; returns the summary writer (created on first use)."""
  dataset_size = len(targets)
  predictions = [task.postprocess_fn(d, example=ex)
                 for d, ex in zip(outputs[:dataset_size], examples)]
  t5_utils.write_lines_to_file(outputs[:dataset_size], os.path.join(
      summary_dir, f"{task.name}_{step}_outputs"))
  t5_utils.write_lines_to_file(predictions, os.path.join(
      summary_dir, f"{task.name}_{step}_predictions"))
  del outputs[:dataset_size]
  with tf.Graph().as_default():
    summary_writer = summary_writer or tf.summary.FileWriter(summary_dir)
    for metric_fn in task.metric_fns:
      summary = tf.Summary()
      metric_result = metric_fn(targets, predictions)
      for metric_name, metric_value in metric_result.items():
        tag = f"eval/{task.name}/{metric_name}"
        logging.info("%s at step %d: %.3f", tag, step, metric_value)
        summary.value.add(tag=tag, simple_value=metric_value)
        summary_writer.add_summary(summary, step)
    summary_writer.flush()
  return summary_writer
