#!/usr/bin/env python3
"""Fine-tune the authors' released checkpoints on the paper's tasks, on a
Cloud TPU VM, as released and converted, through the t5 CLI.

    python launch/authors_checkpoints.py --bucket gs://BUCKET/conv_t5 --dry-run
    python launch/authors_checkpoints.py --bucket gs://BUCKET/conv_t5 --tpu local \\
        [--stage all|convert|finetune|eval] [--checkpoints lconv_base ...] \\
        [--forms released converted] [--tasks T ...]

Every training and eval command is `conv_t5_mesh_transformer` (see
launch/paper_grid.py, whose task list, fine-tuning recipe and flags it reuses:
T5's defaults, 2^18 steps, batch 128, lengths 512/512, constant 0.001).
Layout (the one conv_t5.results reads):

  gs://pretrainedconvs/<name>                  the release (read only)
  <bucket>/converted/<name>                    python -m conv_t5.convert of it
  <bucket>/models/authors_<name>/pretrained/<task>
                                               fine-tuned as released: the
                                               authors' gin config
                                               (gin/models/authors_*.gin) and
                                               utils.run.init_checkpoint
  <bucket>/models/authors_<name>_converted/pretrained/<task>
                                               fine-tuned converted: the
                                               model.gin the converter wrote

Fine-tuning continues the checkpoint's step count (train_steps = its step +
2^18), as t5's MtfModel.finetune does with pretrained_model_dir. The release
does not state the step of its checkpoints; --checkpoint_step defaults to the
paper's 524,288 and a real run checks that gs://pretrainedconvs/<name>/
model.ckpt-<step> exists before starting (and names the steps it finds if
not). Re-running is safe, as for paper_grid.py. --dry-run prints every command
and runs nothing. Untested on a real TPU here (no TPU or GCS access).
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paper_grid  # noqa: E402  pylint: disable=g-import-not-at-top

RELEASE = "gs://pretrainedconvs"
# name -> (variant, size): the five released checkpoints.
CHECKPOINTS = {
    "lconv_small": ("lconv", "small"),
    "lconv_base": ("lconv", "base"),
    "lconv_large": ("lconv", "large"),
    "dconv_base": ("dconv", "base"),
    "dconv_large": ("dconv", "large"),
}
FORMS = ("released", "converted")
CHECKPOINT_STEP = 524288   # the paper's pre-training length (2^19)
CONVERT_CLI = "conv_t5_convert"   # = python -m conv_t5.convert


def model_gin(name):
  variant, size = CHECKPOINTS[name]
  return f"models/authors_{variant}.{size}.gin"


def converted_dir(args, name):
  return f"{args.bucket}/converted/{name}"


def arch(name, form):
  return f"authors_{name}" + ("_converted" if form == "converted" else "")


def model_dir(args, name, form, task):
  return paper_grid.model_dir(args.bucket, arch(name, form), "pretrained",
                              task)


def _model(args, name, form):
  """(gin file of the model, checkpoint prefix to start from)."""
  ckpt = f"model.ckpt-{args.checkpoint_step}"
  if form == "released":
    return model_gin(name), f"{args.release}/{name}/{ckpt}"
  out = converted_dir(args, name)
  return f"{out}/model.gin", f"{out}/{ckpt}"


def convert_command(args, name):
  return [CONVERT_CLI, f"--checkpoint={args.release}/{name}",
          f"--step={args.checkpoint_step}", f"--model={model_gin(name)}",
          f"--output_dir={converted_dir(args, name)}"]


def finetune_command(args, name, form, task):
  gin_model, init = _model(args, name, form)
  gin_files = ["dataset.gin", gin_model,
               "learning_rate_schedules/constant_0_001.gin",
               "sequence_lengths/default.gin", "paper/finetune.gin"]
  params = paper_grid._params(args, task) + [  # pylint: disable=protected-access
      f'utils.run.init_checkpoint = "{init}"',
      "utils.run.train_steps = "
      f"{args.checkpoint_step + args.finetune_steps}"]
  return paper_grid._command(args, model_dir(args, name, form, task),  # pylint: disable=protected-access
                             gin_files, params)


def eval_command(args, name, form, task):
  gin_model, _ = _model(args, name, form)
  gin_files = ["dataset.gin", gin_model, "eval.gin", "greedy_decode.gin",
               "paper/eval.gin"]
  return paper_grid._command(args, model_dir(args, name, form, task),  # pylint: disable=protected-access
                             gin_files, paper_grid._params(args, task))  # pylint: disable=protected-access


def plan(args):
  """[(stage name, kind, command, model dir or None, name)] in run order."""
  out = []
  for name in args.checkpoints:
    if "converted" in args.forms and args.stage in ("all", "convert"):
      out.append((f"{name}/convert", "convert", convert_command(args, name),
                  None, name))
    for task in args.tasks:
      for form in args.forms:
        mdir = model_dir(args, name, form, task)
        if args.stage in ("all", "finetune"):
          out.append((f"{arch(name, form)}/pretrained/{task}", "finetune",
                      finetune_command(args, name, form, task), mdir, name))
        if args.stage in ("all", "eval"):
          out.append((f"{arch(name, form)}/pretrained/{task} eval", "eval",
                      eval_command(args, name, form, task), mdir, name))
  return out


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--bucket", required=True,
                 help="gs:// prefix for converted checkpoints and model dirs")
  p.add_argument("--release", default=RELEASE,
                 help="where the released checkpoints are (default "
                 f"{RELEASE}), e.g. a copy in your own bucket")
  p.add_argument("--checkpoints", nargs="+", default=list(CHECKPOINTS),
                 choices=list(CHECKPOINTS))
  p.add_argument("--forms", nargs="+", default=list(FORMS), choices=FORMS)
  p.add_argument("--tasks", nargs="+", default=list(paper_grid.TASKS))
  p.add_argument("--stage", default="all",
                 choices=("all", "convert", "finetune", "eval"))
  p.add_argument("--checkpoint_step", type=int, default=CHECKPOINT_STEP,
                 help="step of the released checkpoints (model.ckpt-<step>)")
  p.add_argument("--finetune_steps", type=int,
                 default=paper_grid.FINETUNE_STEPS)
  p.add_argument("--tpu", default="local")
  p.add_argument("--tpu_zone", default=None)
  p.add_argument("--gcp_project", default=None)
  p.add_argument("--tpu_topology", default="v3-8")
  p.add_argument("--tfds_data_dir", default=None,
                 help="gs:// TFDS dir with the fine-tuning sets prepared")
  p.add_argument("--vocabulary", default="t5",
                 help="conv_t5.vocabulary_model.path: the released models "
                 "use T5's 32k SentencePiece ('t5', the default)")
  p.add_argument("--cogs_path", default=None)
  p.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true")
  args = p.parse_args(argv)
  args.bucket = args.bucket.rstrip("/")
  args.release = args.release.rstrip("/")
  args.cogs_path = args.cogs_path or f"{args.bucket}/data/cogs"
  return args


def _check_release(args, name):
  """The released checkpoint at --checkpoint_step exists, or a message."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  prefix = f"{args.release}/{name}/model.ckpt-{args.checkpoint_step}"
  if tf.io.gfile.exists(prefix + ".index"):
    return None
  found = sorted(os.path.basename(p)[:-len(".index")] for p in
                 tf.io.gfile.glob(f"{args.release}/{name}/model.ckpt-*.index"))
  return (f"{prefix}.index does not exist; {args.release}/{name} holds "
          f"{found or 'no checkpoint'}: pass --checkpoint_step=<its step>.")


