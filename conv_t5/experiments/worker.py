"""The paper's grid as stages of the t5 pipeline: pre-train, fine-tune, eval.

For every architecture: span-corruption pre-training, then each task
fine-tuned from the pre-trained checkpoint and trained from scratch, each
evaluated by t5's own eval. Model dirs, under <root> (= <out_dir>/models for
the demo, a gs:// path for launch/, which uses the same layout):

    <arch>/pretrain                 pre-training
    <arch>/pretrained/<task>        MtfModel.finetune from <arch>/pretrain
    <arch>/scratch/<task>           MtfModel.train on the task, random init
    <arch>/{pretrained,scratch}/<task>/validation_eval    MtfModel.eval

Stages run in worker processes, one per architecture
(`python -m conv_t5.grid --worker --out_dir D --arch A`, started by
conv_t5.demo), each stage on t5.models.MtfModel with the gin config parsed
afresh. A stage is done when its marker (train_done.json / eval_done.json in
its model dir) exists; markers are written last, through a temp file and a
rename. Re-running skips done stages; an interrupted training stage resumes
from its latest checkpoint (the Estimator restores it); an interrupted eval
starts over in a clean validation_eval/.

Workers report progress as JSON lines on stdout, prefixed by PROGRESS_PREFIX.
"""

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import threading
import time
import traceback

import gin

from conv_t5 import files

ARCHS = ("transformer", "conv_lightweight", "conv_dynamic", "conv_dilated")
INITS = ("pretrained", "scratch")
PROGRESS_PREFIX = "@@grid "
GRID_FILE = "grid.json"
MODELS_SUBDIR = "models"


class GridMismatchError(ValueError):
  """An output directory holds a grid run with a different configuration."""


@gin.configurable(module="conv_t5.grid")
@dataclasses.dataclass(frozen=True)
class GridSpec:
  """Everything that decides the grid's numbers (bound in gin/demo/*.gin).

  Attributes:
    archs: architecture names; model config = model_gin.format(arch=...).
    tasks: fine-tuning tasks (seqio names), each with an eval metric.
    pretrain_task: the span-corruption task.
    model_gin: model config pattern, e.g. "models/{arch}.tiny.gin".
    model_overrides: gin files parsed right after the model config (sizes).
    pretrain_steps / finetune_steps: training steps per stage (fine-tuning
      from a checkpoint at step P trains to P + finetune_steps, as t5 does).
    batch_size: sequences per batch (packed), all training stages.
    eval_batch_size: sequences per decoding batch in eval (0: batch_size).
    pretrain_sequence_length / finetune_sequence_length: {"inputs", "targets"}.
    pretrain_gin / finetune_gin / eval_gin: stage gin files (optimizer,
      learning-rate schedule, checkpoint interval).
    bindings: extra gin bindings for every stage.
    eval_split: the split t5's eval decodes and scores.
    seed: conv_t5.guards' training seed (weights, dropout, data order and
      noise), the same for every stage; None: unseeded, as T5.
  """
  archs: tuple = ARCHS
  tasks: tuple = ("demo_movie_sentiment", "demo_tweet_sentiment", "demo_topic")
  pretrain_task: str = "demo_span_corruption"
  model_gin: str = "models/{arch}.tiny.gin"
  model_overrides: tuple = ()
  pretrain_steps: int = 1000
  finetune_steps: int = 300
  batch_size: int = 16
  eval_batch_size: int = 0
  pretrain_sequence_length: dict = dataclasses.field(
      default_factory=lambda: {"inputs": 64, "targets": 16})
  finetune_sequence_length: dict = dataclasses.field(
      default_factory=lambda: {"inputs": 64, "targets": 4})
  pretrain_gin: tuple = ("demo/pretrain.gin",)
  finetune_gin: tuple = ("demo/finetune.gin",)
  eval_gin: tuple = ()
  bindings: tuple = ()
  eval_split: str = "validation"
  seed: int = None

  def __post_init__(self):
    for f in dataclasses.fields(self):  # gin binds lists; keep tuples
      if isinstance(getattr(self, f.name), list):
        object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

  def to_json(self):
    return json.loads(json.dumps(dataclasses.asdict(self)))

  @classmethod
  def from_json(cls, d):
    return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)
                  if f.name in d})


def spec_from_gin(gin_files, bindings=()):
  """Parses the profile gin files (which bind GridSpec.*); returns the spec."""
  from conv_t5 import paths  # pylint: disable=g-import-not-at-top
  for p in paths.gin_search_path():
    gin.add_config_file_search_path(p)
  gin.clear_config()
  logging.disable(logging.ERROR)  # gin logs every search-path miss as an error
  try:
    gin.parse_config_files_and_bindings(list(gin_files), list(bindings))
  finally:
    logging.disable(logging.NOTSET)
  spec = GridSpec()
  gin.clear_config()
  unknown = [a for a in spec.archs if a not in ARCHS]
  if unknown:
    raise ValueError(f"unknown architectures {unknown}; known: {list(ARCHS)}")
  return spec


