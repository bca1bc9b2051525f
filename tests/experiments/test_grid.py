"""The grid (conv_t5.experiments: spec, stages, markers, worker): its units,
stages, layout, config and markers, and one tiny fine-tuning run that shows
the evaluated steps are saved checkpoints (the grid runs: test_demo.py)."""

import dataclasses
import glob
import json
import os
import re
import subprocess
import sys

import pytest

from conv_t5 import config
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib
from conv_t5.experiments import worker


def _profile_fixture(name, profile):
  """A module-scoped fixture `name`: the GridSpec of gin/<profile>."""
  return pytest.fixture(scope="module", name=name)(
      lambda: spec_lib.spec_from_gin([profile]))


default_spec = _profile_fixture("default_spec", "demo/default.gin")
quick_spec = _profile_fixture("quick_spec", "demo/quick.gin")
# Grids that pre-train their own models (not `make demo`'s).
own_spec = _profile_fixture("own_spec", "demo/own_pretraining.gin")
quick_own_spec = _profile_fixture("quick_own_spec",
                                  "demo/quick_own_pretraining.gin")


def test_default_grid_is_the_papers_grid_from_the_release(default_spec):
  assert default_spec.archs == layout.ARCHS + layout.XATTN_ARCHS
  assert default_spec.pretrained_from == "release"
  assert default_spec.finetune_gin == ("demo/finetune_release.gin",)
  assert default_spec.tasks == ("demo_multitask",)
  assert default_spec.pair_task == "demo_same_sentiment"
  assert len(default_spec.seeds) >= 5
  assert (default_spec.eval_split, default_spec.report_split) == (
      "validation", "test")
  # The control and the convolutions from both inits, the hybrids (RQ4)
  # from their pre-training only.
  assert default_spec.scratch_archs == layout.ARCHS
  assert [default_spec.inits(a) for a in default_spec.archs] == [
      ("pretrained", "scratch")] * 4 + [("pretrained",)] * (
          len(default_spec.archs) - 4)
  stages = stages_lib.stages(default_spec)
  kinds = [s.kind for s in stages]
  seeds, archs = len(default_spec.seeds), len(default_spec.archs)
  trained = seeds * (2 * 4 + (archs - 4))
  # No pre-training: the models come from the release.
  assert (kinds.count("pretrain"), kinds.count("finetune"),
          kinds.count("eval")) == (0, trained, trained)
  assert len({s.name for s in stages}) == len(stages)


def test_own_pretraining_grid_pretrains_every_arch(own_spec):
  assert own_spec.pretrained_from == ""
  assert own_spec.archs[:4] == layout.ARCHS
  assert set(own_spec.archs[4:]) <= set(layout.XATTN_ARCHS)
  kinds = [s.kind for s in stages_lib.stages(own_spec)]
  seeds, archs = len(own_spec.seeds), len(own_spec.archs)
  trained = seeds * (2 * 4 + (archs - 4))
  assert (kinds.count("pretrain"), kinds.count("finetune"),
          kinds.count("eval")) == (seeds * archs, trained, trained)


def test_full_grid_has_every_architecture_and_more_steps(default_spec):
  full = spec_lib.spec_from_gin(["demo/full.gin"])
  assert full.archs == layout.ARCHS + layout.XATTN_ARCHS
  assert full.pretrained_from == default_spec.pretrained_from
  assert full.finetune_steps > default_spec.finetune_steps
  assert full.seeds == default_spec.seeds
  assert full.scratch_archs == layout.ARCHS


def test_units_are_seed_major_and_name_round_trips(default_spec):
  units = stages_lib.units(default_spec)
  assert [u.seed for u in units[:len(default_spec.archs)]] == [1] * len(
      default_spec.archs)
  for unit in units:
    assert stages_lib.Unit.from_name(unit.name) == unit
  assert stages_lib.Unit.from_name("transformer") == stages_lib.Unit(
      "transformer", None)


def test_quick_grid_is_smaller_but_complete(quick_spec, default_spec,
                                            quick_own_spec, own_spec):
  assert quick_spec.pretrained_from == default_spec.pretrained_from
  assert quick_spec.finetune_steps < default_spec.finetune_steps
  assert len(quick_spec.seeds) >= 2  # the intervals are exercised
  kinds = [s.kind for s in stages_lib.stages(quick_spec)]
  assert set(kinds) == {"finetune", "eval"}
  assert len(quick_spec.archs) >= 2 and "transformer" in quick_spec.archs
  assert quick_own_spec.pretrain_steps < own_spec.pretrain_steps
  assert set(s.kind for s in stages_lib.stages(quick_own_spec)) == {
      "pretrain", "finetune", "eval"}


