"""launch/authors_checkpoints.py: the dry run prints commands that parse.

Every fine-tuning and eval command of the released checkpoints, as released
and converted, parses as the CLI parses it (the converted model.gin, which
the convert stage writes to the bucket, is generated locally here by the
converter's own gin writer), and names the checkpoint it should start from.
"""

import os
import shlex
import subprocess
import sys

import gin
import pytest

from conv_t5.experiments import layout
from conv_t5.convert import cli as convert_cli
from conv_t5.convert import gin_text
import launch_helpers as test_launch

REPO = test_launch.REPO
SCRIPT = os.path.join(REPO, "launch", "authors_checkpoints.py")
BUCKET = "gs://example-bucket/conv_t5"
STEP, FINETUNE = 524288, 262144
D_MODEL = {"small": 512, "base": 768, "large": 1024}


def dry_run(*extra):
  out = subprocess.run(
      [sys.executable, SCRIPT, "--bucket", BUCKET, "--dry-run", *extra],
      capture_output=True, text=True, check=True, cwd=REPO).stdout
  commands = []
  for block in out.strip().split("\n\n"):
    lines = block.splitlines()
    if not lines[0].startswith("# ") or len(lines) < 2:
      continue
    argv = shlex.split("\n".join(lines[1:]).replace("\\\n", " "))
    commands.append((lines[0][2:], argv))
  return out, commands


@pytest.fixture(scope="module")
def full_plan():
  return dry_run()


def test_dry_run_covers_every_checkpoint_form_and_task(full_plan):
  out, commands = full_plan
  names = [n for n, _ in commands]
  checkpoints, forms, tasks = 5, 2, 8
  assert len(names) == checkpoints * (1 + forms * tasks * 2)
  assert names[0] == "lconv_small/convert"
  assert "authors_dconv_large_converted/pretrained/cogs eval" in names
  assert out.strip().splitlines()[-1].startswith(
      f"# then: python -m conv_t5.results {BUCKET}/models")
  for name, argv in commands:
    if name.endswith("/convert"):
      assert argv[0] == "conv_t5_convert"
      flags = {a[2:].split("=")[0] for a in argv[1:]}
      assert flags == {"checkpoint", "step", "model", "output_dir"}, argv
      convert_cli.parse_args(argv[1:])  # the converter's parser takes them
    else:
      assert argv[0] == "conv_t5_mesh_transformer"
      (mdir,) = test_launch.flag_values(argv, "model_dir")
      arch, init, task = layout.describe(mdir)
      assert init == "pretrained" and arch.startswith("authors_")
      assert name.split(" ")[0] == f"{arch}/{init}/{task}"


def _local_model_gin(tmp_path, gin_file):
  """The converted model.gin the convert stage writes, written here."""
  name = gin_file.split("/converted/")[1].split("/")[0]
  variant, size = name.split("_")
  path = tmp_path / name / "model.gin"
  path.parent.mkdir(exist_ok=True)
  path.write_text(gin_text.converted_gin(
      f"models/authors_{variant}.{size}.gin", [],
      "lightweight" if variant == "lconv" else "dynamic", 9, D_MODEL[size]))
  return str(path)


def test_every_distinct_config_parses_and_starts_from_its_checkpoint(
    full_plan, tmp_path):
  """One task per (checkpoint, form, stage kind); the task name is the only
  difference between the others (checked on the flags)."""
  seen = set()
  for name, argv in full_plan[1]:
    if name.endswith("/convert"):
      continue
    arch = name.split("/")[0]
    kind = "eval" if name.endswith(" eval") else "finetune"
    if (arch, kind) in seen:
      continue
    seen.add((arch, kind))
    gin_files = test_launch.flag_values(argv, "gin_file")
    gin_files = [_local_model_gin(tmp_path, g) if g.startswith("gs://") else g
                 for g in gin_files]
    released = "_converted" not in arch
    ckpt = arch[len("authors_"):].replace("_converted", "")
    test_launch.parse_like_the_cli(
        [f"--gin_file={g}" for g in gin_files] +
        [f"--gin_param={p}" for p in test_launch.flag_values(argv,
                                                             "gin_param")])
    q = gin.query_parameter
    size = ckpt.split("_")[1]
    assert q("%d_model") == D_MODEL[size]
    layers = q("encoder/transformer.make_layer_stack.layers")[0].selector
    assert layers.endswith("LocalConvAttnBlock" if released else
                           ("LightweightConvolution" if "lconv" in ckpt
                            else "DynamicConvolution"))
    if kind == "finetune":
      want = (f"gs://pretrainedconvs/{ckpt}/model.ckpt-{STEP}" if released
              else f"{BUCKET}/converted/{ckpt}/model.ckpt-{STEP}")
      assert q("utils.run.init_checkpoint") == want
      assert q("utils.run.train_steps") == STEP + FINETUNE
      assert q("utils.run.sequence_length") == {"inputs": 512,
                                                "targets": 512}
    else:
      assert q("utils.run.mode") == "eval"
      assert q("Bitransformer.decode.beam_size") == 1
  gin.clear_config()
  assert len(seen) == 5 * 2 * 2


def test_the_converted_model_is_where_the_convert_stage_writes_it(full_plan):
  commands = dict(full_plan[1])
  (out,) = test_launch.flag_values(commands["dconv_base/convert"],
                                   "output_dir")
  assert out == f"{BUCKET}/converted/dconv_base"
  argv = commands["authors_dconv_base_converted/pretrained/imdb_reviews"]
  assert f"{out}/model.gin" in test_launch.flag_values(argv, "gin_file")
  (model,) = test_launch.flag_values(commands["dconv_base/convert"], "model")
  assert model == "models/authors_dconv.base.gin"


def test_options_select_checkpoints_forms_tasks_and_stage():
  _, commands = dry_run("--checkpoints", "lconv_large", "--forms",
                        "converted", "--tasks", "ag_news", "--stage",
                        "finetune", "--checkpoint_step", "1000")
  assert [n for n, _ in commands] == [
      "authors_lconv_large_converted/pretrained/ag_news"]
  params = test_launch.flag_values(commands[0][1], "gin_param")
  assert (f'utils.run.init_checkpoint = "{BUCKET}/converted/lconv_large/'
          'model.ckpt-1000"') in params
  assert f"utils.run.train_steps = {1000 + FINETUNE}" in params
