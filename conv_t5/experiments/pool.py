"""The driver's side of the worker processes: start them, hand out units.

`jobs` workers (experiments.worker) run side by side, each on its share of
the cores; a worker that is ready, or has finished a unit, gets the next
pending unit (an architecture and a seed) on its stdin, so the cores stay
busy until the queue is empty. Every line a worker prints is either a
progress event (PROGRESS_PREFIX + JSON, fed to the tracker) or goes to its
log, <out_dir>/logs/worker<k>.log, with everything it writes to stderr.
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


def _read_lines(k, pipe, q):
  for line in pipe:
    q.put((k, line))
  q.put((k, None))


def run(out_dir, units, jobs, env, tracker, display):
  """Runs `units` (stages.Unit) on at most `jobs` workers.

  Returns:
    {unit name: status} (0: every stage done) for every unit handed out;
    a worker that died takes its unit with it (status -1).
  """
  log_dir = os.path.join(out_dir, "logs")
  os.makedirs(log_dir, exist_ok=True)
  waiting = list(units)
  workers, current, status = {}, {}, {}
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

  try:
    for k in range(min(jobs, len(waiting))):
      log = open(os.path.join(log_dir, f"worker{k}.log"), "a")
      proc = subprocess.Popen(
          [sys.executable, "-m", "conv_t5.experiments.worker", "--worker",
           "--out_dir", out_dir],
          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
          text=True)
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
        if k in current:
          status[current.pop(k)] = -1
          display.line(f"FAILED worker {k} (exit status {code}); see "
                       f"{log_dir}/worker{k}.log")
        continue
      if not line.startswith(worker.PROGRESS_PREFIX):
        log.write(line)
        continue
      event = json.loads(line[len(worker.PROGRESS_PREFIX):])
      if event["ev"] == "unit_done":
        status[event["unit"]] = event["status"]
        current.pop(k, None)
      if event["ev"] in ("ready", "unit_done"):
        hand_out(k)
        continue
      text = tracker.event(event)
      if text:
        display.line(text)
      display.status(tracker.status())
  finally:
    for proc, log in workers.values():  # interrupted: stop the workers
      if proc.poll() is None:
        proc.terminate()
    for proc, log in workers.values():
      proc.wait()
      log.close()
  return status
