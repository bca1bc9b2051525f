"""The eval stage's evaluation (conv_t5.experiments.stage_eval) against t5's
MtfModel.eval: the same files, predictions, metrics and eval_done.json."""

import dataclasses
import glob
import json
import os
import subprocess
import sys

import pytest

from conv_t5.experiments import markers
from conv_t5.experiments import results
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib
from conv_t5.experiments import worker

TASK = "demo_finetune"  # a mixture: the decoded outputs are split by task

# Runs in its own process, as a worker does (TF1 behaviour): trains one
# fine-tuning stage, copies its model dir, then evaluates it with t5's eval in
# one copy and with stage_eval in the other.
_TRAIN_THEN_EVAL_TWICE = r"""
import json, shutil, sys
from conv_t5 import files
from conv_t5.experiments import markers, spec as spec_lib, stage_eval, worker
from conv_t5.experiments import stages as stages_lib
spec = spec_lib.GridSpec.from_json(json.loads(sys.argv[1]))
root_t5, root_new = sys.argv[2], sys.argv[3]
ft = stages_lib.Stage("finetune", "transformer", "scratch", sys.argv[4],
                      spec.seed)
worker._prepare_process()
files.atomic_write_json(markers.marker_path(ft, root_t5), worker.run_train_stage(
    spec, ft, root_t5, lambda event: None))
shutil.copytree(root_t5, root_new)
built = []
close = stage_eval.StageEvaluator.close
def counting_close(self):
  built.append(self.graphs_built)
  close(self)
stage_eval.StageEvaluator.close = counting_close
ev = stages_lib.Stage("eval", "transformer", "scratch", sys.argv[4], spec.seed)
out = {"t5": worker.run_eval_stage(spec, ev, root_t5, lambda e: None,
                                   t5_eval=True),
       "new": worker.run_eval_stage(spec, ev, root_new, lambda e: None),
       "graphs_built": built}
print("@@" + json.dumps(out))
"""


def _events(eval_dir):
  """Every event of the eval dir's events files but their wall times."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  found = []
  for path in sorted(glob.glob(os.path.join(eval_dir, "events.out.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      event.wall_time = 0
      found.append(event.SerializeToString())
  return found


def _files(eval_dir):
  """{name: bytes} of the eval dir's files but its events files."""
  out = {}
  for name in sorted(os.listdir(eval_dir)):
    if not name.startswith("events.out."):
      with open(os.path.join(eval_dir, name), "rb") as f:
        out[name] = f.read()
  return out


@pytest.mark.slow
def test_stage_eval_writes_what_t5s_eval_writes(tmp_path, demo_data_dir):
  """A tiny Transformer trained 4 steps on a 3-task mixture, evaluated at 2
  checkpoints on validation, then at the chosen ones on test (12 examples
  per task, decoding batches of 8, so the last one is padded): stage_eval
  and MtfModel.eval write byte-identical targets, inputs, outputs and
  predictions files, the same summaries, and the same eval_done.json but
  its time; stage_eval builds at most one graph per split."""
  quick = spec_lib.spec_from_gin(["demo/quick.gin"])
  spec = dataclasses.replace(
      quick, archs=("transformer",), scratch_archs=("transformer",),
      tasks=(TASK,), pair_task="", num_seeds=1, finetune_steps=4,
      eval_checkpoints=2, batch_size=2, eval_batch_size=8,
      bindings=("mesh_eval_dataset_fn.num_eval_examples = 12",),
      finetune_sequence_length={"inputs": 16, "targets": 4}).check()
  root_t5, root_new = str(tmp_path / "t5"), str(tmp_path / "new")
  res = subprocess.run(
      [sys.executable, "-c", _TRAIN_THEN_EVAL_TWICE,
       json.dumps(spec.to_json()), root_t5, root_new, TASK],
      cwd=str(tmp_path), capture_output=True, text=True, check=False,
      env=dict(os.environ, CONV_T5_DATA_DIR=demo_data_dir))
  assert res.returncode == 0, res.stderr[-3000:]
  out = json.loads(res.stdout.split("@@")[-1])
  t5_run, new_run = out["t5"], out["new"]
  for run in (t5_run, new_run):
    del run["seconds"], run["machine"]
  assert new_run == t5_run
  assert t5_run["steps"] == [2, 4] and len(t5_run["metrics"]) == 3
  splits = (spec.eval_split, spec.report_split)
  assert 1 <= out["graphs_built"][0] <= len(splits)
  ev = stages_lib.Stage("eval", "transformer", "scratch", TASK, spec.seed)
  for split in splits:
    dirs = [results.eval_dir(ev.model_dir(r), split)
            for r in (root_t5, root_new)]
    want, got = _files(dirs[0]), _files(dirs[1])
    assert sorted(got) == sorted(want)
    for name in want:
      assert got[name] == want[name], f"{split}: {name} differs"
    outputs = [n for n in want if n.endswith("_outputs")]
    steps = (t5_run["steps"] if split == spec.eval_split
             else sorted(set(t5_run["chosen"].values())))
    assert len(outputs) == 3 * len(steps)
    for name in outputs:
      assert len(want[name].decode().split("\n")) == 12
    if split == spec.eval_split:  # each checkpoint was restored, not one
      assert any(want[f"{t}_2_outputs"] != want[f"{t}_4_outputs"]
                 for t in t5_run["metrics"])
    assert _events(dirs[1]) == _events(dirs[0])
    assert results.read_eval_dir(dirs[1]) == results.read_eval_dir(dirs[0])


def test_the_eval_stage_runs_on_stage_eval_and_closes_it(tmp_path,
                                                         monkeypatch):
  """run_eval_stage evaluates through a StageEvaluator of the stage's model,
  eval_split first, and closes it even when an eval fails."""
  from conv_t5.experiments import hooked_model  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import stage_eval  # pylint: disable=g-import-not-at-top
  spec = spec_lib.spec_from_gin(["demo/quick.gin"])
  root = str(tmp_path)
  ev = stages_lib.Stage("eval", "transformer", "scratch", spec.tasks[0],
                        spec.seed)
  os.makedirs(ev.model_dir(root))
  with open(markers.marker_path(ev.train_stage(), root), "w") as f:
    f.write('{"final_step": 30}')
  calls = []

  class FakeModel:

    def __init__(self, model_dir, **kwargs):
      calls.append(("model", model_dir, kwargs["batch_size"]))

  class FakeEvaluator:

    def __init__(self, model):
      assert isinstance(model, FakeModel)

    def eval(self, task, checkpoint_steps, split):
      calls.append(("eval", task, list(checkpoint_steps), split))
      raise RuntimeError("boom")

    def close(self):
      calls.append(("close",))

  monkeypatch.setattr(worker, "_parse_gin", lambda *a, **k: None)
  monkeypatch.setattr(hooked_model, "HookedMtfModel", FakeModel)
  monkeypatch.setattr(stage_eval, "StageEvaluator", FakeEvaluator)
  with pytest.raises(RuntimeError, match="boom"):
    worker.run_eval_stage(spec, ev, root, lambda e: None)
  assert calls == [
      ("model", ev.model_dir(root), spec.eval_batch_size or spec.batch_size),
      ("eval", ev.task, worker.eval_steps(spec, 0), spec.eval_split),
      ("close",)]
