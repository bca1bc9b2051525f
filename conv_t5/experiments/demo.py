"""`make demo`: the paper's grid at small scale, offline, on the CPU.

    python -m conv_t5.demo [--quick] [--out_dir DIR] [--data_dir DIR] [--jobs N]
                           [--gin_file PROFILE.gin] [--gin_param BINDING]...

Builds the offline demo data if needed (conv_t5.tasks.demo_data), then runs
the grid of gin/demo/default.gin (--quick: gin/demo/quick.gin) through t5's
MtfModel in worker processes (conv_t5.experiments.worker): every
architecture pre-trained with span corruption, every task fine-tuned from
that checkpoint and from scratch, each evaluated by t5's eval. Prints
progress (stage, step, time left), then the table, and writes results.md,
results.png and results.json to the output directory (default runs/demo, or
runs/demo-quick); the JSON's path is printed last.

Re-running with the same output directory skips finished stages and resumes
interrupted ones from their checkpoints. The results files are written only
when every stage has finished, so a failed or interrupted run never replaces
the results of a finished one. Worker logs: <out_dir>/logs/<arch>.log.
"""

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

from conv_t5 import errors
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import progress
from conv_t5.experiments import results
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib
from conv_t5.experiments import worker
from conv_t5.training import determinism

PROFILES = {"default": "demo/default.gin", "quick": "demo/quick.gin"}


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


def _worker_env(data_dir, jobs):
  env = dict(os.environ)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env.setdefault("CUDA_VISIBLE_DEVICES", "")
  env["PYTHONUNBUFFERED"] = "1"
  for key, value in determinism.DETERMINISM_ENV.items():  # for seeded runs
    env.setdefault(key, value)
  if data_dir:
    env["CONV_T5_DATA_DIR"] = os.path.abspath(data_dir)
  if jobs > 1:  # share the cores between the workers
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    env.setdefault("TF_NUM_INTEROP_THREADS", threads)
  return env


def _read_lines(arch, pipe, q):
  for line in pipe:
    q.put((arch, line))
  q.put((arch, None))


def run_workers(out_dir, archs, jobs, env, tracker, display):
  """Runs one worker per architecture, at most `jobs` at a time.

  Returns:
    {arch: exit status}.
  """
  log_dir = os.path.join(out_dir, "logs")
  os.makedirs(log_dir, exist_ok=True)
  waiting, running, status = list(archs), {}, {}
  q = queue.Queue()
  try:
    while waiting or running:
      while waiting and len(running) < jobs:
        arch = waiting.pop(0)
        log = open(os.path.join(log_dir, f"{arch}.log"), "a")
        proc = subprocess.Popen(
            [sys.executable, "-m", "conv_t5.experiments.worker", "--worker",
             "--out_dir", out_dir, "--arch", arch],
            stdout=subprocess.PIPE, stderr=log, env=env, text=True)
        running[arch] = (proc, log)
        tracker.worker_started(arch)
        threading.Thread(target=_read_lines, args=(arch, proc.stdout, q),
                         daemon=True).start()
      try:
        arch, line = q.get(timeout=0.5)
      except queue.Empty:
        display.status(tracker.status())
        continue
      if line is None:
        proc, log = running.pop(arch)
        status[arch] = proc.wait()
        log.close()
        if status[arch] != 0 and not any(
            n.startswith(arch + "/") for n in tracker.failed):
          display.line(f"FAILED worker {arch} (exit status {status[arch]}); "
                       f"see {log_dir}/{arch}.log")
        continue
      if line.startswith(worker.PROGRESS_PREFIX):
        text = tracker.event(json.loads(line[len(worker.PROGRESS_PREFIX):]))
        if text:
          display.line(text)
        display.status(tracker.status())
      else:
        running[arch][1].write(line)
  finally:
    for proc, log in running.values():  # interrupted: stop the workers
      proc.terminate()
    for proc, log in running.values():
      proc.wait()
      log.close()
  return status


def collect(spec, out_dir):
  """The table from t5's eval outputs in the grid's model dirs."""
  root = layout.models_root(out_dir)
  evals = [s for s in stages_lib.stages(spec) if s.kind == "eval"]
  done = [s for s in evals if markers.is_done(s, root)]
  records = results.collect([s.model_dir(root) for s in done],
                            split=spec.eval_split)
  return results.build_table(records, archs=spec.archs, tasks=spec.tasks)


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


def write_results(table, spec, out_dir):
  """Writes results.{md,png,json} unless results.json already says the same."""
  payload = dict(table, **_run_info(spec, out_dir))
  path = os.path.join(out_dir, "results.json")
  if os.path.exists(path):
    with open(path) as f:
      if json.load(f) == json.loads(json.dumps(payload)):
        return {k: os.path.join(out_dir, f"results.{k}")
                for k in ("md", "png", "json")}, False
  return results.write_all(table, out_dir, _run_info(spec, out_dir)), True


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
  parser.add_argument("--quick", action="store_true",
                      help="the small grid of gin/demo/quick.gin (<= 3 min)")
  parser.add_argument("--out_dir", default=None,
                      help="default runs/demo (runs/demo-quick with --quick)")
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


def _interrupt(signum, frame):
  del frame
  raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
  args = parse_args(argv)
  signal.signal(signal.SIGTERM, _interrupt)  # stop the workers, keep results
  t0 = time.time()
  display = Display()
  profile = args.gin_file or [PROFILES["quick" if args.quick else "default"]]
  out_dir = os.path.abspath(args.out_dir or (
      "runs/demo-quick" if args.quick else "runs/demo"))
  jobs = args.jobs or (2 if (os.cpu_count() or 1) >= 2 else 1)
  try:
    spec = spec_lib.spec_from_gin(profile, args.gin_param)
    markers.init_out_dir(spec, out_dir)
  except (spec_lib.GridMismatchError, ValueError, IOError) as e:
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
  pending_archs = [a for a in spec.archs
                   if any(s.arch == a and s.name not in done for s in all_stages)]
  display.line(
      f"grid: {len(spec.archs)} architectures x {len(spec.tasks)} tasks, "
      f"{len(all_stages)} stages ({len(done)} already done) in {out_dir}; "
      f"{min(jobs, max(1, len(pending_archs)))} worker(s); "
      f"estimated {progress.fmt_seconds(tracker.seconds_left())}")
  try:
    status = run_workers(out_dir, pending_archs, jobs,
                         _worker_env(args.data_dir, jobs), tracker, display)
  except KeyboardInterrupt:
    display.clear()
    print("interrupted: finished stages are kept; run the same command again "
          "to resume.", file=sys.stderr)
    return 130
  display.clear()

  table = collect(spec, out_dir)
  print()
  print(results.to_markdown(table))
  print()
  missing = [s.name for s in all_stages if not markers.is_done(s, root)]
  wall = progress.fmt_seconds(time.time() - t0)
  if missing or any(status.values()):
    print(f"INCOMPLETE after {wall}: {len(missing)} stage(s) not done "
          f"({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}); "
          "the results files were not written. Logs: "
          f"{out_dir}/logs. Run the same command again to resume.")
    return 1
  paths, written = write_results(table, spec, out_dir)
  print(f"grid complete: wall time {wall} for this invocation "
        f"({len(done)} of {len(all_stages)} stages were already done)")
  print(f"{'wrote' if written else 'unchanged'}: {paths['md']}, {paths['png']}")
  print(paths["json"])
  return 0


if __name__ == "__main__":
  sys.exit(main())
