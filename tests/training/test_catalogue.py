"""The catalogue of bad input (docs/reliability.md): each case runs the real
command line on a copy of a trained model_dir and must exit non-zero with a
message that names the problem and the fix, leaving the earlier checkpoint,
its values and operative_config.gin as they were. The units of
conv_t5.training are tested beside this file."""

import os
import types

import numpy as np
import pytest

import cli_helpers as h

BASE_STEPS = 2
# Grappler off: faster session start-up, no effect on what is checked here.
FAST = ["conv_t5.train_model.disable_meta_optimizer = True"]


# ---------------------------------------------------------------- catalogue

# GuardedMtfModel (t5's MtfModel API): trains, then refuses its checkpoint for
# a model with fewer layers. Runs in the batch runner's process.
GUARDED_MTF_MODEL = """
from conv_t5 import config
from conv_t5.training import model as guarded
import conv_t5.tasks

def train(num_layers, steps):
  config.parse(["models/transformer.tiny.gin", "cpu.gin"], [
      "conv_t5.local_text_files.patterns = {{'train': '{corpus}', 'validation': '{corpus}'}}",
      "conv_t5.vocabulary_model.path = 'seqio_test'",
      "learning_rate_schedule_noam.total_train_steps = 100",
      "num_layers = %d" % num_layers])
  model = guarded.GuardedMtfModel(
      "{model_dir}", tpu=None, mesh_shape="", batch_size=8,
      sequence_length={{"inputs": 64, "targets": 16}}, save_checkpoints_steps=2,
      seed=1)
  model.train("local_text_span_corruption", steps)

train(2, 2)
train(1, 4)
"""

# For the TFDS case: TFDS's network accesses (its bucket lookup, a download:
# minutes of retries offline) fail at once with an error nothing catches, so
# the case fails fast because none of them runs, not because the machine is.
NO_TFDS_NETWORK = """
from tensorflow_datasets.core import dataset_builder
from tensorflow_datasets.core.utils import gcs_utils

def bucket(path):
  raise RuntimeError("TFDS looked up %s in its bucket" % path)

def download(self, *args, **kwargs):
  raise RuntimeError("TFDS started to download %s" % self.name)

gcs_utils.exists = bucket
dataset_builder.DatasetBuilder.download_and_prepare = download
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
      dict(case("tfds_not_prepared", params=["MIXTURE_NAME = 'glue_sst2'"]),
           setup=NO_TFDS_NETWORK),
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
  assert m.strip() == (
      "conv_t5_mesh_transformer: error: LightweightConvolution.kernel_width "
      "= 0: kernel widths must be integers >= 1."), m


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
  # (No network access: NO_TFDS_NETWORK would have raised, and _failed
  # checks that nothing did.)


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
