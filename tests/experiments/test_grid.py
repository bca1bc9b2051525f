"""The grid (conv_t5.experiments: spec, stages, markers): its stages, layout,
config and markers (no training here: see test_demo.py)."""

import json
import os

import pytest

from conv_t5 import config
from conv_t5 import files
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib


@pytest.fixture(scope="module")
def default_spec():
  return spec_lib.spec_from_gin(["demo/default.gin"])


@pytest.fixture(scope="module")
def quick_spec():
  return spec_lib.spec_from_gin(["demo/quick.gin"])


def test_default_grid_is_the_papers_grid(default_spec):
  assert default_spec.archs == layout.ARCHS
  assert default_spec.tasks == ("demo_movie_sentiment", "demo_tweet_sentiment",
                                "demo_topic")
  stages = stages_lib.stages(default_spec)
  kinds = [s.kind for s in stages]
  assert (kinds.count("pretrain"), kinds.count("finetune"),
          kinds.count("eval")) == (4, 24, 24)
  assert len({s.name for s in stages}) == len(stages)


def test_quick_grid_is_smaller_but_complete(quick_spec, default_spec):
  assert quick_spec.pretrain_steps < default_spec.pretrain_steps
  assert quick_spec.finetune_steps < default_spec.finetune_steps
  kinds = [s.kind for s in stages_lib.stages(quick_spec)]
  assert set(kinds) == {"pretrain", "finetune", "eval"}
  assert len(quick_spec.archs) >= 2 and "transformer" in quick_spec.archs


def test_stage_order_pretrains_first_and_evals_after_training(default_spec):
  stages = stages_lib.stages(default_spec)
  for i, s in enumerate(stages):
    if s.kind == "finetune" and s.init == "pretrained":
      assert stages_lib.Stage("pretrain", s.arch) in stages[:i]
    if s.kind == "eval":
      assert stages[i - 1] == s.train_stage()


def test_layout_is_what_the_collector_reads(tmp_path):
  root = str(tmp_path)
  ft = stages_lib.Stage("finetune", "conv_dilated", "scratch", "demo_topic")
  assert ft.model_dir(root) == os.path.join(root, "conv_dilated/scratch/demo_topic")
  assert layout.describe(ft.model_dir(root)) == ("conv_dilated", "scratch",
                                                  "demo_topic")
  ev = stages_lib.Stage("eval", "conv_dilated", "scratch", "demo_topic")
  assert ev.model_dir(root) == ft.model_dir(root)
  assert (ft.marker, ev.marker) == ("train_done.json", "eval_done.json")
  assert stages_lib.Stage("pretrain", "transformer").model_dir(root).endswith(
      "transformer/pretrain")


def test_spec_round_trips_through_json(default_spec):
  again = spec_lib.GridSpec.from_json(json.loads(json.dumps(default_spec.to_json())))
  assert again == default_spec


def test_unknown_arch_is_refused():
  with pytest.raises(ValueError, match="unknown architectures"):
    spec_lib.spec_from_gin(["demo/quick.gin"], ["GridSpec.archs = ['lstm']"])


def test_an_out_dir_of_another_grid_is_refused(tmp_path, quick_spec):
  out = str(tmp_path)
  markers.init_out_dir(quick_spec, out)
  markers.init_out_dir(quick_spec, out)  # same grid: fine
  other = spec_lib.GridSpec.from_json(dict(quick_spec.to_json(), finetune_steps=7))
  with pytest.raises(spec_lib.GridMismatchError, match="finetune_steps"):
    markers.init_out_dir(other, out)


def test_markers_are_written_atomically(tmp_path):
  stage = stages_lib.Stage("pretrain", "transformer")
  root = str(tmp_path)
  assert not markers.is_done(stage, root)
  os.makedirs(stage.model_dir(root))
  files.atomic_write_json(markers.marker_path(stage, root), {"final_step": 5})
  assert markers.is_done(stage, root)
  assert markers.read_marker(stage, root) == {"final_step": 5}
  assert os.listdir(stage.model_dir(root)) == ["train_done.json"]


@pytest.mark.parametrize("kind", ["pretrain", "finetune", "eval"])
def test_every_stage_config_parses_for_every_arch(default_spec, kind):
  """The gin files each stage parses (model, demo overrides, cpu.gin, stage
  recipe) resolve and parse, with the bindings the driver adds."""
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  import gin  # pylint: disable=g-import-not-at-top
  for arch in default_spec.archs:
    stage = stages_lib.Stage(kind, arch, "scratch", default_spec.tasks[0])
    extra = (["learning_rate_schedule_noam.total_train_steps = 10"]
             if kind == "pretrain" else [])
    config.parse(stages_lib.stage_gin(default_spec, stage),
                 list(default_spec.bindings) + extra)
    if kind != "eval":
      assert gin.query_parameter("MtfModel.save_checkpoints_steps") > 0
  gin.clear_config()
