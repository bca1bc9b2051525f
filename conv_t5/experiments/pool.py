"""The driver's side of the worker processes: start them, hand out units.

`jobs` workers (experiments.worker) run side by side, each on its share of
the cores; a worker that is ready, or has finished a unit, gets the next
pending unit (an architecture and a seed) on its stdin, so the cores stay
busy until the queue is empty. Every line a worker prints is either a
progress event (PROGRESS_PREFIX + JSON, fed to the tracker) or goes to its
log, <out_dir>/logs/worker<k>.log, with everything it writes to stderr.

A worker that exits before it is ready (an import error, a bad --out_dir)
or in the middle of a unit is reported in one line (the worker, its exit
status, the last lines of its log); its unit comes back with status -1, and
so do the units still waiting when no worker is left.
"""

import json
import os
import queue
import subprocess
import sys
import threading

from conv_t5.experiments import worker
from conv_t5.training import determinism


def worker_env(data_dir, jobs, environ=None):
  """The workers' environment: quiet TF, CPU only, the determinism settings
  and, with several workers, the cores shared between them."""
  env = dict(os.environ if environ is None else environ)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env.setdefault("CUDA_VISIBLE_DEVICES", "")
  env["PYTHONUNBUFFERED"] = "1"
  for key, value in determinism.DETERMINISM_ENV.items():  # for seeded runs
    env.setdefault(key, value)
  if data_dir:
    env["CONV_T5_DATA_DIR"] = os.path.abspath(data_dir)
  if jobs > 1:
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    env.setdefault("TF_NUM_INTEROP_THREADS", threads)
  return env


LOG_TAIL_LINES = 3  # of a dead worker's log, in its one-line report


def worker_command(out_dir):
  """The command that starts a worker (the tests put a fake one here)."""
  return [sys.executable, "-m", "conv_t5.experiments.worker", "--worker",
          "--out_dir", out_dir]


def log_tail(path, lines=LOG_TAIL_LINES):
  """The last `lines` non-blank lines of a log, joined with " | "."""
  try:
    with open(path, "rb") as f:
      f.seek(max(0, os.path.getsize(path) - 65536))  # logs can be long
      text = f.read().decode("utf-8", errors="replace")
  except OSError as e:
    return f"(no log: {e.strerror})"
  kept = [line.strip() for line in text.splitlines() if line.strip()]
  return " | ".join(kept[-lines:]) or "(the log is empty)"


def death_line(k, code, log_path, unit=None):
  """The one line that reports worker k's exit (before ready: unit None)."""
  when = f"while running {unit}" if unit else "before it was ready"
  return (f"FAILED worker {k} exited with status {code} {when}; the last "
          f"lines of {log_path}: {log_tail(log_path)}")


def _read_lines(k, pipe, q):
  for line in pipe:
    q.put((k, line))
  q.put((k, None))


def run(out_dir, units, jobs, env, tracker, display, on_unit_done=None):
  """Runs `units` (stages.Unit) on at most `jobs` workers.

  on_unit_done: called with (unit name, status) as each unit a worker ran
  ends, after the worker got its next unit (the release exports a finished
  pre-training run at once).

  Returns:
    {unit name: status} for every unit: 0 (every stage done), 1 (a stage
    failed), or -1: the worker running it died, or no worker was left to
    run it (every dead worker is reported by display.line: death_line).
  """
  log_dir = os.path.join(out_dir, "logs")
  os.makedirs(log_dir, exist_ok=True)
  waiting = list(units)
  workers, current, status, ready = {}, {}, {}, set()
  q = queue.Queue()

  def hand_out(k):
    proc = workers[k][0]
    command = "exit"
    if waiting:
      unit = waiting.pop(0)
      current[k] = unit.name
      tracker.unit_started(unit.name)
      command = f"run {unit.name}"
    else:
      current.pop(k, None)
    try:
      proc.stdin.write(command + "\n")
      proc.stdin.flush()
    except BrokenPipeError:  # it died: its exit is reported below
      pass

  def log_path(k):
    return os.path.join(log_dir, f"worker{k}.log")

  try:
    for k in range(min(jobs, len(waiting))):
      log = open(log_path(k), "a", encoding="utf-8")
      proc = subprocess.Popen(
          worker_command(out_dir), stdin=subprocess.PIPE,
          stdout=subprocess.PIPE, stderr=log, env=env, text=True)
      workers[k] = (proc, log)
      threading.Thread(target=_read_lines, args=(k, proc.stdout, q),
                       daemon=True).start()
    alive = set(workers)
    while alive:
      try:
        k, line = q.get(timeout=0.5)
      except queue.Empty:
        display.status(tracker.status())
        continue
      proc, log = workers[k]
      if line is None:  # the worker exited
        alive.discard(k)
        code = proc.wait()
        unit = current.pop(k, None)
        if unit is not None:
          status[unit] = -1
        if unit is not None or k not in ready:
          display.line(death_line(k, code, log_path(k), unit))
        continue
      if not line.startswith(worker.PROGRESS_PREFIX):
        log.write(line)
        log.flush()  # in order with what the worker writes to stderr
        continue
      event = json.loads(line[len(worker.PROGRESS_PREFIX):])
      if event["ev"] == "ready":
        ready.add(k)
      if event["ev"] == "unit_done":
        status[event["unit"]] = event["status"]
        current.pop(k, None)
      if event["ev"] in ("ready", "unit_done"):
        hand_out(k)
        if event["ev"] == "unit_done" and on_unit_done:
          on_unit_done(event["unit"], event["status"])
        continue
      text = tracker.event(event)
      if text:
        display.line(text)
      display.status(tracker.status())
    if waiting:  # every worker died: nobody runs these
      for unit in waiting:
        status[unit.name] = -1
      display.line(f"FAILED {len(waiting)} unit(s) not run, no worker left: "
                   f"{', '.join(u.name for u in waiting)}")
  finally:
    for proc, log in workers.values():  # interrupted: stop the workers
      if proc.poll() is None:
        proc.terminate()
    for proc, log in workers.values():
      proc.wait()
      log.close()
  return status
