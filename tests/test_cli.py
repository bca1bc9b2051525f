"""The `conv_t5_mesh_transformer` console script: trains a tiny model on CPU on
a local task (seqio's test vocabulary, nothing downloaded), writes a
checkpoint, a second invocation evaluates that checkpoint the way a T5 user
does (operative_config.gin + perplexity_eval.gin); unknown gin files and task
names exit non-zero naming what exists."""

import glob
import os
import types

import pytest

import cli_helpers as h
from conv_t5 import cli

TRAIN_STEPS = 4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  work = tmp_path_factory.mktemp("cli")
  corpus = h.write_corpus(str(work / "corpus.txt"))
  model_dir = str(work / "model")
  argv = h.train_argv(model_dir, corpus, model="models/conv_lightweight.tiny.gin",
                      steps=TRAIN_STEPS, save_every=TRAIN_STEPS)
  status, text = h.run_cli(argv, str(work / "train.log"))
  return types.SimpleNamespace(work=work, corpus=corpus, model_dir=model_dir,
                               status=status, text=text)


@pytest.mark.slow
def test_train_writes_a_checkpoint(trained):
  assert trained.status == 0, trained.text[-3000:]
  assert len(h.losses(trained.text)) == TRAIN_STEPS
  assert h.latest_step(trained.model_dir) == TRAIN_STEPS
  config = open(os.path.join(trained.model_dir, "operative_config.gin")).read()
  assert "run.train_model_fn = @conv_t5.train_model" in config  # guarded
  assert "@conv_t5.LightweightConvolution" in config  # the model gin resolved


@pytest.mark.slow
def test_second_invocation_evaluates_that_checkpoint(trained):
  assert trained.status == 0
  md = trained.model_dir
  status, text = h.run_cli([
      "--module_import=conv_t5.tasks", f"--model_dir={md}",
      f"--gin_file={md}/operative_config.gin", "--gin_file=perplexity_eval.gin",
      "--gin_param=utils.run.dataset_split = 'validation'",
      f"--gin_param=eval_checkpoint_step = {TRAIN_STEPS}",
      "--gin_param=utils.run.perplexity_eval_steps = 2",
  ], str(trained.work / "eval.log"))
  assert status == 0, text[-3000:]
  assert f"Saving dict for global step {TRAIN_STEPS}:" in text
  assert "neg_log_perplexity = -" in text
  events = glob.glob(os.path.join(
      md, "eval_local_text_span_corruption_validation_*",
      "events.out.tfevents.*"))
  assert len(events) == 1, events    # one evaluation, one summary file


def test_unknown_gin_file_names_what_exists(tmp_path):
  status, text = h.run_cli([
      "--module_import=conv_t5.tasks", f"--model_dir={tmp_path}/m",
      "--gin_file=models/conv_dynamik.tiny.gin"], str(tmp_path / "log"))
  assert status == 2, text[-3000:]
  assert "error: Unknown gin file 'models/conv_dynamik.tiny.gin'" in text
  assert "Did you mean: models/conv_dynamic.tiny.gin" in text
  assert "models/transformer.base.gin" in text
  assert "Traceback" not in text


def test_unknown_task_names_what_exists(tmp_path):
  status, text = h.run_cli([
      "--module_import=conv_t5.tasks", f"--model_dir={tmp_path}/m",
      "--use_model_api", "--mode=train", "--mixture_or_task=c4_span_corruptoin"],
      str(tmp_path / "log"))
  assert status == 2, text[-3000:]
  assert "error: Unknown task or mixture 'c4_span_corruptoin'" in text
  assert "Closest names: c4_span_corruption" in text
  assert "demo_span_corruption" in text and "local_text_span_corruption" in text
  assert "Traceback" not in text


def test_error_message_parsers():
  assert cli._missing_gin_file(
      "Unable to open file: models/x.gin. Searched config paths: ['a']."
  ) == "models/x.gin"
  assert cli._missing_task(
      "No Task or Mixture found with name 'foo'. Available: ...") == "foo"
  assert cli._data_assertion(
      "assertion failed: [/d/a.txt:3: malformed line, not valid UTF-8]\n\t "
      "[[{{node x}}]]") == "Bad input data: /d/a.txt:3: malformed line, not valid UTF-8"
  assert cli._data_assertion("assertion failed: [x > 0]") is None


def test_model_api_eval_summary_dir_is_created(tmp_path):
  flags = types.SimpleNamespace(use_model_api=True, mode="eval",
                                model_dir=str(tmp_path), eval_summary_dir="",
                                eval_split="validation")
  cli._prepare_model_api_eval(flags)
  assert os.path.isdir(tmp_path / "validation_eval")
