"""The catalogue of bad input (README, "Reliability and scale"): each case runs
the real command line on a copy of a trained model_dir and must exit non-zero
with a message that names the problem and the fix, leaving the earlier
checkpoint, its values and operative_config.gin as they were. Plus unit tests
of conv_t5.guards."""

import os
import types

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import cli_helpers as h
from conv_t5 import errors
from conv_t5 import guards

BASE_STEPS = 2
# Grappler off: faster session start-up, no effect on what is checked here.
FAST = ["conv_t5.train_model.disable_meta_optimizer = True"]


# ---------------------------------------------------------------- catalogue

# GuardedMtfModel (t5's MtfModel API): trains, then refuses its checkpoint for
# a model with fewer layers. Runs in the batch runner's process.
GUARDED_MTF_MODEL = """
from conv_t5 import config, guards
import conv_t5.tasks

def train(num_layers, steps):
  config.parse(["models/transformer.tiny.gin", "cpu.gin"], [
      "conv_t5.local_text_files.patterns = {{'train': '{corpus}', 'validation': '{corpus}'}}",
      "conv_t5.vocabulary_model.path = 'seqio_test'",
      "learning_rate_schedule_noam.total_train_steps = 100",
      "num_layers = %d" % num_layers])
  model = guards.GuardedMtfModel(
      "{model_dir}", tpu=None, mesh_shape="", batch_size=8,
      sequence_length={{"inputs": 64, "targets": 16}}, save_checkpoints_steps=2,
      seed=1)
  model.train("local_text_span_corruption", steps)

train(2, 2)
train(1, 4)
"""


def _cases(work, corpus, bad_corpus, base):
  def case(name, steps=BASE_STEPS + 2, **kw):
    model_dir = os.path.join(work, name)
    kw["params"] = kw.get("params", []) + FAST
    return dict(name=name, copy=[base, model_dir],
                log=os.path.join(work, name + ".log"),
                argv=h.train_argv(model_dir, kw.pop("corpus", corpus),
                                  steps=steps, **kw))
  return [
      dict(name="base", log=os.path.join(work, "base.log"),
           argv=h.train_argv(base, corpus, steps=BASE_STEPS,
                             save_every=BASE_STEPS)),
      case("unknown_model_config", model="models/conv_lightweigth.tiny.gin"),
      case("unknown_task",
           params=["MIXTURE_NAME = 'demo_span_corruptoin'"]),
      dict(case("module_that_does_not_import"),
           argv=["--module_import=conv_t5.taskz",
                 f"--model_dir={work}/module_that_does_not_import"]),
      case("bad_layer_hyperparameter", model="models/conv_lightweight.tiny.gin",
           params=["conv_t5.LightweightConvolution.kernel_width = 0"]),
      case("length_over_position_embedding",
           params=["transformer.Unitransformer.positional_embedding = True",
                   "transformer.Unitransformer.max_length = 32"]),
      case("batch_not_divisible_by_mesh",
           params=["utils.run.mesh_shape = 'batch:2'",
                   "utils.run.batch_size = ('sequences_per_batch', 7)"]),
      case("malformed_local_file", corpus=bad_corpus),
      case("tfds_not_prepared", params=["MIXTURE_NAME = 'glue_sst2'"]),
      case("checkpoint_of_other_model", model="models/conv_lightweight.tiny.gin"),
      case("checkpoint_with_more_layers", params=["num_layers = 1"]),
      # The control: without the guard, that checkpoint restores in part.
      case("more_layers_unguarded",
           params=["num_layers = 1",
                   "conv_t5.train_model.check_architecture = False"]),
      case("nan_loss", steps=BASE_STEPS + 3, save_every=100,
           params=["utils.run.learning_rate_schedule = 1e30"]),
      dict(name="guarded_mtf_model", log=os.path.join(work, "mtf_model.log"),
           python=GUARDED_MTF_MODEL.format(
               corpus=corpus, model_dir=os.path.join(work, "mtf_model"))),
  ]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
  work = str(tmp_path_factory.mktemp("catalogue"))
  corpus = h.write_corpus(os.path.join(work, "corpus.txt"))
  bad_corpus = os.path.join(work, "bad.txt")
  with open(bad_corpus, "wb") as f:
    f.write(b"a first line of good text\nanother good line of text\n"
            b"third line \xff\xfe is not utf-8\nfourth line\n")
  base = os.path.join(work, "base")
  cases = _cases(work, corpus, bad_corpus, base)
  tfds_case = next(c for c in cases if c["name"] == "tfds_not_prepared")
  empty_tfds = os.path.join(work, "empty_tfds")
  os.makedirs(empty_tfds)
  tfds_case["argv"].append(f"--t5_tfds_data_dir={empty_tfds}")
  # Train the base run first, in its own batch, to snapshot it before the
  # cases copy it.
  results = h.run_batch(cases[:1], work)
  assert results["base"]["status"] == 0, open(cases[0]["log"]).read()[-3000:]
  before = h.snapshot(base)
  assert before["latest"].endswith(f"model.ckpt-{BASE_STEPS}")
  results.update(h.run_batch(cases[1:], work))
  return types.SimpleNamespace(work=work, base=base, before=before,
                               results=results, bad_corpus=bad_corpus,
                               empty_tfds=empty_tfds)


