"""The grid's worker process: runs one architecture's stages on t5's MtfModel.

    python -m conv_t5.experiments.worker --worker --out_dir D --arch A

(started by conv_t5.experiments.demo, one process per architecture; the old
`python -m conv_t5.grid --worker ...` still works). For every stage of the
architecture not yet done (experiments.markers), in run order
(experiments.stages): the gin config is parsed afresh, then the stage runs
on experiments.hooked_model.HookedMtfModel:

    <arch>/pretrain                 MtfModel.train on the span-corruption task
    <arch>/pretrained/<task>        MtfModel.finetune from <arch>/pretrain
    <arch>/scratch/<task>           MtfModel.train on the task, random init
    <arch>/{pretrained,scratch}/<task>/validation_eval    MtfModel.eval

(model dirs under <out_dir>/models: experiments.layout). Re-running skips
done stages; an interrupted training stage resumes from its latest checkpoint
(the Estimator restores it); an interrupted eval starts over in a clean
validation_eval/. Progress goes to stdout as JSON lines prefixed by
PROGRESS_PREFIX; logs to stderr.
"""

import argparse
import json
import logging
import os
import re
import sys
import threading
import time
import traceback

from conv_t5 import files
from conv_t5 import machine
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import stages as stages_lib

PROGRESS_PREFIX = "@@grid "


