"""The grid's worker process: runs units (an architecture and a seed) on t5's
MtfModel, one after another, as the driver hands them out.

    python -m conv_t5.experiments.worker --worker --out_dir D

(started by conv_t5.experiments.demo, `jobs` of them; the old
`python -m conv_t5.grid --worker ...` still works). The worker says "ready"
on stdout, then reads commands on stdin, one a line: `run <unit>` runs the
not-yet-done stages of that unit (experiments.stages, markers), `exit` ends
it. For every stage the gin config is parsed afresh, then it runs on
experiments.hooked_model.HookedMtfModel:

    .../<arch>/pretrain              MtfModel.train on the span-corruption task
    .../<arch>/pretrained/<task>     MtfModel.train from the pre-training
                                     checkpoint (init_checkpoint)
    .../<arch>/scratch/<task>        MtfModel.train on the task, random init
    ... eval                         MtfModel.eval of eval_checkpoints
                                     checkpoints on eval_split, then of the
                                     one chosen on the mean over the run's
                                     tasks on report_split (as
                                     experiments.stage_eval computes it,
                                     the same outputs at a fraction of the
                                     time)

(model dirs under <out_dir>/models: experiments.layout). Re-running skips
done stages; an interrupted training stage resumes from its latest checkpoint
(the Estimator restores it); an interrupted eval starts over in clean
<split>_eval/ dirs. Progress goes to stdout as JSON lines prefixed by
PROGRESS_PREFIX; logs to stderr.

Why not MtfModel.finetune: it parses the pre-trained model's
operative_config.gin over the current config, so the fine-tuning recipe (the
learning rate, dropout, checkpoint interval of finetune_gin) would silently
be the pre-training one for pre-trained models and not for models from
scratch. The grid parses the same fine-tuning config for both and passes
the checkpoint as init_checkpoint, which is what finetune does besides.
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


def _start_step(spec, stage, root):
  """The step a fine-tuning run starts from: the pre-training's last, or 0
  (from scratch, or from a release, whose global step is not restored)."""
  if stage.init != "pretrained" or spec.release_dir:
    return 0
  pre = stage.pretrain_stage()
  marker = markers.read_marker(pre, root)
  if marker is None:
    raise RuntimeError(f"{stage.name} needs {pre.name}, which is not done")
  return marker["final_step"]


def eval_steps(spec, start):
  """The fine-tuning checkpoints evaluated: eval_checkpoints of them, evenly
  spaced after `start`, the last one included."""
  return [start + k * spec.save_every
          for k in range(1, spec.eval_checkpoints + 1)]


def run_train_stage(spec, stage, root, emit):
  """Pre-trains or fine-tunes (from a checkpoint or scratch) to the target."""
  model_dir = stage.model_dir(root)
  markers.gfile().makedirs(model_dir)
  bindings, init_checkpoint, init_sha256 = [], None, None
  if stage.kind == "pretrain":
    task, seq = spec.pretrain_task, spec.pretrain_sequence_length
    start = 0
    target = spec.pretrain_steps
    bindings.append(f"learning_rate_schedule_noam.total_train_steps = {target}")
  else:
    task, seq = stage.task, spec.finetune_sequence_length
    start = _start_step(spec, stage, root)
    target = start + spec.finetune_steps
    # A checkpoint at every evaluated step, all of them kept.
    bindings += [f"MtfModel.save_checkpoints_steps = {spec.save_every}",
                 f"MtfModel.keep_checkpoint_max = {spec.eval_checkpoints + 2}"]
    if stage.init == "pretrained" and spec.release_dir:
      from conv_t5.experiments import release  # pylint: disable=g-import-not-at-top
      init_checkpoint, init_sha256 = release.init_checkpoint(spec, stage)
    elif start:
      init_checkpoint = os.path.join(stage.pretrain_stage().model_dir(root),
                                     f"model.ckpt-{start}")
  fingerprint = {"stage": stage.name, "task": task, "target_step": target,
                 "init_from": init_checkpoint and os.path.relpath(
                     init_checkpoint, root),

                 "gin": stages_lib.stage_gin(spec, stage),
                 # the files' contents, not only their names
                 markers.GIN_SHA256: markers.stage_gin_sha256(spec, stage),
                 "bindings": list(bindings) + list(spec.bindings),
                 "batch_size": spec.batch_size, "sequence_length": seq,
                 "seed": stage.seed}
  if init_sha256:  # a released checkpoint: its contents, not only its path
    fingerprint["init_sha256"] = init_sha256
  markers.check_intent(model_dir, fingerprint)
  _parse_gin(spec, stage, bindings)
  existing = latest_step(model_dir)
  resumed_from = existing or start
  emit({"ev": "start", "stage": stage.name, "from_step": resumed_from,
        "resumed": existing > start, "target": target})
  from conv_t5.experiments import hooked_model  # pylint: disable=g-import-not-at-top
  hook = hooked_model.ProgressHook(emit, stage, target)
  model = hooked_model.HookedMtfModel(
      model_dir, tpu=None, mesh_shape="", hooks=[hook], seed=stage.seed,
      batch_size=spec.batch_size, sequence_length=seq)
  t0 = time.time()
  model.train(task, target, init_checkpoint=init_checkpoint)
  final = latest_step(model_dir)
  if final != target:
    raise RuntimeError(f"{stage.name}: training stopped at step {final}, "
                       f"not at the target {target}")
  step_seconds = (hook.last[1] - hook.first[1]) if hook.first else 0.0
  return {"stage": stage.name, "task": task, "final_step": final,
          "started_from_step": start, "steps_run": final - resumed_from,
          "seconds": round(time.time() - t0, 2),
          "step_seconds": round(step_seconds, 2),
          "stepped": (hook.last[0] - hook.first[0]) if hook.first else 0,
          "machine": machine.summary()}


def run_eval_stage(spec, stage, root, emit, t5_eval=False):
  """t5's eval of the evaluated checkpoints on eval_split; then of the one
  checkpoint with the best mean over the run's tasks there on report_split.

  The evals run on experiments.stage_eval (what MtfModel.eval computes and
  writes, its decoding graph built once); t5_eval=True runs MtfModel.eval
  itself (the tests compare the two).
  """
  from conv_t5.experiments import hooked_model  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import results  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import stage_eval  # pylint: disable=g-import-not-at-top
  gfile = markers.gfile()
  model_dir = stage.model_dir(root)
  if markers.read_marker(stage.train_stage(), root) is None:
    raise RuntimeError(f"{stage.name} needs {stage.train_stage().name}")
  steps = eval_steps(spec, _start_step(spec, stage, root))
  splits = [spec.eval_split] + ([spec.report_split] if spec.report_split
                                else [])
  for split in splits:  # left by an interrupted eval: start over
    directory = results.eval_dir(model_dir, split)
    if gfile.exists(directory):
      gfile.rmtree(directory)
    gfile.makedirs(directory)
  _parse_gin(spec, stage)
  emit({"ev": "start", "stage": stage.name})
  t0 = time.time()
  model = hooked_model.HookedMtfModel(
      model_dir, tpu=None, mesh_shape="",
      batch_size=spec.eval_batch_size or spec.batch_size,
      sequence_length=spec.finetune_sequence_length)
  evaluator = model if t5_eval else stage_eval.StageEvaluator(model)
  try:
    chosen = _eval_and_choose(spec, stage, evaluator, model_dir, steps)
  finally:
    if evaluator is not model:
      evaluator.close()
  records = results.run_records(model_dir, spec.eval_split, spec.report_split)
  reported = spec.report_split or spec.eval_split
  return {"stage": stage.name, "steps": steps, "chosen": chosen,
          "metrics": {r["task"]: r["value"] for r in records
                      if r["split"] == reported},
          "split": reported, "seconds": round(time.time() - t0, 2),
          "machine": machine.summary()}


def _eval_and_choose(spec, stage, evaluator, model_dir, steps):
  """Evaluates `steps` on eval_split, chooses the run's step once, on the
  mean over its tasks (results.choose_run_step), evaluates it on
  report_split; returns {task: chosen step} (the same step for every task)."""
  from conv_t5.experiments import results  # pylint: disable=g-import-not-at-top
  evaluator.eval(stage.task, checkpoint_steps=steps, split=spec.eval_split)
  by_task = results.read_eval_dir(results.eval_dir(model_dir,
                                                   spec.eval_split))
  for task, metrics in by_task.items():
    name = results.pick_metric(metrics)
    missing = [s for s in steps if s not in metrics.get(name, {})]
    if missing:
      raise RuntimeError(f"{stage.name}: t5's eval wrote no {name} of {task} "
                         f"for steps {missing}")
  step = results.choose_run_step(by_task)
  if step is None:
    raise RuntimeError(f"{stage.name}: t5's eval wrote no metric to "
                       f"{results.eval_dir(model_dir, spec.eval_split)}")
  if spec.report_split:
    evaluator.eval(stage.task, checkpoint_steps=[step],
                   split=spec.report_split)
  return {task: step for task in by_task}


def run_unit(spec, unit, root, emit):
  """Runs the not-yet-done stages of one unit; returns 0, or 1 on failure."""
  for stage in unit.stages(spec):
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


def _die_with_parent():
  """Exits this worker if the process that started it goes away."""
  parent = os.getppid()

  def watch():
    while True:
      time.sleep(2)
      if os.getppid() != parent:
        os._exit(3)  # pylint: disable=protected-access
  threading.Thread(target=watch, daemon=True).start()


def _prepare_process():
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
  # conv_t5.train_model in gin (GridSpec.bindings may bind it).
  import conv_t5.experiments.hooked_model  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import


def run_worker(out_dir, commands=sys.stdin):
  """Says ready, then runs the units named on `commands` until `exit`."""
  _die_with_parent()
  lock = threading.Lock()

  def emit(event):
    with lock:
      sys.stdout.write(PROGRESS_PREFIX + json.dumps(event) + "\n")
      sys.stdout.flush()

  spec = markers.load_spec(out_dir)
  root = layout.models_root(out_dir)
  _prepare_process()
  emit({"ev": "ready"})
  failed = 0
  for line in commands:
    words = line.split()
    if not words or words[0] == "exit":
      break
    if words[0] != "run" or len(words) != 2:
      raise ValueError(f"worker: unknown command {line.strip()!r}")
    unit = stages_lib.Unit.from_name(words[1])
    status = run_unit(spec, unit, root, emit)
    failed |= status
    emit({"ev": "unit_done", "unit": unit.name, "status": status})
  return failed


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m conv_t5.experiments.worker",
      description="Worker of the grid (started by `python -m conv_t5.demo`).")
  parser.add_argument("--worker", action="store_true", required=True)
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--arch", default=None,
                      help="run every unit of this architecture, then exit "
                           "(instead of reading commands on stdin)")
  args = parser.parse_args(argv)
  commands = sys.stdin
  if args.arch:
    spec = markers.load_spec(args.out_dir)
    commands = [f"run {u.name}" for u in stages_lib.units(spec)
                if u.arch == args.arch]
  return run_worker(args.out_dir, commands)


if __name__ == "__main__":
  sys.exit(main())
