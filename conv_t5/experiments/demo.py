"""`make demo`: the paper's grid at small scale, offline, on the CPU.

    python -m conv_t5.demo [--quick | --full] [--out_dir DIR] [--data_dir DIR]
                           [--jobs N] [--gin_file PROFILE.gin]
                           [--gin_param BINDING]...

Builds the offline demo data if needed (conv_t5.tasks.demo_data), then runs
the grid of gin/demo/default.gin (--quick: gin/demo/quick.gin, --full:
gin/demo/full.gin) through t5's MtfModel in worker processes
(conv_t5.experiments.worker): every architecture fine-tuned from its
checkpoint in the shipped demo release (GridSpec.pretrained_from; a missing
or changed release stops the run with one message naming `make
demo-pretrain`: the grid never pre-trains silently) and (GridSpec.
scratch_archs) from scratch, once per seed, each evaluated by t5's eval; a
profile with GridSpec.pretrained_from = '' (gin/demo/own_pretraining.gin)
pre-trains in the grid first. Prints progress
(stage, step, time left), then the table and the verdicts, and writes
results.md, results.png and results.json to the output directory (default
runs/demo, runs/demo-quick or runs/demo-full); the JSON's path is printed
last.

Re-running with the same output directory skips finished stages and resumes
interrupted ones from their checkpoints. The results files are written only
when every stage has finished, so a failed or interrupted run never replaces
the results of a finished one. Each worker process logs to
<out_dir>/logs/worker<k>.log (conv_t5.experiments.pool).
"""

import argparse
import fcntl
import json
import os
import shutil
import signal
import sys
import time

from conv_t5 import errors
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import pool
from conv_t5.experiments import progress
from conv_t5.experiments import results
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib

PROFILES = {"default": "demo/default.gin", "quick": "demo/quick.gin",
            "full": "demo/full.gin"}
OUT_DIRS = {"default": "runs/demo", "quick": "runs/demo-quick",
            "full": "runs/demo-full"}
LOCK_FILE = ".lock"


class Display:
  """Permanent lines plus a status line (redrawn in place on a terminal)."""

  def __init__(self, stream=sys.stdout, interval=None):
    self.stream = stream
    self.tty = stream.isatty()
    self.interval = interval or (0.5 if self.tty else 15.0)
    self._last = 0.0
    self._status = ""

  def line(self, text):
    if self.tty and self._status:
      self.stream.write("\r\033[K")
    self.stream.write(text + "\n")
    if self.tty and self._status:
      self.stream.write(self._status)
    self.stream.flush()

  def status(self, text, force=False):
    now = time.time()
    if not force and now - self._last < self.interval:
      return
    self._last = now
    if self.tty:  # one screen line, redrawn in place
      width = shutil.get_terminal_size().columns - 1
      self._status = text if len(text) <= width else text[:width - 3] + "..."
      self.stream.write("\r\033[K" + self._status)
    else:
      self.stream.write(text + "\n")
    self.stream.flush()

  def clear(self):
    if self.tty and self._status:
      self.stream.write("\r\033[K")
      self.stream.flush()
    self._status = ""


def _run_info(spec, out_dir):
  """What the results JSON records besides the table: the grid, machines and
  compute time, all from the stage markers (the same on every re-run)."""
  root = layout.models_root(out_dir)
  machines, seconds = [], 0.0
  for stage in stages_lib.stages(spec):
    marker = markers.read_marker(stage, root) or {}
    seconds += marker.get("seconds", 0.0)
    if marker.get("machine") and marker["machine"] not in machines:
      machines.append(marker["machine"])
  return {"grid": spec.to_json(), "machines": machines,
          "stage_seconds_total": round(seconds, 1)}


def write_results(table, control, found, spec, out_dir):
  """Writes results.{md,png,json} unless results.json already says the same."""
  extra = dict(_run_info(spec, out_dir),
               **results.verdict_fields(control, found))
  payload = dict(table, **extra)
  path = os.path.join(out_dir, "results.json")
  if os.path.exists(path):
    with open(path) as f:
      if json.load(f) == json.loads(json.dumps(payload)):
        return {k: os.path.join(out_dir, f"results.{k}")
                for k in ("md", "png", "json")}, False
  return results.write_all(table, out_dir, extra), True


def build_data(spec, data_dir, display):
  """Builds the offline demo data when the grid uses demo tasks."""
  if not any(t.startswith("demo_") for t in (spec.pretrain_task, *spec.tasks)):
    return
  if data_dir:
    os.environ["CONV_T5_DATA_DIR"] = os.path.abspath(data_dir)
  from conv_t5.tasks import demo_data  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  paths = demo_data.build(data_dir, log=lambda m: display.line(f"  data: {m}"))
  display.line(f"demo data: {paths['data_dir']} ({time.time() - t0:.0f} s)")