# ----------------------------------------------------------------- stages

@dataclasses.dataclass(frozen=True)
class Stage:
  """One unit of work: kind "pretrain", "finetune" or "eval"."""
  kind: str
  arch: str
  init: str = ""
  task: str = ""

  @property
  def name(self):
    if self.kind == "pretrain":
      return f"{self.arch}/pretrain"
    base = f"{self.arch}/{self.init}/{self.task}"
    return base + (" eval" if self.kind == "eval" else "")

  def model_dir(self, root):
    if self.kind == "pretrain":
      return os.path.join(root, self.arch, "pretrain")
    return os.path.join(root, self.arch, self.init, self.task)

  @property
  def marker(self):
    return "eval_done.json" if self.kind == "eval" else "train_done.json"

  def train_stage(self):
    """The training stage whose checkpoint an eval stage reads."""
    return dataclasses.replace(self, kind="finetune")

  def steps(self, spec):
    if self.kind == "pretrain":
      return spec.pretrain_steps
    return spec.finetune_steps if self.kind == "finetune" else 0


def stages(spec):
  """All stages in run order: per arch, pre-train, then per task the
  fine-tuned and the from-scratch model, each followed by its eval."""
  out = []
  for arch in spec.archs:
    out.append(Stage("pretrain", arch))
    for task in spec.tasks:
      for init in INITS:
        out += [Stage("finetune", arch, init, task),
                Stage("eval", arch, init, task)]
  return out


def models_root(out_dir):
  return os.path.join(out_dir, MODELS_SUBDIR)


# ----------------------------------------------------------------- markers

def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def read_json(path):
  gfile = _gfile()
  if not gfile.exists(path):
    return None
  with gfile.GFile(path) as f:
    return json.load(f)


def marker_path(stage, root):
  return os.path.join(stage.model_dir(root), stage.marker)


def read_marker(stage, root):
  return read_json(marker_path(stage, root))


def is_done(stage, root):
  return _gfile().exists(marker_path(stage, root))


def init_out_dir(spec, out_dir):
  """Records the spec in <out_dir>/grid.json, or checks it matches.

  Raises:
    GridMismatchError: out_dir was run with a different GridSpec; its
      finished stages would not belong to this grid.
  """
  path = os.path.join(out_dir, GRID_FILE)
  _gfile().makedirs(out_dir)
  recorded = read_json(path)
  if recorded is None:
    files.atomic_write_json(path, {"spec": spec.to_json()})
    return
  old, new = recorded["spec"], spec.to_json()
  diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
  if diff:
    raise GridMismatchError(
        f"{out_dir} holds a grid run with a different configuration ("
        + "; ".join(diff) + "). Its finished stages are kept: use another "
        "--out_dir, or delete that directory to start over.")


def load_spec(out_dir):
  recorded = read_json(os.path.join(out_dir, GRID_FILE))
  if recorded is None:
    raise FileNotFoundError(f"{out_dir}/{GRID_FILE} is missing")
  return GridSpec.from_json(recorded["spec"])


def machine():
  """CPU count, CPU model and RAM of this machine (for the results)."""
  info = {"nproc": len(os.sched_getaffinity(0)) if hasattr(
      os, "sched_getaffinity") else os.cpu_count()}
  try:
    with open("/proc/cpuinfo") as f:
      models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
    info["cpu"] = models[0] if models else "unknown"
    with open("/proc/meminfo") as f:
      kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
    info["ram_gb"] = round(kb / 2**20, 1)
  except (OSError, StopIteration, ValueError):
    pass
  return info


# ----------------------------------------------------------------- the worker

def latest_step(model_dir):
  """Global step of the newest checkpoint in model_dir, or 0."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  path = tf.train.latest_checkpoint(model_dir)
  return int(re.search(r"-(\d+)$", path).group(1)) if path else 0


def _stage_gin(spec, stage):
  files = [spec.model_gin.format(arch=stage.arch), *spec.model_overrides,
           "cpu.gin"]
  files += {"pretrain": spec.pretrain_gin, "finetune": spec.finetune_gin,
            "eval": spec.eval_gin}[stage.kind]
  return files


def _parse_gin(spec, stage, bindings=()):
  from conv_t5 import config  # pylint: disable=g-import-not-at-top
  config.parse(_stage_gin(spec, stage), list(spec.bindings) + list(bindings))


def _check_intent(model_dir, fingerprint):
  """Refuses a model dir that another configuration started training."""
  path = os.path.join(model_dir, "grid_stage.json")
  recorded = read_json(path)
  if recorded is None:
    files.atomic_write_json(path, fingerprint)
  elif recorded != json.loads(json.dumps(fingerprint)):
    raise GridMismatchError(
        f"{model_dir} was started with another configuration "
        f"({recorded}); this run would mix the two. Delete it to retrain.")


def _progress_hook(emit, stage, target):
  """A SessionRunHook reporting the global step about once a second."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

  class ProgressHook(tf.train.SessionRunHook):
    """Reports {"ev": "step"} events; remembers the pure stepping time."""

    def __init__(self):
      self.first = None
      self.last = None
      self._reported = 0.0

    def begin(self):
      self._step = tf.train.get_global_step()

    def before_run(self, run_context):
      return tf.train.SessionRunArgs(self._step)

    def after_run(self, run_context, run_values):
      step, now = int(run_values.results) + 1, time.time()
      self.first = self.first or (step, now)
      self.last = (step, now)
      if now - self._reported >= 1.0 or step >= target:
        self._reported = now
        emit({"ev": "step", "stage": stage.name, "step": step,
              "target": target})

  return ProgressHook()


