"""`make demo-pretrain`: the demo release, pre-trained once.

    python -m conv_t5.experiments.demo_pretrain [--out_dir runs/demo-pretrain]
        [--release_dir DIR] [--jobs N] [--data_dir DIR]
    python -m conv_t5.experiments.demo_pretrain --check [--release_dir DIR]
    python -m conv_t5.experiments.demo_pretrain --replay ARCH SEED
        --model_dir DIR [--steps 200]

Pre-trains every architecture and seed of gin/demo/release.gin (the grid's
pre-training stages alone, through its workers: live progress, resumable, a
resumed stage skipping the data it has seen), then writes each finished run
into the release (experiments.release: files and manifest). A run already in
the release is not trained again, so a fresh clone goes on from the shipped
release, not from runs/. `--check` verifies the release against its
manifest; `--replay` trains the first steps of a shipped run again from its
operative config and seed and compares the losses with its loss.tsv (run it
in the environment `replay_env` gives: tests/experiments/test_release.py).
"""

import argparse
import json
import os
import signal
import sys
import time

from conv_t5 import files
from conv_t5 import machine
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import release
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib

OUT_DIR = "runs/demo-pretrain"
RUNS_FILE = "release_runs.json"  # in out_dir: the invocations that trained
REPO = release.REPO


def replay_env(manifest, environ=None):
  """The environment a replay runs in: the determinism settings and the
  thread counts every invocation of the release's pre-training used."""
  from conv_t5.training import determinism  # pylint: disable=g-import-not-at-top
  env = dict(os.environ if environ is None else environ)
  env.update(determinism.DETERMINISM_ENV)
  threads = {(i["intra_op_threads"], i["inter_op_threads"])
             for i in manifest["invocations"]}
  if len(threads) != 1:
    raise release.ReleaseError(
        f"the release was trained with different thread counts "
        f"{sorted(threads)}: a replay cannot match")
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
  in the manifest); returns [(step, loss)] of every step, from the new run's
  summaries. Losses equal the shipped loss.tsv's at its steps when the
  process runs in replay_env."""
  from conv_t5 import config  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import worker  # pylint: disable=g-import-not-at-top
  release_dir = release_dir or layout.RELEASE_DIR
  run = release.find_run(release.check(release_dir), arch, seed)
  worker._prepare_process()  # pylint: disable=protected-access
  from conv_t5.experiments import hooked_model  # pylint: disable=g-import-not-at-top
  # A summary every step: which step the Estimator's every-100-steps
  # summary lands on varies by one between runs (its hook reads the global
  # step while the step increments it), the loss of a given step does not.
  config.parse([os.path.join(layout.release_run_dir(release_dir, arch, seed),
                              "operative_config.gin")],
               ["conv_t5.train_model.summary_steps = 1"])
  model = hooked_model.HookedMtfModel(
      model_dir, tpu=None, mesh_shape="", seed=seed,
      batch_size=run["batch_size"], sequence_length=run["sequence_length"])
  model.train(run["task"], steps)
  return release.losses_from_events(model_dir)


def _record_invocation(out_dir, jobs, env):
  """Appends this invocation (commit, time, workers, threads) to
  <out_dir>/release_runs.json; returns them all."""
  path = os.path.join(out_dir, RUNS_FILE)
  runs = markers.read_json(path) or []
  runs.append({"commit": machine.git_commit(),
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "jobs": jobs,
               "intra_op_threads": env.get("TF_NUM_INTRAOP_THREADS"),
               "inter_op_threads": env.get("TF_NUM_INTEROP_THREADS")})
  files.atomic_write_json(path, runs)
  return runs


def _train(spec, out_dir, units, jobs, env, data_dir, on_unit_done):
  """Runs the pre-training stages of `units` on the grid's workers, with the
  grid's progress display, calling on_unit_done(unit name, status) as each
  ends; returns 0, 1 (a stage failed) or 130."""
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
    status = pool.run(out_dir, pending, jobs, env, tracker, display,
                      on_unit_done)
  except KeyboardInterrupt:
    display.clear()
    print("interrupted: finished runs are kept; run the same command again "
          "to resume.", file=sys.stderr)
    return 130
  display.clear()
  return 1 if any(status.values()) else 0


def parse_args(argv):
  parser = argparse.ArgumentParser(
      prog="python -m conv_t5.experiments.demo_pretrain",
      description=__doc__.split("\n\n")[0])
  parser.add_argument("--out_dir", default=OUT_DIR)
  parser.add_argument("--release_dir", default=layout.RELEASE_DIR)
  parser.add_argument("--jobs", type=int, default=None,
                      help="workers side by side (default: 2 if the machine "
                           "has 2+ cores, else 1)")
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--gin_param", action="append", default=[],
                      help="a GridSpec binding over " + release.PROFILE +
                           " (a smaller release, for tests)")
  parser.add_argument("--check", action="store_true",
                      help="only verify the release against its manifest")
  parser.add_argument("--replay", nargs=2, metavar=("ARCH", "SEED"),
                      help="train the first --steps steps of a released run "
                           "again into --model_dir; print the new losses and "
                           "the released ones as JSON")
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--model_dir", default=None)
  args = parser.parse_args(argv)
  if args.replay and not args.model_dir:
    parser.error("--replay needs --model_dir (where to train)")
  return args


def _check_command(release_dir):
  try:
    manifest = release.check(release_dir)
  except release.ReleaseError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  from conv_t5.experiments import progress  # pylint: disable=g-import-not-at-top
  for run in manifest["runs"]:
    part = run.get("wall_steps", run["steps"])
    resumed = (f" for its last {part:,} steps (resumed from step "
               f"{run['steps'] - part:,})" if part < run["steps"] else "")
    print(f"  {run['arch']} seed {run['seed']}: {run['steps']} steps, "
          f"{run['tokens_seen']:,} tokens, "
          f"{progress.fmt_seconds(run['wall_seconds'])}{resumed} on "
          f"{run['machine']['cpu']} ({run['machine']['nproc']} CPUs)")
  commits = ", ".join(dict.fromkeys(
      i["commit"] for i in manifest.get("invocations", [])))
  print(f"{release_dir}: {len(manifest['runs'])} runs (trained at "
        f"{commits or 'unknown commits'}), every file matches its sha256")
  return 0


def _replay_command(args):
  arch, seed = args.replay[0], int(args.replay[1])
  got = dict(replay(arch, seed, args.steps, args.model_dir,
                    args.release_dir))
  shipped = [x for x in release.read_losses(arch, seed, args.release_dir)
             if x[0] <= args.steps]
  replayed = [[step, got.get(step)] for step, _ in shipped]
  print(json.dumps({"replayed": replayed, "shipped": shipped}))
  return 0 if replayed == [list(x) for x in shipped] else 1


def _export(spec, out_dir, release_dir, invocations):
  """Writes every pre-training run finished in out_dir and not yet in the
  release into it, then the manifest (so the release on disk is always
  whole); returns the release's runs."""
  root = layout.models_root(out_dir)
  released = release.read_manifest(release_dir) or {"runs": []}
  have = {(r["arch"], r["seed"]) for r in released["runs"]}
  finished = [u for u in stages_lib.units(spec) if (u.arch, u.seed) not in have
              and all(markers.is_done(s, root) for s in u.stages(spec))]
  runs = list(released["runs"])
  if finished:
    runs += [release.export_run(spec, u, out_dir, release_dir)
             for u in finished]
    before = released.get("invocations", [])
    release.write_manifest(
        spec, runs, before + [i for i in invocations if i not in before],
        release_dir)
  return runs


