"""launch/paper_grid.py: the dry run prints commands whose gin files parse."""

import os
import subprocess

import gin
import pytest

from conv_t5 import config
from conv_t5.experiments import layout

from launch_helpers import BUCKET, REPO, dry_run, flag_values  # noqa: F401
from launch_helpers import parse_like_the_cli


@pytest.fixture(scope="module")
def full_plan():
  return dry_run()


def test_dry_run_covers_the_whole_grid(full_plan):
  out, commands = full_plan
  names = [n for n, _ in commands]
  archs, tasks = 4, 8
  assert len(names) == archs * (1 + tasks * 2 * 2)
  assert names[0] == "transformer/pretrain"
  assert "conv_dilated/scratch/cogs eval" in names
  assert all(argv[0] == "conv_t5_mesh_transformer" for _, argv in commands)
  assert out.strip().splitlines()[-1].startswith(
      f"# then: python -m conv_t5.results {BUCKET}/models")


def test_model_dirs_follow_the_collectors_layout(full_plan):
  for name, argv in full_plan[1]:
    (mdir,) = flag_values(argv, "model_dir")
    assert mdir.startswith(BUCKET + "/models/")
    if "/pretrain" in name:
      continue
    arch, init, task = name.split(" ")[0].split("/")
    assert layout.describe(mdir) == (arch, init, task)


def test_every_flag_is_one_the_cli_defines(full_plan):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from t5.models import mesh_transformer_main  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  defined = set(flags.FLAGS)
  for _, argv in full_plan[1]:
    for arg in argv[1:]:
      assert arg.startswith("--") and arg[2:].split("=")[0] in defined, arg


def test_every_distinct_gin_config_parses(full_plan):
  """Each command's gin files and params parse (modules imported as the CLI
  does); the distinct configs are one per arch and stage kind and task."""
  seen = set()
  for name, argv in full_plan[1]:
    key = tuple(a for a in argv if a.startswith("--gin_"))
    if key in seen:
      continue
    seen.add(key)
    for f in flag_values(argv, "gin_file"):
      assert os.path.isfile(f if os.path.isabs(f) else config.resolve(f)), f
    parse_like_the_cli(argv)
    import seqio  # pylint: disable=g-import-not-at-top
    task = gin.query_parameter("%MIXTURE_NAME")
    assert task in seqio.TaskRegistry.names(), (name, task)
  gin.clear_config()
  assert len(seen) >= 4 * 3


def _parsed(commands, name):
  argv = dict(commands)[name]
  parse_like_the_cli(argv)
  return argv


def test_pretraining_is_the_papers_recipe(full_plan):
  from mesh_tensorflow.transformer import learning_rate_schedules as lrs  # pylint: disable=g-import-not-at-top
  _parsed(full_plan[1], "conv_dynamic/pretrain")
  q = gin.query_parameter
  assert q("utils.run.train_steps") == 524288
  assert q("utils.run.batch_size") == ("sequences_per_batch", 128)
  assert q("%inputs_length") == 512  # objectives/span_3_15_u_u.gin
  assert q("%MIXTURE_NAME") == "c4_span_corruption"
  assert q("utils.run.learning_rate_schedule").selector.endswith(
      "learning_rate_schedule_noam")
  assert q("learning_rate_schedule_noam.linear_decay_fraction") == 0.0
  assert q("utils.run.optimizer").selector.endswith("AdafactorOptimizer")
  # base size: 12 + 12 layers, d_model 768, d_ff 3072, 12 heads
  assert (q("%d_model"), q("%d_ff"), q("%num_heads"), q("%num_layers")) == (
      768, 3072, 12, 12)
  del lrs
  gin.clear_config()


def test_finetuning_starts_from_the_last_pretraining_checkpoint(full_plan):
  q = gin.query_parameter
  _parsed(full_plan[1], "conv_lightweight/pretrained/glue_sst2")
  assert q("utils.run.init_checkpoint") == (
      f"{BUCKET}/models/conv_lightweight/pretrain/model.ckpt-524288")
  assert q("utils.run.train_steps") == 524288 + 262144
  assert q("utils.run.batch_size") == ("sequences_per_batch", 128)
  assert q("utils.run.sequence_length") == {"inputs": 512, "targets": 512}
  assert q("learning_rate_schedules.constant_learning_rate.learning_rate") == 0.001
  _parsed(full_plan[1], "conv_lightweight/scratch/glue_sst2")
  assert q("utils.run.train_steps") == 262144
  with pytest.raises(ValueError, match="no value bound"):
    q("utils.run.init_checkpoint")
  gin.clear_config()


def test_eval_decodes_the_validation_split(full_plan):
  _parsed(full_plan[1], "transformer/scratch/ag_news eval")
  assert gin.query_parameter("utils.run.mode") == "eval"
  assert gin.query_parameter("utils.run.dataset_split") == "validation"
  assert gin.query_parameter("Bitransformer.decode.beam_size") == 1
  gin.clear_config()


def test_options_select_archs_tasks_and_stage():
  _, commands = dry_run("--archs", "conv_dilated", "--tasks", "imdb_reviews",
                        "--stage", "finetune", "--tpu_topology", "v3-32")
  assert [n for n, _ in commands] == ["conv_dilated/pretrained/imdb_reviews",
                                      "conv_dilated/scratch/imdb_reviews"]
  assert 'utils.tpu_mesh_shape.tpu_topology = "v3-32"' in flag_values(
      commands[0][1], "gin_param")


def test_tpu_vm_script_dry_run_prints_gcloud_commands():
  out = subprocess.run(
      ["bash", os.path.join(REPO, "launch", "tpu_vm.sh"), "--dry-run",
       "--archs", "conv_dynamic"], capture_output=True, text=True, check=True,
      env=dict(os.environ, BUCKET=BUCKET)).stdout
  commands = [l for l in out.splitlines() if l.startswith("gcloud ")]
  assert len(commands) == 3
  assert "tpu-vm create" in commands[0]
  assert "paper_grid.py" in commands[2] and "conv_dynamic" in commands[2]
  assert BUCKET in commands[2]