def latest_step(model_dir):
  """Global step of the newest checkpoint in model_dir, or 0."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  path = tf.train.latest_checkpoint(model_dir)
  return int(re.search(r"-(\d+)$", path).group(1)) if path else 0


def _parse_gin(spec, stage, bindings=()):
  from conv_t5 import config  # pylint: disable=g-import-not-at-top
  config.parse(stages_lib.stage_gin(spec, stage),
               list(spec.bindings) + list(bindings))


def run_train_stage(spec, stage, root, emit):
  """Pre-trains or fine-tunes (from a checkpoint or scratch) to the target."""
  model_dir = stage.model_dir(root)
  markers.gfile().makedirs(model_dir)
  bindings, pretrained = [], None
  if stage.kind == "pretrain":
    task, seq = spec.pretrain_task, spec.pretrain_sequence_length
    target = spec.pretrain_steps
    bindings.append(f"learning_rate_schedule_noam.total_train_steps = {target}")
  else:
    task, seq = stage.task, spec.finetune_sequence_length
    target = spec.finetune_steps
    if stage.init == "pretrained":
      pre = stages_lib.Stage("pretrain", stage.arch)
      marker = markers.read_marker(pre, root)
      if marker is None:
        raise RuntimeError(f"{stage.name} needs {pre.name}, which is not done")
      pretrained = (pre.model_dir(root), marker["final_step"])
      target += marker["final_step"]
  fingerprint = {"stage": stage.name, "task": task, "target_step": target,
                 "init_from": pretrained and os.path.join(
                     layout.relative_dir(stage.arch),
                     "model.ckpt-%d" % pretrained[1]),
                 "gin": stages_lib.stage_gin(spec, stage),
                 "bindings": list(spec.bindings),
                 "batch_size": spec.batch_size, "sequence_length": seq,
                 "seed": spec.seed}
  markers.check_intent(model_dir, fingerprint)
  _parse_gin(spec, stage, bindings)
  existing = latest_step(model_dir)
  start = existing or (pretrained[1] if pretrained else 0)
  emit({"ev": "start", "stage": stage.name, "from_step": start,
        "resumed": existing > 0, "target": target})
  from conv_t5.experiments import hooked_model  # pylint: disable=g-import-not-at-top
  hook = hooked_model.ProgressHook(emit, stage, target)
  model = hooked_model.HookedMtfModel(
      model_dir, tpu=None, mesh_shape="", hooks=[hook], seed=spec.seed,
      batch_size=spec.batch_size, sequence_length=seq)
  t0 = time.time()
  if pretrained:
    model.finetune(task, spec.finetune_steps, pretrained_model_dir=pretrained[0],
                   pretrained_checkpoint_step=pretrained[1])
  else:
    model.train(task, target)
  final = latest_step(model_dir)
  if final != target:
    raise RuntimeError(f"{stage.name}: training stopped at step {final}, "
                       f"not at the target {target}")
  step_seconds = (hook.last[1] - hook.first[1]) if hook.first else 0.0
  return {"stage": stage.name, "task": task, "final_step": final,
          "started_from_step": start, "steps_run": final - start,
          "seconds": round(time.time() - t0, 2),
          "step_seconds": round(step_seconds, 2),
          "stepped": (hook.last[0] - hook.first[0]) if hook.first else 0,
          "machine": machine.summary()}


def run_eval_stage(spec, stage, root, emit):
  """t5's eval of the fine-tuned model's final checkpoint on eval_split."""
  from conv_t5.experiments import hooked_model  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import results  # pylint: disable=g-import-not-at-top
  gfile = markers.gfile()
  model_dir = stage.model_dir(root)
  trained = markers.read_marker(stage.train_stage(), root)
  if trained is None:
    raise RuntimeError(f"{stage.name} needs {stage.train_stage().name}")
  step = trained["final_step"]
  eval_dir = os.path.join(model_dir, f"{spec.eval_split}_eval")
  if gfile.exists(eval_dir):  # left by an interrupted eval: start over
    gfile.rmtree(eval_dir)
  gfile.makedirs(eval_dir)
  _parse_gin(spec, stage)
  emit({"ev": "start", "stage": stage.name})
  t0 = time.time()
  model = hooked_model.HookedMtfModel(
      model_dir, tpu=None, mesh_shape="",
      batch_size=spec.eval_batch_size or spec.batch_size,
      sequence_length=spec.finetune_sequence_length)
  model.eval(stage.task, checkpoint_steps=step, split=spec.eval_split)
  found = results.read_eval_dir(eval_dir).get(stage.task, {})
  metrics = {name: by_step[step] for name, by_step in found.items()
             if step in by_step}
  if not metrics:
    raise RuntimeError(f"{stage.name}: t5's eval wrote no metric for step "
                       f"{step} to {eval_dir}")
  return {"stage": stage.name, "step": step, "metrics": metrics,
          "seconds": round(time.time() - t0, 2),
          "machine": machine.summary()}


def _die_with_parent():
  """Exits this worker if the process that started it goes away."""
  parent = os.getppid()

  def watch():
    while True:
      time.sleep(2)
      if os.getppid() != parent:
        os._exit(3)  # pylint: disable=protected-access
  threading.Thread(target=watch, daemon=True).start()


def run_worker(out_dir, arch):
  """Runs the not-yet-done stages of one architecture, in order."""
  _die_with_parent()
  lock = threading.Lock()

  def emit(event):
    with lock:
      sys.stdout.write(PROGRESS_PREFIX + json.dumps(event) + "\n")
      sys.stdout.flush()

  spec = markers.load_spec(out_dir)
  root = layout.models_root(out_dir)
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  tf.disable_v2_behavior()
  tf.logging.set_verbosity(tf.logging.INFO)
  tf_logger = logging.getLogger("tensorflow")
  tf_logger.propagate = False  # once, with a time stamp, into the worker's log
  for handler in tf_logger.handlers:
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  import t5.models  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import  (MtfModel in gin)
  for stage in stages_lib.stages(spec):
    if stage.arch != arch:
      continue
    if markers.is_done(stage, root):
      emit({"ev": "skip", "stage": stage.name})
      continue
    try:
      run = run_eval_stage if stage.kind == "eval" else run_train_stage
      result = run(spec, stage, root, emit)
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      emit({"ev": "fail", "stage": stage.name,
            "error": f"{type(e).__name__}: {e}"[:2000]})
      return 1
    files.atomic_write_json(markers.marker_path(stage, root), result)
    emit(dict(result, ev="done"))
  return 0


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m conv_t5.experiments.worker",
      description="Worker of the grid (started by `python -m conv_t5.demo`).")
  parser.add_argument("--worker", action="store_true", required=True)
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--arch", required=True)
  args = parser.parse_args(argv)
  return run_worker(args.out_dir, args.arch)


if __name__ == "__main__":
  sys.exit(main())
