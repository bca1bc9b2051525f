"""conv_t5.grid and conv_t5.progress: the grid's stages, layout, config and
markers, and the time-left estimate (no training here: see test_demo.py)."""

import json
import os

import pytest

from conv_t5 import config
from conv_t5 import files
from conv_t5 import grid
from conv_t5 import progress
from conv_t5 import results


@pytest.fixture(scope="module")
def default_spec():
  return grid.spec_from_gin(["demo/default.gin"])


@pytest.fixture(scope="module")
def quick_spec():
  return grid.spec_from_gin(["demo/quick.gin"])


def test_default_grid_is_the_papers_grid(default_spec):
  assert default_spec.archs == grid.ARCHS
  assert default_spec.tasks == ("demo_movie_sentiment", "demo_tweet_sentiment",
                                "demo_topic")
  stages = grid.stages(default_spec)
  kinds = [s.kind for s in stages]
  assert (kinds.count("pretrain"), kinds.count("finetune"),
          kinds.count("eval")) == (4, 24, 24)
  assert len({s.name for s in stages}) == len(stages)


def test_quick_grid_is_smaller_but_complete(quick_spec, default_spec):
  assert quick_spec.pretrain_steps < default_spec.pretrain_steps
  assert quick_spec.finetune_steps < default_spec.finetune_steps
  kinds = [s.kind for s in grid.stages(quick_spec)]
  assert set(kinds) == {"pretrain", "finetune", "eval"}
  assert len(quick_spec.archs) >= 2 and "transformer" in quick_spec.archs


def test_stage_order_pretrains_first_and_evals_after_training(default_spec):
  stages = grid.stages(default_spec)
  for i, s in enumerate(stages):
    if s.kind == "finetune" and s.init == "pretrained":
      assert grid.Stage("pretrain", s.arch) in stages[:i]
    if s.kind == "eval":
      assert stages[i - 1] == s.train_stage()


def test_layout_is_what_the_collector_reads(tmp_path):
  root = str(tmp_path)
  ft = grid.Stage("finetune", "conv_dilated", "scratch", "demo_topic")
  assert ft.model_dir(root) == os.path.join(root, "conv_dilated/scratch/demo_topic")
  assert results.describe(ft.model_dir(root)) == ("conv_dilated", "scratch",
                                                  "demo_topic")
  ev = grid.Stage("eval", "conv_dilated", "scratch", "demo_topic")
  assert ev.model_dir(root) == ft.model_dir(root)
  assert (ft.marker, ev.marker) == ("train_done.json", "eval_done.json")
  assert grid.Stage("pretrain", "transformer").model_dir(root).endswith(
      "transformer/pretrain")


def test_spec_round_trips_through_json(default_spec):
  again = grid.GridSpec.from_json(json.loads(json.dumps(default_spec.to_json())))
  assert again == default_spec


def test_unknown_arch_is_refused():
  with pytest.raises(ValueError, match="unknown architectures"):
    grid.spec_from_gin(["demo/quick.gin"], ["GridSpec.archs = ['lstm']"])


def test_an_out_dir_of_another_grid_is_refused(tmp_path, quick_spec):
  out = str(tmp_path)
  grid.init_out_dir(quick_spec, out)
  grid.init_out_dir(quick_spec, out)  # same grid: fine
  other = grid.GridSpec.from_json(dict(quick_spec.to_json(), finetune_steps=7))
  with pytest.raises(grid.GridMismatchError, match="finetune_steps"):
    grid.init_out_dir(other, out)


def test_markers_are_written_atomically(tmp_path):
  stage = grid.Stage("pretrain", "transformer")
  root = str(tmp_path)
  assert not grid.is_done(stage, root)
  os.makedirs(stage.model_dir(root))
  files.atomic_write_json(grid.marker_path(stage, root), {"final_step": 5})
  assert grid.is_done(stage, root)
  assert grid.read_marker(stage, root) == {"final_step": 5}
  assert os.listdir(stage.model_dir(root)) == ["train_done.json"]


