"""The demo release as files: what `make demo-pretrain` writes into
layout.RELEASE_DIR (conv_t5/release/) and what `make demo` reads.

Per architecture and seed, layout.release_run_dir(<release>, arch, seed):

    model.ckpt-<step>.{index,data-00000-of-00001}, checkpoint
        the weights as trained (bfloat16, mesh-tensorflow's checkpoint dtype)
        and the global step, no optimizer slots: what t5's init_checkpoint
        reads
    operative_config.gin    the pre-training stage's, as t5 wrote it
    loss.tsv                step and loss where the Estimator's summaries
                            have it (every 100 steps, now and then 99)

and manifest.json: the grid it came from, the invocations that trained it
(commit, time, workers, threads), and per run the machine, wall time, steps,
tokens seen and the sha256 of every file. `check` verifies the files against
it; `check_for_grid` and `init_checkpoint` give a fine-tuning grid
(GridSpec.pretrained_from) its checkpoints; the command that writes and
replays a release is experiments.demo_pretrain.
"""

import dataclasses
import glob
import json
import os
import shutil

from conv_t5 import errors
from conv_t5 import files
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib

PROFILE = "demo/release.gin"  # the grid a release is pre-trained from
MANIFEST = "manifest.json"
LOSS_FILE = "loss.tsv"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class ReleaseError(errors.ConfigError):
  """The release is missing, incomplete or does not match its manifest."""


def read_manifest(release_dir=None):
  path = os.path.join(release_dir or layout.RELEASE_DIR, MANIFEST)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def losses_from_events(model_dir):
  """[(step, loss)] from the Estimator's summaries in model_dir.

  An events file whose writer was killed (a stage interrupted, then resumed
  into a new events file) ends in a truncated record: its records up to
  there are read, the truncated one is not."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
  out = {}
  for path in sorted(glob.glob(os.path.join(model_dir, "events.out.*"))):
    events = []
    with deprecation.silence():
      try:
        for event in tf.train.summary_iterator(path):
          events.append(event)
      except tf.errors.DataLossError:  # the killed writer's last record
        pass
    for event in events:
      for value in event.summary.value:
        if value.tag == "loss":
          out[int(event.step)] = float(value.simple_value)
  return sorted(out.items())


def write_weights_only(checkpoint, target_dir):
  """Writes the non-slot variables (and the global step) of `checkpoint` to
  target_dir/model.ckpt-<step>, in their own dtypes, with a relative
  `checkpoint` file; returns the names of the files written."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(checkpoint)
  dtypes = reader.get_variable_to_dtype_map()
  step = int(reader.get_tensor("global_step"))
  names = sorted(n for n in dtypes if "_slot_" not in n)
  os.makedirs(target_dir, exist_ok=True)
  prefix = f"model.ckpt-{step}"
  with tf.Graph().as_default():
    variables = [tf.Variable(reader.get_tensor(n), name=n, dtype=dtypes[n])
                 for n in names]
    saver = tf.train.Saver(variables, sharded=False)
    with tf.Session() as sess:
      sess.run(tf.variables_initializer(variables))
      saver.save(sess, os.path.join(target_dir, prefix),
                 write_meta_graph=False, write_state=False)
  with open(os.path.join(target_dir, "checkpoint"), "w") as f:
    f.write(f'model_checkpoint_path: "{prefix}"\n'
            f'all_model_checkpoint_paths: "{prefix}"\n')
  return sorted(os.listdir(target_dir))


def tokens_per_step(spec):
  """Token positions a pre-training step fills (packed inputs + targets)."""
  seq = spec.pretrain_sequence_length
  return spec.batch_size * (seq["inputs"] + seq["targets"])


def export_run(spec, unit, out_dir, release_dir):
  """Writes one finished pre-training run into the release; returns its
  manifest entry (without hashes)."""
  root = layout.models_root(out_dir)
  stage = stages_lib.Stage("pretrain", unit.arch, seed=unit.seed)
  marker = markers.read_marker(stage, root)
  model_dir = stage.model_dir(root)
  target = layout.release_run_dir(release_dir, unit.arch, unit.seed)
  if os.path.exists(target):
    shutil.rmtree(target)
  write_weights_only(
      os.path.join(model_dir, f"model.ckpt-{marker['final_step']}"), target)
  shutil.copy(os.path.join(model_dir, "operative_config.gin"), target)
  losses = losses_from_events(model_dir)
  with open(os.path.join(target, LOSS_FILE), "w") as f:
    f.write("step\tloss\n")
    f.writelines(f"{s}\t{v!r}\n" for s, v in losses)
  with open(os.path.join(model_dir, markers.INTENT_FILE)) as f:
    intent = json.load(f)
  return {"arch": unit.arch, "seed": unit.seed,
          "steps": marker["final_step"],
          "tokens_seen": marker["final_step"] * tokens_per_step(spec),
          # The last invocation's time, and the steps it trained: a stage
          # resumed in a later session records only its own part.
          "wall_seconds": marker["seconds"], "wall_steps": marker["steps_run"],
          "machine": marker["machine"],
          "task": intent["task"], "gin": intent["gin"],
          "bindings": intent["bindings"],
          "sequence_length": intent["sequence_length"],
          "batch_size": intent["batch_size"]}


