#!/usr/bin/env python3
"""The paper's grid at base size on a Cloud TPU VM, through the t5 CLI.

    python launch/paper_grid.py --bucket gs://BUCKET/conv_t5 --dry-run
    python launch/paper_grid.py --bucket gs://BUCKET/conv_t5 --tpu local \\
        [--stage all|pretrain|finetune|eval] [--archs A ...] [--tasks T ...]

Every command is `conv_t5_mesh_transformer` (t5's own main; see
conv_t5/cli.py) with gin files from t5, conv_t5 (gin/paper/: the paper's
recipes, found by name after --module_import=conv_t5.tasks). Model dirs
follow conv_t5.experiments.layout, which the demo grid and the results table
use too:

  <bucket>/models/<arch>/pretrain          span corruption on C4, 2^19 = 524,288
                                           steps, batch 128, inputs 512, Adafactor,
                                           inverse-square-root schedule
  <bucket>/models/<arch>/pretrained/<task> fine-tuned from pretrain's last
                                           checkpoint with T5's defaults: 2^18
                                           steps, batch 128, lengths 512/512,
                                           constant learning rate 0.001
  <bucket>/models/<arch>/scratch/<task>    the same recipe from random init
  .../validation_eval                      t5's eval (greedy) of every checkpoint

Then the table: python -m conv_t5.results <bucket>/models --select best

Re-running is safe: training resumes from the newest checkpoint in its model
dir (the Estimator does that; a finished one exits at once), and an eval whose
final checkpoint is already in validation_eval is skipped. --dry-run prints
every command and runs nothing. Untested on a real TPU here (no TPU access);
see docs/demo.md for what was checked. Runs where conv_t5 is installed.
"""

import argparse
import os
import shlex
import subprocess
import sys

from conv_t5.experiments import layout

# The paper's fine-tuning sets (Tay et al. 2021, Sec. 4), as registered in
# conv_t5.tasks: toxicity, sentiment, news topic, question classification,
# semantic parsing (cogs needs --cogs_path).
TASKS = ("civil_comments", "wikipedia_toxicity", "imdb_reviews", "glue_sst2",
         "sentiment140", "ag_news", "trec_coarse", "cogs")
PRETRAIN_TASK = "c4_span_corruption"
PRETRAIN_STEPS = 524288   # 2^19, the paper's 524K
FINETUNE_STEPS = 262144   # 2^18, T5's fine-tuning default
CLI = "conv_t5_mesh_transformer"


def model_dir(bucket, arch, init=None, task=None):
  """<bucket>/models/<arch>/pretrain, or .../<arch>/<init>/<task>."""
  return layout.model_dir(layout.models_root(bucket), arch, init, task)


def _common(args):
  flags = [f"--tpu={args.tpu}", "--module_import=conv_t5.tasks"]
  if args.tpu_zone:
    flags.append(f"--tpu_zone={args.tpu_zone}")
  if args.gcp_project:
    flags.append(f"--gcp_project={args.gcp_project}")
  if args.tfds_data_dir:
    flags.append(f"--t5_tfds_data_dir={args.tfds_data_dir}")
  return flags


def _params(args, task):
  params = [f'MIXTURE_NAME = "{task}"',
            f'utils.tpu_mesh_shape.tpu_topology = "{args.tpu_topology}"',
            f'conv_t5.vocabulary_model.path = "{args.vocabulary}"']
  if task == "cogs":
    params.append(f'conv_t5.cogs_data.path = "{args.cogs_path}"')
  return params


def _command(args, mdir, gin_files, params):
  cmd = [CLI] + _common(args) + [f"--model_dir={mdir}"]
  cmd += [f"--gin_file={g}" for g in gin_files]
  cmd += [f"--gin_param={p}" for p in params]
  return cmd


def pretrain_command(args, arch):
  gin_files = ["dataset.gin", f"models/{arch}.base.gin",
               "objectives/span_3_15_u_u.gin",
               "learning_rate_schedules/rsqrt_no_ramp_down.gin",
               "paper/pretrain.gin"]
  params = _params(args, PRETRAIN_TASK) + [
      f"utils.run.train_steps = {args.pretrain_steps}"]
  return _command(args, model_dir(args.bucket, arch), gin_files, params)


def finetune_command(args, arch, init, task):
  gin_files = ["dataset.gin", f"models/{arch}.base.gin",
               "learning_rate_schedules/constant_0_001.gin",
               "sequence_lengths/default.gin",
               "paper/finetune.gin"]
  params = _params(args, task)
  if init == "pretrained":
    ckpt = f"{model_dir(args.bucket, arch)}/model.ckpt-{args.pretrain_steps}"
    params += [f'utils.run.init_checkpoint = "{ckpt}"',
               f"utils.run.train_steps = {args.pretrain_steps + args.finetune_steps}"]
  else:
    params += [f"utils.run.train_steps = {args.finetune_steps}"]
  return _command(args, model_dir(args.bucket, arch, init, task), gin_files,
                  params)


