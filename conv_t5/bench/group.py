"""Runs the models of one (size, workload, shape) group: build, warm up, interleave.

Workers are admitted one by one while the machine has room for another's
peak (estimated from the largest peak seen so far in the group, or the
model's peak at a smaller point); the admitted "wave" is then timed round-robin,
one step of each worker per repetition, the order rotating between
repetitions. The next wave follows. With the system allocator (the
benchmark's default) an idle worker holds ~1.5 GB and a whole group usually
fits in one wave; with TF's pooling allocator (--pooled_allocator) an idle
worker keeps its peak and waves are smaller. A worker killed because the machine ran out of memory
while others of its wave were alive is retried alone; only a worker that
exceeds the budget on its own is recorded as "oom".
"""

import os
import time

from conv_t5.bench import points
from conv_t5.bench import proc
from conv_t5.bench import report


class GroupRun:
  """One group; `run()` returns its records in the order of the points."""

  def __init__(self, runner, points):
    self.runner = runner
    self.args = runner.args
    self.points = points
    self.records = {p["model"]: report.new_record(p) for p in points}
    self.queue = []
    self.alone = []
    for p in points:
      reason = runner.skip_reason(p)
      if reason:
        self.records[p["model"]].update(status="oom", note=reason)
      else:
        self.queue.append(p)

  def run(self):
    while self.queue or self.alone:
      if self.queue:
        wave = self._admit(self.queue, siblings_allowed=True)
      else:
        wave = self._admit([self.alone.pop(0)], siblings_allowed=False)
      self._time(wave)
      self._finish(wave)
    return [self.records[p["model"]] for p in self.points]

  def _start(self, p):
    name = points.file_stem(p) + ".log"
    return proc.Child(points.worker_module(p["workload"]), p,
                      self.runner.guard,
                      os.path.join(self.runner.log_dir, name))

  def _fail(self, p, child, err, wave):
    child.close()
    if err.status == "oom" and err.machine_low and wave:
      self.alone.append(p)  # ran out beside its wave: retry on its own
    else:
      self.records[p["model"]].update(status=err.status, note=err.note)

  def _room_for(self, p, wave, peaks, building, siblings_allowed):
    """Whether one more worker fits beside the wave and those building."""
    if not wave and not building:
      return True
    if not siblings_allowed:
      return False
    need = max(peaks + [self.runner.known_peak(p)])
    free = proc.meminfo_mb() - self.runner.guard.reserve_mb
    return free >= need * (len(building) + 1)

  def _admit(self, queue, siblings_allowed):
    """Builds and warms up workers while memory allows; returns the wave.

    Up to two workers build at once (building is not timed); warm-ups run
    one at a time.
    """
    a = self.args
    wave = {}       # model -> (point, child)
    peaks = []
    building = []
    while queue or building:
      while (queue and len(building) < 2 and
             self._room_for(queue[0], wave, peaks, building,
                            siblings_allowed)):
        p = queue.pop(0)
        self.runner.progress(f"building {p['model']} (batch {p['batch']})")
        building.append((p, self._start(p)))
      if not building:
        break
      p, child = building.pop(0)
      try:
        msg = child.receive(a.step_timeout_s)
        self.records[p["model"]].update(
            build_s=msg["build_s"], num_microbatches=msg["num_microbatches"])
        self.runner.progress(
            f"{p['model']} built in {msg['build_s']:.0f} s; "
            f"{a.warmup} warm-up step(s)")
        child.request({"cmd": "steps", "n": a.warmup},
                      a.step_timeout_s * max(a.warmup, 1))
      except proc.ChildFailed as e:
        self._fail(p, child, e, wave or building)
        continue
      peaks.append(max(child.max_rss_seen, proc.rss_mb(child.proc.pid)))
      wave[p["model"]] = (p, child)
    return wave

  def _time(self, wave):
    a = self.args
    self.times = {m: [] for m in wave}
    for m in wave:
      self.records[m]["interleaved_with"] = sorted(set(wave) - {m})
    began = time.time()
    for rep in range(a.reps):
      left = ("" if rep == 0 else "; time left in this wave ~" +
              f"{(time.time() - began) / rep * (a.reps - rep):.0f} s")
      self.runner.progress(f"timing {len(wave)} model(s), repetition "
                           f"{rep + 1}/{a.reps}{left}")
      order = list(wave)
      if order:
        order = order[rep % len(order):] + order[:rep % len(order)]
      for m in order:
        if m not in wave:
          continue
        p, child = wave[m]
        try:
          self.times[m].extend(
              child.request({"cmd": "steps", "n": 1}, a.step_timeout_s)
              ["times"])
        except proc.ChildFailed as e:
          del wave[m]
          self._fail(p, child, e, wave)

  def _finish(self, wave):
    for m, (p, child) in list(wave.items()):
      try:
        msg = child.request({"cmd": "finish"}, self.args.step_timeout_s)
      except proc.ChildFailed as e:
        self._fail(p, child, e, {})
        continue
      msg["peak_mem_mb"] = max(msg["peak_mem_mb"], child.max_rss_seen)
      report.complete_record(self.records[m], self.times[m], msg)
      self.runner.remember_peak(p, msg["peak_mem_mb"])
      child.close()
