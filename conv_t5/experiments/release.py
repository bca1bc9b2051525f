"""`make demo-pretrain`: the demo release, pre-trained once.

    python -m conv_t5.experiments.release [--out_dir runs/demo-pretrain]
        [--release_dir DIR] [--jobs N] [--data_dir DIR]
    python -m conv_t5.experiments.release --check [--release_dir DIR]

Pre-trains every architecture and seed of gin/demo/release.gin (the grid's
pre-training stages alone, through its workers: live progress, resumable,
a resumed stage skipping the data it has seen), then writes the release
into layout.RELEASE_DIR (conv_t5/release/), per architecture and seed:

    <arch>/seed_<s>/model.ckpt-<step>.{index,data-00000-of-00001}, checkpoint
        the weights as trained (bfloat16, mesh-tensorflow's checkpoint dtype),
        no optimizer slots: what t5's init_checkpoint reads
    <arch>/seed_<s>/operative_config.gin    the stage's, as t5 wrote it
    <arch>/seed_<s>/loss.tsv               step and loss, every 100 steps

and manifest.json: the grid it came from, the commits that ran it, and per
run the machine, wall time, steps, tokens seen, the thread settings (which
a replay needs) and the sha256 of every file. `--check` verifies every file
against the manifest. A run whose files are in the release is not trained
again (a fresh clone resumes from the release, not from runs/).
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

from conv_t5 import errors
from conv_t5 import files
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib

PROFILE = "demo/release.gin"
OUT_DIR = "runs/demo-pretrain"
MANIFEST = "manifest.json"
LOSS_FILE = "loss.tsv"
RUNS_FILE = "release_runs.json"  # in out_dir: the commits that ran the grid
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class ReleaseError(errors.ConfigError):
  """The release is missing, incomplete or does not match its manifest."""


def sha256(path):
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def git_commit():
  """HEAD of the checkout this runs from, with "+dirty" if it has changes
  to tracked files; "unknown" outside a git checkout."""
  try:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "-uno"],
                           cwd=REPO, capture_output=True, text=True,
                           check=True)
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def read_manifest(release_dir=None):
  path = os.path.join(release_dir or layout.RELEASE_DIR, MANIFEST)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def losses_from_events(model_dir):
  """[(step, loss)] from the Estimator's summaries in model_dir."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
  out = {}
  for path in sorted(glob.glob(os.path.join(model_dir, "events.out.*"))):
    with deprecation.silence():
      events = list(tf.train.summary_iterator(path))
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
          "wall_seconds": marker["seconds"], "machine": marker["machine"],
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
    run["files"] = {name: sha256(os.path.join(release_dir, rel, name))
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
      if sha256(path) != digest:
        raise ReleaseError(f"{path} does not match the sha256 in "
                           f"{release_dir}/{MANIFEST}: {fix}")
  return manifest


def find_run(manifest, arch, seed):
  for run in manifest["runs"]:
    if (run["arch"], run["seed"]) == (arch, seed):
      return run
  raise ReleaseError(f"the demo release has no run of {arch} for seed {seed}")


def replay_env(manifest, environ=None):
  """The environment a replay runs in: the determinism settings and the
  thread counts every invocation of the release's pre-training used."""
  from conv_t5.training import determinism  # pylint: disable=g-import-not-at-top
  env = dict(os.environ if environ is None else environ)
  env.update(determinism.DETERMINISM_ENV)
  threads = {(i["intra_op_threads"], i["inter_op_threads"])
             for i in manifest["invocations"]}
  if len(threads) != 1:
    raise ReleaseError(f"the release was trained with different thread "
                       f"counts {sorted(threads)}: a replay cannot match")
  intra, inter = threads.pop()
  for key, value in (("TF_NUM_INTRAOP_THREADS", intra),
                     ("TF_NUM_INTEROP_THREADS", inter)):
    if value is None:
      env.pop(key, None)
    else:
      env[key] = value
  return env


def replay(arch, seed, steps, model_dir, release_dir=None):
  """Trains the first `steps` steps of a shipped run again, in this process,
  from its operative_config.gin, seed, task, batch and lengths (as recorded
  in the manifest); returns [(step, loss)] from the new run's summaries.
  Losses equal the shipped loss.tsv when the process runs in replay_env."""
  from conv_t5 import config  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import worker  # pylint: disable=g-import-not-at-top
  release_dir = release_dir or layout.RELEASE_DIR
  run = find_run(check(release_dir), arch, seed)
  worker._prepare_process()  # pylint: disable=protected-access
  from conv_t5.experiments import hooked_model  # pylint: disable=g-import-not-at-top
  config.parse([os.path.join(layout.release_run_dir(release_dir, arch, seed),
                              "operative_config.gin")])
  model = hooked_model.HookedMtfModel(
      model_dir, tpu=None, mesh_shape="", seed=seed,
      batch_size=run["batch_size"], sequence_length=run["sequence_length"])
  model.train(run["task"], steps)
  return losses_from_events(model_dir)


def read_losses(arch, seed, release_dir=None):
  """[(step, loss)] of a shipped run's loss.tsv."""
  path = os.path.join(layout.release_run_dir(
      release_dir or layout.RELEASE_DIR, arch, seed), LOSS_FILE)
  with open(path) as f:
    rows = [line.split("\t") for line in f.read().splitlines()[1:]]
  return [(int(step), float(loss)) for step, loss in rows]


def _record_invocation(out_dir, jobs, env):
  """Appends this invocation (commit, time, workers, threads) to
  <out_dir>/release_runs.json; returns them all."""
  path = os.path.join(out_dir, RUNS_FILE)
  runs = markers.read_json(path) or []
  runs.append({"commit": git_commit(),
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "jobs": jobs,
               "intra_op_threads": env.get("TF_NUM_INTRAOP_THREADS"),
               "inter_op_threads": env.get("TF_NUM_INTEROP_THREADS")})
  files.atomic_write_json(path, runs)
  return runs


def _train(spec, out_dir, units, jobs, env, data_dir):
  """Runs the pre-training stages of `units` on the grid's workers, with the
  grid's progress display; returns 0, 1 (a stage failed) or 130."""
  from conv_t5.experiments import demo  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import pool  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import progress  # pylint: disable=g-import-not-at-top
  display = demo.Display()
  demo.build_data(spec, data_dir, display)
  root = layout.models_root(out_dir)
  todo = [s for u in units for s in u.stages(spec)]
  done = [s.name for s in todo if markers.is_done(s, root)]
  tracker = progress.Tracker(spec, todo, done, jobs)
  pending = [u for u in units
             if not all(markers.is_done(s, root) for s in u.stages(spec))]
  display.line(f"demo release: {len(units)} pre-training runs to write "
               f"({len(done)} already trained) in {out_dir}; "
               f"{min(jobs, max(1, len(pending)))} worker(s); estimated "
               f"{progress.fmt_seconds(tracker.seconds_left())}")
  try:
    status = pool.run(out_dir, pending, jobs, env, tracker, display)
  except KeyboardInterrupt:
    display.clear()
    print("interrupted: finished runs are kept; run the same command again "
          "to resume.", file=sys.stderr)
    return 130
  display.clear()
  return 1 if any(status.values()) else 0


def main(argv=None):
  from conv_t5.experiments import pool  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(prog="python -m conv_t5.experiments.release",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--out_dir", default=OUT_DIR)
  parser.add_argument("--release_dir", default=layout.RELEASE_DIR)
  parser.add_argument("--jobs", type=int, default=None)
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--check", action="store_true",
                      help="only verify the release against its manifest")
  parser.add_argument("--replay", nargs=2, metavar=("ARCH", "SEED"),
                      help="train the first --steps steps of a shipped run "
                           "again into --model_dir and print its losses and "
                           "the shipped ones as JSON (run it in the "
                           "environment release.replay_env gives)")
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--model_dir", default=None)
  parser.add_argument("--gin_param", action="append", default=[],
                      help="a GridSpec binding over " + PROFILE + " (a "
                           "smaller release, for tests)")
  args = parser.parse_args(argv)
  if args.replay and not args.model_dir:
    parser.error("--replay needs --model_dir (where to train)")
  if args.replay:
    arch, seed = args.replay[0], int(args.replay[1])
    got = replay(arch, seed, args.steps, args.model_dir, args.release_dir)
    shipped = [x for x in read_losses(arch, seed, args.release_dir)
               if x[0] <= args.steps]
    print(json.dumps({"replayed": got, "shipped": shipped}))
    return 0 if got == shipped else 1
  if args.check:
    try:
      manifest = check(args.release_dir)
    except ReleaseError as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    print(f"{args.release_dir}: {len(manifest['runs'])} runs, every file "
          "matches its sha256")
    return 0
  out_dir = os.path.abspath(args.out_dir)
  spec = spec_lib.spec_from_gin([PROFILE], args.gin_param)
  released = read_manifest(args.release_dir) or {"runs": []}
  if released["runs"] and released.get("grid") != spec.to_json():
    print(f"error: {args.release_dir} holds a release of another grid; "
          f"delete it (git rm -r) to pre-train {PROFILE} anew",
          file=sys.stderr)
    return 2
  have = {(r["arch"], r["seed"]) for r in released["runs"]}
  todo = [u for u in stages_lib.units(spec) if (u.arch, u.seed) not in have]
  markers.init_out_dir(spec, out_dir)
  jobs = args.jobs or (2 if (os.cpu_count() or 1) >= 2 else 1)
  env = pool.worker_env(args.data_dir, jobs)
  invocations = _record_invocation(out_dir, jobs, env)
  code = _train(spec, out_dir, todo, jobs, env, args.data_dir)
  if code == 130:
    return code
  root = layout.models_root(out_dir)
  finished = [u for u in todo
              if all(markers.is_done(s, root) for s in u.stages(spec))]
  runs = list(released["runs"])
  for unit in finished:
    runs.append(export_run(spec, unit, out_dir, args.release_dir))
  if finished:
    before = released.get("invocations", [])
    write_manifest(spec, runs, before + [i for i in invocations
                                         if i not in before],
                   args.release_dir)
  total = len(stages_lib.units(spec))
  print(f"release: {len(runs)} of {total} runs in {args.release_dir}"
        + (f" ({len(finished)} new)" if finished else ""))
  if len(runs) < total:
    print("run `make demo-pretrain` again to go on (finished runs are kept)")
    return code or 1
  check(args.release_dir)
  print(os.path.join(args.release_dir, MANIFEST))
  return 0


if __name__ == "__main__":
  sys.exit(main())