def write_manifest(spec, runs, invocations, release_dir):
  """manifest.json: the grid, the invocations that trained it (commit, time,
  workers, threads), the runs and every file's sha256 (written last: a
  release is whole when its manifest says so)."""
  for run in runs:
    rel = layout.release_run_dir("", run["arch"], run["seed"])
    run["files"] = {name: files.sha256_file(os.path.join(release_dir, rel, name))
                    for name in sorted(os.listdir(
                        os.path.join(release_dir, rel)))}
  manifest = {"profile": PROFILE, "grid": spec.to_json(),
              "invocations": invocations,
              "runs": sorted(runs, key=lambda r: (r["seed"], spec.archs.index(
                  r["arch"])))}
  files.atomic_write_json(os.path.join(release_dir, MANIFEST), manifest)
  return manifest


def check(release_dir=None, units=None):
  """Verifies the release against its manifest; returns the manifest.

  Raises:
    ReleaseError: naming the first missing or changed file, or the first of
      `units` (stages.Unit) that the release lacks, and `make demo-pretrain`.
  """
  release_dir = release_dir or layout.RELEASE_DIR
  manifest = read_manifest(release_dir)
  fix = "run `make demo-pretrain` to write it (hours on 2 cores)"
  if os.path.abspath(release_dir) == layout.RELEASE_DIR:
    fix += (", or restore the shipped one with `git checkout -- "
            f"{os.path.relpath(release_dir, REPO)}`")
  if manifest is None:
    raise ReleaseError(f"the demo release has no {MANIFEST} in "
                       f"{release_dir}: {fix}")
  have = {(r["arch"], r["seed"]) for r in manifest["runs"]}
  for unit in units or ():
    if (unit.arch, unit.seed) not in have:
      raise ReleaseError(f"the demo release in {release_dir} has no "
                         f"pre-trained {unit.arch} for seed {unit.seed}: {fix}")
  for run in manifest["runs"]:
    rel = layout.release_run_dir("", run["arch"], run["seed"])
    for name, digest in run["files"].items():
      path = os.path.join(release_dir, rel, name)
      if not os.path.exists(path):
        raise ReleaseError(f"the demo release lacks {path}: {fix}")
      if files.sha256_file(path) != digest:
        raise ReleaseError(f"{path} does not match the sha256 in "
                           f"{release_dir}/{MANIFEST}: {fix}")
  return manifest


def check_for_grid(spec):
  """Verifies that spec.release_dir holds every pre-trained model the grid
  fine-tunes, for the model config the grid uses; returns the manifest.

  Raises:
    ReleaseError: naming what is missing or different, and the fix.
  """
  release_dir = spec.release_dir
  manifest = check(release_dir)
  grid = spec_lib.GridSpec.from_json(manifest["grid"])
  for field in ("model_gin", "model_overrides", "pretrain_task"):
    if getattr(grid, field) != getattr(spec, field):
      raise ReleaseError(
          f"the demo release in {release_dir} was pre-trained with "
          f"GridSpec.{field} = {getattr(grid, field)!r}, this grid fine-tunes "
          f"{getattr(spec, field)!r}: bind the release's, or pre-train a "
          "release of yours (`make demo-pretrain` with the profile changed)")
  needed = [stages_lib.Unit(arch, seed) for arch in spec.archs
            if "pretrained" in spec.inits(arch) for seed in grid.seeds]
  check(release_dir, needed)
  return manifest


def with_release_pretraining(spec):
  """`spec` (a grid that fine-tunes a release) with the release's
  pre-training fields (spec.PRETRAIN_FIELDS, from its manifest), after
  check_for_grid: the grid's records say how its models were pre-trained."""
  grid = spec_lib.GridSpec.from_json(check_for_grid(spec)["grid"])
  return dataclasses.replace(spec, **{
      f: getattr(grid, f) for f in spec_lib.PRETRAIN_FIELDS})


def paired_seed(spec, manifest, arch, seed):
  """The release seed the fine-tuning seed `seed` starts from: the k-th
  fine-tuning seed (seed = spec.seed + k) takes the release's k-th seed,
  cyclically (3 released seeds, 6 fine-tuning seeds: 1 2 3 1 2 3)."""
  released = spec_lib.GridSpec.from_json(manifest["grid"]).seeds
  return released[(seed - spec.seed) % len(released)]


def init_checkpoint(spec, stage):
  """(the released checkpoint a "pretrained" fine-tuning stage starts from,
  the sha256 of its weights), after checking the release."""
  manifest = check_for_grid(spec)
  seed = paired_seed(spec, manifest, stage.arch, stage.seed)
  run = find_run(manifest, stage.arch, seed)
  prefix = f"model.ckpt-{run['steps']}"
  path = os.path.join(layout.release_run_dir(spec.release_dir, stage.arch,
                                             seed), prefix)
  return path, run["files"][f"{prefix}.data-00000-of-00001"]


def find_run(manifest, arch, seed):
  for run in manifest["runs"]:
    if (run["arch"], run["seed"]) == (arch, seed):
      return run
  raise ReleaseError(f"the demo release has no run of {arch} for seed {seed}")


def read_losses(arch, seed, release_dir=None):
  """[(step, loss)] of a shipped run's loss.tsv."""
  path = os.path.join(layout.release_run_dir(
      release_dir or layout.RELEASE_DIR, arch, seed), LOSS_FILE)
  with open(path) as f:
    rows = [line.split("\t") for line in f.read().splitlines()[1:]]
  return [(int(step), float(loss)) for step, loss in rows]