def main(argv=None):
  args = parse_args(argv)
  stages = plan(args)
  if args.dry_run:
    for stage, _, cmd, _, _ in stages:
      print(f"# {stage}\n{paper_grid.format_command(cmd)}\n")
    print(f"# then: python -m conv_t5.results {args.bucket}/models "
          "--select best")
    return 0
  for name in args.checkpoints:
    problem = _check_release(args, name)
    if problem:
      print(problem, file=sys.stderr)
      return 2
  for stage, kind, cmd, mdir, name in stages:
    if kind == "convert" and _converted(args, name):
      print(f"== {stage}: already converted, skipped", flush=True)
      continue
    if kind == "eval" and paper_grid._eval_done(  # pylint: disable=protected-access
        mdir, args.checkpoint_step + args.finetune_steps):
      print(f"== {stage}: already evaluated, skipped", flush=True)
      continue
    print(f"== {stage}\n{paper_grid.format_command(cmd)}", flush=True)
    status = subprocess.call(cmd)
    if status != 0:
      print(f"== {stage} failed (exit status {status}); re-run the same "
            "command to resume", file=sys.stderr)
      return status
  print(f"done; the table: python -m conv_t5.results {args.bucket}/models "
        "--select best")
  return 0


def _converted(args, name):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile.exists(f"{converted_dir(args, name)}/checkpoint")


if __name__ == "__main__":
  sys.exit(main())