def test_a_release_grid_refuses_pretraining_bindings():
  """A grid that fine-tunes the release runs no pre-training: a binding of
  its pre-training fields would be ignored, so it is refused."""
  for field, value in [("pretrain_steps", "50"), ("pretrain_gin", "[]"),
                       ("pretrain_task", "'x'"),
                       ("pretrain_sequence_length",
                        "{'inputs': 8, 'targets': 8}")]:
    with pytest.raises(ValueError, match=f"GridSpec.{field} bound, but this "
                       "grid fine-tunes the pre-trained models of a release"):
      spec_lib.spec_from_gin(["demo/default.gin"],
                             [f"GridSpec.{field} = {value}"])
  # Its own pre-training grid takes them.
  assert spec_lib.spec_from_gin(
      ["demo/default.gin"], ["GridSpec.pretrained_from = ''",
                             "GridSpec.pretrain_steps = 50"]).pretrain_steps == 50


def test_stage_order_pretrains_first_and_evals_after_training(own_spec):
  for unit in stages_lib.units(own_spec)[:3]:
    stages = unit.stages(own_spec)
    assert stages[0] == stages_lib.Stage("pretrain", unit.arch,
                                         seed=unit.seed)
    for i, s in enumerate(stages):
      assert (s.arch, s.seed) == (unit.arch, unit.seed)
      if s.kind == "finetune" and s.init == "pretrained":
        assert s.pretrain_stage() in stages[:i]
      if s.kind == "eval":
        assert stages[i - 1] == s.train_stage()


def test_layout_is_what_the_collector_reads(tmp_path):
  root = str(tmp_path)
  ft = stages_lib.Stage("finetune", "conv_dilated", "scratch", "demo_topic", 3)
  assert ft.model_dir(root) == os.path.join(
      root, "seed_3/conv_dilated/scratch/demo_topic")
  assert layout.describe(ft.model_dir(root)) == ("conv_dilated", "scratch",
                                                  "demo_topic")
  assert layout.seed_of(ft.model_dir(root)) == 3
  ev = ft.train_stage()
  assert ev.model_dir(root) == ft.model_dir(root)
  pre = ft.pretrain_stage()
  assert pre.model_dir(root) == os.path.join(root, "seed_3/conv_dilated/pretrain")
  assert layout.seed_of(pre.model_dir(root)) == 3
  assert (ft.marker, stages_lib.Stage("eval", "x").marker) == (
      "train_done.json", "eval_done.json")
  unseeded = stages_lib.Stage("pretrain", "transformer")
  assert unseeded.model_dir(root) == os.path.join(root, "transformer/pretrain")
  assert layout.seed_of(unseeded.model_dir(root)) is None


def test_spec_round_trips_through_json(default_spec):
  again = spec_lib.GridSpec.from_json(
      json.loads(json.dumps(default_spec.to_json())))
  assert again == default_spec


@pytest.mark.parametrize("binding, message", [
    ("GridSpec.archs = ['lstm']", "unknown architectures"),
    ("GridSpec.eval_checkpoints = 7", "divide GridSpec.finetune_steps"),
    ("GridSpec.seed = None", "needs GridSpec.seed"),
    ("GridSpec.num_seeds = 0", "num_seeds = 0"),
])
def test_a_bad_spec_is_refused_naming_the_field(binding, message):
  with pytest.raises(ValueError, match=message):
    spec_lib.spec_from_gin(["demo/quick.gin"], [binding])


# Runs in its own process, as a worker does (it sets TF1 behaviour): the
# pre-training, its marker, then the fine-tuning from its checkpoint.
_TRAIN_TWO_STAGES = r"""
import json, sys
from conv_t5 import files
from conv_t5.experiments import markers, spec as spec_lib, worker
from conv_t5.experiments import stages as stages_lib
spec = spec_lib.GridSpec.from_json(json.loads(sys.argv[1]))
root = sys.argv[2]
worker._prepare_process()
for name in sys.argv[3:]:
  stage = next(s for s in stages_lib.stages(spec) if s.name == name)
  result = worker.run_train_stage(spec, stage, root, lambda event: None)
  files.atomic_write_json(markers.marker_path(stage, root), result)
"""