def parse_args(argv):
  parser = argparse.ArgumentParser(prog="python -m conv_t5.demo",
                                   description=__doc__.split("\n\n")[0])
  size = parser.add_mutually_exclusive_group()
  size.add_argument("--quick", action="store_true",
                    help="the small grid of gin/demo/quick.gin (a few minutes)")
  size.add_argument("--full", action="store_true",
                    help="the larger grid of gin/demo/full.gin (docs/demo.md)")
  parser.add_argument("--out_dir", default=None,
                      help="default runs/demo (runs/demo-quick with --quick, "
                           "runs/demo-full with --full)")
  parser.add_argument("--data_dir", default=None,
                      help="demo data; default $CONV_T5_DATA_DIR or "
                           "~/.cache/conv_t5/data")
  parser.add_argument("--no_data_build", action="store_true",
                      help="use the data dir as it is (do not build or verify)")
  parser.add_argument("--jobs", type=int, default=None,
                      help="workers side by side (default: 2 if the machine "
                           "has 2+ cores, else 1)")
  parser.add_argument("--gin_file", action="append", default=None,
                      help="grid profile(s) instead of gin/demo/default.gin")
  parser.add_argument("--gin_param", action="append", default=[],
                      help="extra binding, e.g. 'GridSpec.pretrain_steps = 50'")
  return parser.parse_args(argv)


def lock_out_dir(out_dir):
  """An exclusive lock on <out_dir>/.lock (flock, not waiting): its file
  descriptor, or None if another process holds it. The lock goes with the
  descriptor: closed, or the process gone (killed too), it is released."""
  os.makedirs(out_dir, exist_ok=True)
  fd = os.open(os.path.join(out_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    os.close(fd)
    return None
  return fd


def _interrupt(signum, frame):
  del frame
  raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
  args = parse_args(argv)
  size = "quick" if args.quick else "full" if args.full else "default"
  out_dir = os.path.abspath(args.out_dir or OUT_DIRS[size])
  lock = lock_out_dir(out_dir)
  if lock is None:
    print(f"error: another run holds {out_dir} (it has the lock "
          f"{os.path.join(out_dir, LOCK_FILE)}); wait for it to end, or use "
          "another --out_dir.", file=sys.stderr)
    return 2
  try:
    return _run(args, size, out_dir)
  finally:
    os.close(lock)


def _run(args, size, out_dir):
  """main's work, with the out_dir locked."""
  signal.signal(signal.SIGTERM, _interrupt)  # stop the workers, keep results
  t0 = time.time()
  display = Display()
  profile = args.gin_file or [PROFILES[size]]
  jobs = args.jobs or (2 if (os.cpu_count() or 1) >= 2 else 1)
  try:
    spec = spec_lib.spec_from_gin(profile, args.gin_param)
    if spec.release_dir:  # never pre-train silently: the release must be whole
      from conv_t5.experiments import release  # pylint: disable=g-import-not-at-top
      spec = release.with_release_pretraining(spec)
    markers.init_out_dir(spec, out_dir)
  except (spec_lib.GridMismatchError, ValueError, IOError,
          errors.ConfigError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  try:
    if args.no_data_build:
      if args.data_dir:
        os.environ["CONV_T5_DATA_DIR"] = os.path.abspath(args.data_dir)
    else:
      build_data(spec, args.data_dir, display)
  except errors.ConfigError as e:
    print(f"error: the demo data: {e}", file=sys.stderr)
    return 2

  root = layout.models_root(out_dir)
  all_stages = stages_lib.stages(spec)
  done = [s.name for s in all_stages if markers.is_done(s, root)]
  tracker = progress.Tracker(spec, all_stages, done, jobs)
  pending = [u for u in stages_lib.units(spec)
             if any(s.name not in done for s in u.stages(spec))]
  display.line(
      f"grid: {len(spec.archs)} architectures x {len(spec.seeds)} seed(s), "
      f"fine-tuned on {', '.join(spec.tasks)}"
      + (f" from the release in {spec.release_dir} ({spec.pretrain_steps} "
         "pre-training steps)" if spec.release_dir else "")
      + f"; {len(all_stages)} stages "
      f"({len(done)} already done) in {out_dir}; "
      f"{min(jobs, max(1, len(pending)))} worker(s); "
      f"estimated {progress.fmt_seconds(tracker.seconds_left())}")
  try:
    status = pool.run(out_dir, pending, jobs,
                      pool.worker_env(args.data_dir, jobs), tracker, display)
  except KeyboardInterrupt:
    display.clear()
    print("interrupted: finished stages are kept; run the same command again "
          "to resume.", file=sys.stderr)
    return 130
  display.clear()

  table, control, found, text = results.grid_report(spec, out_dir)
  print()
  print(text)
  print()
  missing = [s.name for s in all_stages if not markers.is_done(s, root)]
  wall = progress.fmt_seconds(time.time() - t0)
  if missing or any(status.values()):
    print(f"INCOMPLETE after {wall}: {len(missing)} stage(s) not done "
          f"({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}); "
          "the results files were not written. Logs: "
          f"{out_dir}/logs. Run the same command again to resume.")
    return 1
  paths, written = write_results(table, control, found, spec, out_dir)
  print(f"grid complete: wall time {wall} for this invocation "
        f"({len(done)} of {len(all_stages)} stages were already done)")
  print(f"{'wrote' if written else 'unchanged'}: {paths['md']}, {paths['png']}")
  print(paths["json"])
  return 0


if __name__ == "__main__":
  sys.exit(main())