def main(argv=None):
  from conv_t5.experiments import demo  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import pool  # pylint: disable=g-import-not-at-top
  args = parse_args(argv)
  if args.replay:
    return _replay_command(args)
  if args.check:
    return _check_command(args.release_dir)
  signal.signal(signal.SIGTERM, demo._interrupt)  # pylint: disable=protected-access
  out_dir = os.path.abspath(args.out_dir)
  try:
    spec = spec_lib.spec_from_gin([release.PROFILE], args.gin_param)
    released = release.read_manifest(args.release_dir) or {"runs": []}
    if released["runs"] and spec_lib.GridSpec.from_json(
        released["grid"]).to_json() != spec.to_json():
      raise ValueError(
          f"{args.release_dir} holds a release of another grid; delete it "
          f"(git rm -r) to pre-train {release.PROFILE} anew")
    lock = demo.lock_out_dir(out_dir)
    if lock is None:
      raise ValueError(f"another run holds {out_dir}; wait for it to end, "
                       "or use another --out_dir")
    markers.init_out_dir(spec, out_dir)
  except (ValueError, IOError) as e:  # GridMismatchError is a ValueError
    print(f"error: {e}", file=sys.stderr)
    return 2
  jobs = args.jobs or (2 if (os.cpu_count() or 1) >= 2 else 1)
  env = pool.worker_env(args.data_dir, jobs)
  invocations = _record_invocation(out_dir, jobs, env)
  runs = _export(spec, out_dir, args.release_dir, invocations)  # catch up
  have = {(r["arch"], r["seed"]) for r in runs}
  todo = [u for u in stages_lib.units(spec) if (u.arch, u.seed) not in have]

  def export_finished(unit, status):
    if status == 0:
      _export(spec, out_dir, args.release_dir, invocations)
      print(f"exported {unit} into {args.release_dir}")
  code = _train(spec, out_dir, todo, jobs, env, args.data_dir,
                export_finished)
  if code == 130:
    return code
  runs = _export(spec, out_dir, args.release_dir, invocations)
  print(f"release: {len(runs)} of {len(stages_lib.units(spec))} runs in "
        f"{args.release_dir}")
  if len(runs) < len(stages_lib.units(spec)):
    print("run `make demo-pretrain` again to go on (finished runs are kept)")
    return code or 1
  release.check(args.release_dir)
  print(os.path.join(args.release_dir, release.MANIFEST))
  return 0


if __name__ == "__main__":
  sys.exit(main())