@pytest.mark.slow
def test_eval_steps_are_the_saved_checkpoints(tmp_path, quick_own_spec,
                                              demo_data_dir):
  """A fine-tuning run from a pre-training checkpoint (a tiny transformer, a
  few steps; the start is no multiple of the interval) leaves a checkpoint
  at every step worker.eval_steps names, and at its start, and nowhere else."""
  spec = dataclasses.replace(
      quick_own_spec, archs=("transformer",), tasks=("demo_movie_sentiment",),
      num_seeds=1, pretrain_steps=1, finetune_steps=4, eval_checkpoints=2,
      batch_size=2, bindings=(),
      pretrain_sequence_length={"inputs": 16, "targets": 8},
      finetune_sequence_length={"inputs": 16, "targets": 4}).check()
  pre = stages_lib.Stage("pretrain", "transformer", seed=spec.seed)
  ft = stages_lib.Stage("finetune", "transformer", "pretrained",
                        "demo_movie_sentiment", spec.seed)
  # Not "models": a models/ in the cwd (on sys.path for -c) is taken by
  # gin for the package of its models/*.gin includes, and they fail.
  root = str(tmp_path / "root")
  res = subprocess.run(
      [sys.executable, "-c", _TRAIN_TWO_STAGES, json.dumps(spec.to_json()),
       root, pre.name, ft.name], cwd=str(tmp_path), capture_output=True,
      text=True, env=dict(os.environ, CONV_T5_DATA_DIR=demo_data_dir),
      check=False)
  assert res.returncode == 0, res.stderr[-3000:]
  start = markers.read_marker(pre, root)["final_step"]
  assert start == spec.pretrain_steps == 1 and spec.save_every == 2
  steps = worker.eval_steps(spec, start)
  assert steps == [3, 5]
  saved = sorted(int(re.search(r"model\.ckpt-(\d+)\.index$", p).group(1))
                 for p in glob.glob(os.path.join(ft.model_dir(root),
                                                 "model.ckpt-*.index")))
  assert saved == [start] + steps
  assert markers.read_marker(ft, root)["final_step"] == steps[-1]


def test_an_out_dir_of_another_grid_is_refused(tmp_path, quick_spec):
  out = str(tmp_path)
  markers.init_out_dir(quick_spec, out)
  markers.init_out_dir(quick_spec, out)  # same grid: fine
  other = spec_lib.GridSpec.from_json(
      dict(quick_spec.to_json(), finetune_steps=8))
  with pytest.raises(spec_lib.GridMismatchError, match="finetune_steps"):
    markers.init_out_dir(other, out)


def test_the_worker_writes_each_marker_when_its_stage_ends(tmp_path,
                                                           quick_own_spec,
                                                           monkeypatch):
  """run_unit runs the stages not done, in order, writes each one's marker
  through conv_t5.files (atomically) and stops at the first failure."""
  root = str(tmp_path)
  unit = stages_lib.units(quick_own_spec)[0]
  stages = unit.stages(quick_own_spec)
  ran, events = [], []

  def fake(spec, stage, root_, emit):
    assert markers.is_done(stage.train_stage(), root_) or stage.kind != "eval"
    ran.append(stage.name)
    if stage == stages[3]:
      raise RuntimeError("boom")
    return {"stage": stage.name, "final_step": 1}
  monkeypatch.setattr(worker, "run_train_stage", fake)
  monkeypatch.setattr(worker, "run_eval_stage", fake)
  os.makedirs(stages[0].model_dir(root))
  # The first stage is done already: skipped, its marker untouched.
  with open(markers.marker_path(stages[0], root), "w") as f:
    f.write('{"final_step": 40}')
  for stage in stages[1:]:
    os.makedirs(stage.model_dir(root), exist_ok=True)
  assert worker.run_unit(quick_own_spec, unit, root, events.append) == 1
  assert ran == [s.name for s in stages[1:4]]
  assert markers.read_marker(stages[0], root) == {"final_step": 40}
  for stage in stages[1:3]:
    assert markers.read_marker(stage, root) == {"stage": stage.name,
                                                "final_step": 1}
  assert not markers.is_done(stages[3], root)
  assert [e["ev"] for e in events] == ["skip", "done", "done", "fail"]
  assert events[-1]["error"] == "RuntimeError: boom"
  leftovers = [f for d, _, fs in os.walk(root) for f in fs if ".tmp" in f]
  assert not leftovers


@pytest.mark.parametrize("kind", ["pretrain", "finetune", "eval"])
def test_every_stage_config_parses_for_every_arch(default_spec, kind):
  """The gin files each stage parses (model, demo overrides, cpu.gin, stage
  recipe) resolve and parse, with the bindings the worker adds."""
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  import gin  # pylint: disable=g-import-not-at-top
  for arch in default_spec.archs:
    stage = stages_lib.Stage(kind, arch, "scratch", default_spec.tasks[0], 1)
    extra = {"pretrain": ["learning_rate_schedule_noam.total_train_steps = 10"],
             "finetune": ["MtfModel.save_checkpoints_steps = 200"],
             "eval": []}[kind]
    config.parse(stages_lib.stage_gin(default_spec, stage),
                 list(default_spec.bindings) + extra)
    if kind != "eval":
      assert gin.query_parameter("MtfModel.save_checkpoints_steps") > 0
    if kind == "pretrain":
      assert gin.query_parameter("%dropout_rate") == 0.0
  gin.clear_config()