def _failed(cat, name, status=2):
  result = cat.results[name]
  log = open(os.path.join(cat.work, name + ".log")).read()
  assert result["exception"] is None, result["exception"]
  assert result["status"] == status, (result, log[-3000:])
  h.assert_intact(cat.before, os.path.join(cat.work, name))
  head = "conv_t5_mesh_transformer: error: "
  assert head in result["message"], result["message"]
  message = result["message"][result["message"].index(head):]
  assert "Traceback" not in result["message"]
  return message


@pytest.mark.slow
def test_unknown_model_config(catalogue):
  m = _failed(catalogue, "unknown_model_config")
  assert "Unknown gin file 'models/conv_lightweigth.tiny.gin'" in m
  assert "Did you mean: models/conv_lightweight.tiny.gin" in m
  assert "models/conv_dynamic.tiny.gin" in m  # lists what exists


@pytest.mark.slow
def test_unknown_task_or_mixture(catalogue):
  m = _failed(catalogue, "unknown_task")
  assert "Unknown task or mixture 'demo_span_corruptoin'" in m
  assert "Closest names: demo_span_corruption" in m
  assert "--module_import=conv_t5.tasks" in m


@pytest.mark.slow
def test_module_import_that_fails(catalogue):
  m = _failed(catalogue, "module_that_does_not_import")
  assert "--module_import=conv_t5.taskz: cannot import it" in m
  assert "--module_import=conv_t5.tasks" in m


@pytest.mark.slow
def test_bad_layer_hyperparameter(catalogue):
  m = _failed(catalogue, "bad_layer_hyperparameter")
  assert "kernel_width" in m and "0" in m and ">= 1" in m


@pytest.mark.slow
def test_sequence_length_over_the_position_embedding(catalogue):
  m = _failed(catalogue, "length_over_position_embedding")
  assert "sequence_length['inputs'] = 64" in m and "max_length = 32" in m
  assert "Use a length <= 32" in m


@pytest.mark.slow
def test_batch_size_not_divisible_by_the_mesh(catalogue):
  m = _failed(catalogue, "batch_not_divisible_by_mesh")
  assert "batch size (sequences) = 7 is not divisible" in m
  assert "batch:2" in m and "multiple of 2" in m


@pytest.mark.slow
def test_malformed_local_data_file(catalogue):
  m = _failed(catalogue, "malformed_local_file")
  assert f"{catalogue.bad_corpus}:3: malformed line" in m
  assert "fix or remove it" in m