@pytest.mark.parametrize("kind", ["pretrain", "finetune", "eval"])
def test_every_stage_config_parses_for_every_arch(default_spec, kind):
  """The gin files each stage parses (model, demo overrides, cpu.gin, stage
  recipe) resolve and parse, with the bindings the driver adds."""
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  import gin  # pylint: disable=g-import-not-at-top
  for arch in default_spec.archs:
    stage = grid.Stage(kind, arch, "scratch", default_spec.tasks[0])
    extra = (["learning_rate_schedule_noam.total_train_steps = 10"]
             if kind == "pretrain" else [])
    config.parse(grid._stage_gin(default_spec, stage),  # pylint: disable=protected-access
                 list(default_spec.bindings) + extra)
    if kind != "eval":
      assert gin.query_parameter("MtfModel.save_checkpoints_steps") > 0
  gin.clear_config()


class FakeClock:

  def __init__(self):
    self.now = 1000.0

  def __call__(self):
    return self.now


def test_tracker_estimates_shrink_as_work_is_done(quick_spec):
  stages = grid.stages(quick_spec)
  clock = FakeClock()
  t = progress.Tracker(quick_spec, stages, [], jobs=1, clock=clock)
  first = t.seconds_left()
  assert first > 0
  pre = stages[0]
  t.worker_started(pre.arch)
  t.event({"ev": "start", "stage": pre.name, "from_step": 0,
           "target": quick_spec.pretrain_steps})
  t.event({"ev": "step", "stage": pre.name, "step": quick_spec.pretrain_steps // 2,
           "target": quick_spec.pretrain_steps})
  assert t.seconds_left() < first
  assert f"{pre.name} step {quick_spec.pretrain_steps // 2}/" in t.status()
  line = t.event({"ev": "done", "stage": pre.name, "seconds": 20.0,
                  "final_step": quick_spec.pretrain_steps,
                  "steps_run": quick_spec.pretrain_steps,
                  "stepped": quick_spec.pretrain_steps - 1, "step_seconds": 4.0})
  assert line.startswith(f"[{1:>2}/{len(stages)}] {pre.name}")
  assert t.rate["pretrain"] == pytest.approx((quick_spec.pretrain_steps - 1) / 4.0)
  for s in stages[1:]:
    t.event({"ev": "skip", "stage": s.name})
  assert t.seconds_left() == 0
  assert "left" in t.status()


def test_tracker_reports_a_resumed_stage_and_failures(quick_spec):
  stages = grid.stages(quick_spec)
  t = progress.Tracker(quick_spec, stages, [stages[0].name], jobs=2)
  assert len(t.done) == 1
  assert t.event({"ev": "start", "stage": stages[1].name, "from_step": 60,
                  "resumed": False, "target": 100}) is None
  line = t.event({"ev": "start", "stage": stages[1].name, "from_step": 70,
                  "resumed": True, "target": 100})
  assert "resuming from the checkpoint at step 70" in line
  line = t.event({"ev": "fail", "stage": stages[1].name, "error": "boom"})
  assert line == f"FAILED {stages[1].name}: boom"


def test_tracker_uses_the_live_step_rate_before_a_stage_finishes(quick_spec):
  stages = grid.stages(quick_spec)
  clock = FakeClock()
  t = progress.Tracker(quick_spec, stages, [], jobs=1, clock=clock)
  pre = stages[0]
  t.event({"ev": "start", "stage": pre.name, "from_step": 0, "target": 1000})
  t.event({"ev": "step", "stage": pre.name, "step": 10, "target": 1000})
  clock.now += 100.0  # 1 step/s, far below the default rate
  t.event({"ev": "step", "stage": pre.name, "step": 110, "target": 1000})
  assert t._rate("pretrain") == pytest.approx(1.0)  # pylint: disable=protected-access
  assert t.seconds_left() > 890


def test_fmt_seconds():
  assert progress.fmt_seconds(0) == "0:00"
  assert progress.fmt_seconds(75.4) == "1:15"
  assert progress.fmt_seconds(3725) == "1:02:05"