def eval_command(args, arch, init, task):
  gin_files = ["dataset.gin", f"models/{arch}.base.gin", "eval.gin",
               "greedy_decode.gin", "paper/eval.gin"]
  return _command(args, model_dir(args.bucket, arch, init, task), gin_files,
                  _params(args, task))


def final_step(args, init):
  return args.finetune_steps + (args.pretrain_steps if init == "pretrained" else 0)


def plan(args):
  """[(stage name, kind, command, model dir, init)] in run order."""
  out = []
  for arch in args.archs:
    if args.stage in ("all", "pretrain"):
      out.append((layout.relative_dir(arch), "pretrain",
                  pretrain_command(args, arch), model_dir(args.bucket, arch),
                  None))
    for task in args.tasks:
      for init in layout.INITS:
        mdir = model_dir(args.bucket, arch, init, task)
        name = layout.relative_dir(arch, init, task)
        if args.stage in ("all", "finetune"):
          out.append((name, "finetune",
                      finetune_command(args, arch, init, task), mdir, init))
        if args.stage in ("all", "eval"):
          out.append((f"{name} eval", "eval",
                      eval_command(args, arch, init, task), mdir, init))
  return out


def format_command(cmd):
  return " \\\n    ".join(shlex.quote(c) for c in cmd)


def _eval_done(mdir, step):
  """True if t5's eval already scored checkpoint `step` in mdir."""
  from conv_t5.experiments import results  # pylint: disable=g-import-not-at-top
  evals = results.read_eval_dir(os.path.join(mdir, "validation_eval"))
  return any(step in by_step for metrics in evals.values()
             for by_step in metrics.values())


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--bucket", required=True,
                 help="gs:// prefix for model dirs, e.g. gs://my-bucket/conv_t5")
  p.add_argument("--tpu", default="local",
                 help="TPU name or 'local' on a TPU VM (default)")
  p.add_argument("--tpu_zone", default=None)
  p.add_argument("--gcp_project", default=None)
  p.add_argument("--tpu_topology", default="v3-8",
                 help="e.g. v3-8 (one TPU VM host); the paper used 16 TPUv3")
  p.add_argument("--tfds_data_dir", default=None,
                 help="gs:// TFDS dir with c4/en:3.1.0 and the fine-tuning "
                      "sets prepared (t5's --t5_tfds_data_dir)")
  p.add_argument("--vocabulary", default="t5",
                 help="conv_t5.vocabulary_model.path: 't5' = T5's 32k "
                      "SentencePiece on GCS (default), or a .model path")
  p.add_argument("--cogs_path", default=None,
                 help="folder of the COGS release (default <bucket>/data/cogs)")
  p.add_argument("--archs", nargs="+", default=list(layout.ARCHS),
                 choices=layout.ARCHS)
  p.add_argument("--tasks", nargs="+", default=list(TASKS))
  p.add_argument("--stage", default="all",
                 choices=("all", "pretrain", "finetune", "eval"))
  p.add_argument("--pretrain_steps", type=int, default=PRETRAIN_STEPS)
  p.add_argument("--finetune_steps", type=int, default=FINETUNE_STEPS)
  p.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                 help="print every command; run nothing")
  args = p.parse_args(argv)
  args.bucket = args.bucket.rstrip("/")
  args.cogs_path = args.cogs_path or f"{args.bucket}/data/cogs"
  return args


def main(argv=None):
  args = parse_args(argv)
  stages = plan(args)
  if args.dry_run:
    for name, _, cmd, _, _ in stages:
      print(f"# {name}\n{format_command(cmd)}\n")
    print(f"# then: python -m conv_t5.results {args.bucket}/models --select best")
    return 0
  for name, kind, cmd, mdir, init in stages:
    if kind == "eval" and _eval_done(mdir, final_step(args, init)):
      print(f"== {name}: already evaluated, skipped", flush=True)
      continue
    print(f"== {name}\n{format_command(cmd)}", flush=True)
    status = subprocess.call(cmd)
    if status != 0:
      print(f"== {name} failed (exit status {status}); re-run the same "
            "command to resume from the last checkpoint", file=sys.stderr)
      return status
  print(f"done; the table: python -m conv_t5.results {args.bucket}/models "
        "--select best")
  return 0


if __name__ == "__main__":
  sys.exit(main())