def _model_class():
  """t5's MtfModel with conv_t5.guards around train() (sequence-length check,
  architecture check of model_dir, NaN stop, finite checkpoints, seed) and
  our progress hook in every Estimator.train call."""
  from conv_t5.training import model  # pylint: disable=g-import-not-at-top

  class HookedMtfModel(model.GuardedMtfModel):
    """GuardedMtfModel, plus `hooks` passed to every Estimator.train call."""

    def __init__(self, *args, hooks=(), **kwargs):
      super().__init__(*args, **kwargs)
      self._extra_hooks = list(hooks)

    def estimator(self, *args, **kwargs):
      est = super().estimator(*args, **kwargs)
      train, extra = est.train, self._extra_hooks

      def train_with_hooks(input_fn, hooks=None, **kw):
        return train(input_fn, hooks=list(hooks or []) + extra, **kw)
      est.train = train_with_hooks
      return est

  return HookedMtfModel


def run_train_stage(spec, stage, root, emit):
  """Pre-trains or fine-tunes (from a checkpoint or scratch) to the target."""
  model_dir = stage.model_dir(root)
  _gfile().makedirs(model_dir)
  bindings, pretrained = [], None
  if stage.kind == "pretrain":
    task, seq = spec.pretrain_task, spec.pretrain_sequence_length
    target = spec.pretrain_steps
    bindings.append(f"learning_rate_schedule_noam.total_train_steps = {target}")
  else:
    task, seq = stage.task, spec.finetune_sequence_length
    target = spec.finetune_steps
    if stage.init == "pretrained":
      pre = Stage("pretrain", stage.arch)
      marker = read_marker(pre, root)
      if marker is None:
        raise RuntimeError(f"{stage.name} needs {pre.name}, which is not done")
      pretrained = (pre.model_dir(root), marker["final_step"])
      target += marker["final_step"]
  fingerprint = {"stage": stage.name, "task": task, "target_step": target,
                 "init_from": pretrained and os.path.join(
                     stage.arch, "pretrain", "model.ckpt-%d" % pretrained[1]),
                 "gin": _stage_gin(spec, stage), "bindings": list(spec.bindings),
                 "batch_size": spec.batch_size, "sequence_length": seq,
                 "seed": spec.seed}
  _check_intent(model_dir, fingerprint)
  _parse_gin(spec, stage, bindings)
  existing = latest_step(model_dir)
  start = existing or (pretrained[1] if pretrained else 0)
  emit({"ev": "start", "stage": stage.name, "from_step": start,
        "resumed": existing > 0, "target": target})
  hook = _progress_hook(emit, stage, target)
  model = _model_class()(model_dir, tpu=None, mesh_shape="", hooks=[hook],
                         seed=spec.seed, batch_size=spec.batch_size,
                         sequence_length=seq)
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
          "machine": machine()}


def run_eval_stage(spec, stage, root, emit):
  """t5's eval of the fine-tuned model's final checkpoint on eval_split."""
  from conv_t5 import results  # pylint: disable=g-import-not-at-top
  gfile = _gfile()
  model_dir = stage.model_dir(root)
  trained = read_marker(stage.train_stage(), root)
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
  model = _model_class()(model_dir, tpu=None, mesh_shape="",
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
          "seconds": round(time.time() - t0, 2), "machine": machine()}


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

  spec = load_spec(out_dir)
  root = models_root(out_dir)
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  tf.disable_v2_behavior()
  tf.logging.set_verbosity(tf.logging.INFO)
  tf_logger = logging.getLogger("tensorflow")
  tf_logger.propagate = False  # once, with a time stamp, into the worker's log
  for handler in tf_logger.handlers:
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  import t5.models  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import  (MtfModel in gin)
  for stage in stages(spec):
    if stage.arch != arch:
      continue
    if is_done(stage, root):
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
    files.atomic_write_json(marker_path(stage, root), result)
    emit(dict(result, ev="done"))
  return 0


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m conv_t5.grid",
      description="Worker of the grid (started by `python -m conv_t5.demo`).")
  parser.add_argument("--worker", action="store_true", required=True)
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--arch", required=True)
  args = parser.parse_args(argv)
  return run_worker(args.out_dir, args.arch)


if __name__ == "__main__":
  sys.exit(main())