@pytest.mark.slow
def test_tfds_dataset_not_prepared_offline(catalogue):
  m = _failed(catalogue, "tfds_not_prepared")
  assert "'glue/sst2" in m and "is not prepared in" in m
  assert catalogue.empty_tfds in m and "tfds build glue/sst2" in m
  assert catalogue.results["tfds_not_prepared"]["seconds"] < 60  # no retries


@pytest.mark.slow
def test_checkpoint_of_another_architecture_is_refused(catalogue):
  m = _failed(catalogue, "checkpoint_of_other_model")
  assert "holds a checkpoint (model.ckpt-2) of a different architecture" in m
  assert "LightweightConvolution" in m and "not in the checkpoint" in m
  assert "use a new --model_dir" in m and "operative_config.gin" in m


@pytest.mark.slow
def test_checkpoint_with_more_layers_is_refused_not_partly_restored(catalogue):
  m = _failed(catalogue, "checkpoint_with_more_layers")
  assert "checkpoint weights are not in the model" in m
  assert "block_001" in m
  # Control: the same run without the guard restores that checkpoint in part
  # and trains on, silently -- what the guard exists to prevent.
  control = catalogue.results["more_layers_unguarded"]
  log = open(os.path.join(catalogue.work, "more_layers_unguarded.log")).read()
  assert control["status"] == 0, log[-3000:]
  assert f"Restoring parameters from {catalogue.work}" in log
  assert len(h.losses(log)) == 2  # steps 3 and 4


@pytest.mark.slow
def test_nan_loss_stops_and_names_the_step(catalogue):
  m = _failed(catalogue, "nan_loss", status=1)
  log = open(os.path.join(catalogue.work, "nan_loss.log")).read()
  losses = h.losses(log)  # the steps after the checkpoint at BASE_STEPS
  assert not np.isfinite(losses[-1]) and np.all(np.isfinite(losses[:-1])), losses
  assert f"the loss became nan at step {BASE_STEPS + len(losses)}" in m
  assert f"latest good checkpoint is {catalogue.work}/nan_loss/model.ckpt-2" in m
  assert "Lower the learning rate" in m


@pytest.mark.slow
def test_guarded_mtf_model_trains_then_refuses_another_architecture(catalogue):
  result = catalogue.results["guarded_mtf_model"]
  log = open(os.path.join(catalogue.work, "mtf_model.log")).read()
  assert result["exception"] is not None, log[-3000:]
  assert result["message"].startswith("CheckpointMismatchError: "), result
  assert "checkpoint weights are not in the model" in result["message"]
  assert len(h.losses(log)) == 2  # the first train() ran its 2 steps
  assert h.latest_step(os.path.join(catalogue.work, "mtf_model")) == 2


# ---------------------------------------------------------------- units


def _model(max_length=None):
  def stack(n):
    return types.SimpleNamespace(
        positional_embedding=n is not None, sinusoid_positional_embedding=False,
        max_length_dim=types.SimpleNamespace(size=n))
  return types.SimpleNamespace(encoder=stack(max_length), decoder=stack(max_length))


def test_sequence_length_accepts_what_fits():
  lengths = {"inputs": 64, "targets": 16}
  assert guards.check_sequence_length(lengths, model=_model(64)) == lengths
  assert guards.check_sequence_length(32) == {"inputs": 32, "targets": 32}
  assert guards.check_sequence_length(
      lengths, model=_model(), batch_size=8, mesh_shape="batch:2,model:2",
      layout_rules="batch:batch,heads:model") == lengths


@pytest.mark.parametrize("lengths,kwargs,expected", [
    ({"inputs": 64}, {}, "no 'targets' length"),
    ({"targets": 0, "inputs": 8}, {}, "positive integer"),
    ({"targets": 8.5, "inputs": 8}, {}, "positive integer"),
    ({"inputs": 65, "targets": 8}, {"model": _model(64)}, "max_length = 64"),
    ({"inputs": 8, "targets": 8}, {"batch_size": 6,
                                   "mesh_shape": "batch:4",
                                   "layout_rules": "batch:batch"},
     "batch size (sequences) = 6 is not divisible by the mesh dimension batch:4"),
    ({"inputs": 10, "targets": 8}, {"mesh_shape": "model:4",
                                    "layout_rules": "length:model"},
     "sequence_length['inputs'] = 10 is not divisible"),
])
def test_sequence_length_refuses_what_does_not(lengths, kwargs, expected):
  with pytest.raises(errors.SequenceLengthError) as e:
    guards.check_sequence_length(lengths, **kwargs)
  assert expected in str(e.value)
  assert isinstance(e.value, errors.ConfigError)


def test_lm_needs_only_targets():
  assert guards.check_sequence_length({"targets": 8}, model_type="lm")


def test_compare_variables():
  model = {"a": [2, 3], "b": [4], "b_slot_v": [4]}
  ckpt = {"a": [2, 3], "b": [5], "c": [1], "c_slot_vr": [1], "global_step": []}
  missing, unexpected, reshaped = guards.compare_variables(model, ckpt)
  assert missing == ["b_slot_v"]
  assert unexpected == ["c", "global_step"]  # slots of removed weights: not listed
  assert reshaped == [("b", [4], [5])]
  assert guards.compare_variables(model, dict(model)) == ([], [], [])


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
  assert guards.check_checkpoint_compatible(model_dir, {"w": [2]}) is None
  path = _save_checkpoint(model_dir, {"w": [2, 2], "extra": [3]})
  with pytest.raises(errors.CheckpointMismatchError) as e:
    guards.check_checkpoint_compatible(model_dir, {"w": [2, 2]})
  assert "1 checkpoint weights are not in the model: extra" in str(e.value)
  with pytest.raises(errors.CheckpointMismatchError, match=r"w \[2, 3\] vs \[2, 2\]"):
    guards.check_checkpoint_compatible(model_dir, {"w": [2, 3], "extra": [3]})
  assert guards.check_checkpoint_compatible(
      model_dir, {"w": [2, 2], "extra": [3]}) == path


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
    _train(str(tmp_path), [guards.NonFiniteLossGuard(str(tmp_path))], [],
           steps=5, nan_from_step=3)
  _train(str(tmp_path / "ok"), [guards.NonFiniteLossGuard()], [], steps=3,
         nan_from_step=100)


def test_non_finite_weights_are_never_saved(tmp_path):
  model_dir = str(tmp_path)
  with pytest.raises(errors.NonFiniteLossError, match="at step 4: the weights"):
    _train(model_dir, [], [guards.FiniteCheckpointGuard()], steps=6,
           nan_from_step=3)
  assert tf.train.latest_checkpoint(model_dir).endswith("model.ckpt-2")


def test_operative_config_is_put_back_only_if_nothing_was_saved(tmp_path):
  model_dir = str(tmp_path)
  config = os.path.join(model_dir, guards.OPERATIVE_CONFIG)
  with open(config, "w") as f:
    f.write("old = 1\n")
  with pytest.raises(RuntimeError):
    with guards.keep_operative_config_on_failure(model_dir):
      with open(config, "w") as f:
        f.write("new = 2\n")
      raise RuntimeError("failed before saving")
  assert open(config).read() == "old = 1\n"
  with pytest.raises(RuntimeError):
    with guards.keep_operative_config_on_failure(model_dir):
      with open(config, "w") as f:
        f.write("new = 2\n")
      _save_checkpoint(model_dir, {"w": [1]}, step=7)
      raise RuntimeError("failed after saving")
  assert open(config).read() == "new = 2\n"


def test_determinism_environment_check():
  assert guards.nondeterministic_env(
      {"PYTHONHASHSEED": "0", "TF_ENABLE_ONEDNN_OPTS": "0"}) == []
  assert guards.nondeterministic_env({"PYTHONHASHSEED": "0"}) == [
      "TF_ENABLE_ONEDNN_OPTS=0"]
