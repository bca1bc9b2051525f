"""Progress of a grid run: stages done, current steps, and the time left.

The time left is an estimate from a cost model learnt during the run: per
training kind (pre-training, fine-tuning) a step rate and a fixed cost per
stage (graph building, checkpoints), per eval a cost, per worker a start-up
cost; the sum over what remains is divided by the number of workers that can
still run side by side. Until a stage of a kind has finished, defaults
measured on a 2-core machine stand in.
"""

import time

# Defaults until measured: steps/s, fixed seconds per stage, worker start.
DEFAULT_RATE = {"pretrain": 10.0, "finetune": 14.0}
DEFAULT_OVERHEAD = {"pretrain": 15.0, "finetune": 10.0, "eval": 8.0}
DEFAULT_STARTUP = 15.0


def fmt_seconds(seconds):
  seconds = int(round(max(0.0, seconds)))
  h, rest = divmod(seconds, 3600)
  return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else \
      f"{rest // 60}:{rest % 60:02d}"


class Tracker:
  """Follows worker events; says what runs, what is done and what is left."""

  def __init__(self, spec, all_stages, done_names, jobs, clock=time.time):
    self.spec = spec
    self.clock = clock
    self.t0 = clock()
    self.jobs = max(1, jobs)
    self.stages = {s.name: s for s in all_stages}
    self.total = len(all_stages)
    self.done = set(done_names)
    self.skipped_before = len(self.done)
    self.failed = {}
    self.running = {}   # stage name -> {"step", "target", "from", "t"}
    self.started_units = set()
    self.rate = dict(DEFAULT_RATE)
    self.overhead = dict(DEFAULT_OVERHEAD)
    self.startup = DEFAULT_STARTUP
    self.measured = set()

  # --------------------------------------------------------------- events

  def unit_started(self, unit):
    """A worker took `unit` (a stages.Unit name)."""
    self.started_units.add(unit)

  def event(self, ev):
    """Updates the state; returns a line worth printing, or None."""
    name = ev.get("stage")
    kind = ev.get("ev")
    if kind == "start":
      self.running[name] = {"step": ev.get("from_step", 0),
                            "target": ev.get("target"),
                            "from": ev.get("from_step", 0), "t": self.clock()}
      if ev.get("resumed"):
        return (f"{name}: resuming from the checkpoint at step "
                f"{ev['from_step']} (target {ev['target']})")
      return None
    if kind == "step" and name in self.running:
      run = self.running[name]
      run["step"] = ev["step"]
      run.setdefault("first", (ev["step"], self.clock()))
      return None
    if kind == "skip":
      self.done.add(name)
      return None
    if kind == "done":
      self.running.pop(name, None)
      self.done.add(name)
      self._learn(self.stages[name], ev)
      return self._done_line(name, ev)
    if kind == "fail":
      self.running.pop(name, None)
      self.failed[name] = ev.get("error", "")
      return f"FAILED {name}: {ev.get('error', '')}"
    return None

  def _learn(self, stage, ev):
    kind = stage.kind
    if kind == "eval":
      self._blend("overhead", kind, ev["seconds"])
      return
    if ev.get("stepped", 0) >= 10 and ev.get("step_seconds", 0) > 0:
      self._blend("rate", kind, ev["stepped"] / ev["step_seconds"])
    rate = self.rate[kind]
    self._blend("overhead", kind,
                max(0.0, ev["seconds"] - ev.get("steps_run", 0) / rate))

  def _blend(self, table, kind, value):
    key = (table, kind)
    old = getattr(self, table)
    old[kind] = value if key not in self.measured else 0.5 * (old[kind] + value)
    self.measured.add(key)

  def _done_line(self, name, ev):
    n = len(self.done)
    if "metrics" in ev:
      what = f"{ev.get('split', '')} " + ", ".join(
          f"{k[len('demo_'):] if k.startswith('demo_') else k} {v:.1f}"
          for k, v in sorted(ev["metrics"].items()))
    else:
      rate = ev["stepped"] / ev["step_seconds"] if ev.get("step_seconds") else 0
      what = (f"step {ev['final_step']}, {ev['steps_run']} steps"
              + (f" at {rate:.1f}/s" if rate else ""))
    return (f"[{n:>{len(str(self.total))}}/{self.total}] {name}: {what} "
            f"({ev['seconds']:.0f} s)")

  # --------------------------------------------------------------- estimates

  def _rate(self, kind):
    """Steps/s: measured on finished stages, else on running ones, else the
    default."""
    if ("rate", kind) in self.measured:
      return self.rate[kind]
    live = []
    for name, run in self.running.items():
      first = run.get("first")
      if self.stages[name].kind == kind and first and run["step"] - first[0] >= 10:
        live.append((run["step"] - first[0]) / max(1e-6, self.clock() - first[1]))
    return sum(live) / len(live) if live else self.rate[kind]

  def _stage_cost(self, stage):
    if stage.kind == "eval":
      return self.overhead["eval"]
    return self.overhead[stage.kind] + stage.steps(self.spec) / self._rate(stage.kind)

  def seconds_left(self):
    now = self.clock()
    work, units = 0.0, set()
    for name, stage in self.stages.items():
      if name in self.done or name in self.failed:
        continue
      units.add(stage.unit.name)
      run = self.running.get(name)
      if run is None:
        work += self._stage_cost(stage)
      elif stage.kind == "eval":
        work += max(1.0, self.overhead["eval"] - (now - run["t"]))
      else:
        left = (run["target"] or 0) - run["step"]
        work += max(0.5, left / self._rate(stage.kind))
    lanes = max(1, min(self.jobs, len(units)))
    work += self.startup * max(0, lanes - len(self.started_units))
    return work / lanes

  def status(self):
    """One line: counts, elapsed, time left, and what each worker does."""
    parts = [f"[{len(self.done)}/{self.total} stages]",
             f"{fmt_seconds(self.clock() - self.t0)} elapsed",
             f"~{fmt_seconds(self.seconds_left())} left"]
    for name, run in sorted(self.running.items()):
      stage = self.stages[name]
      if stage.kind == "eval":
        parts.append(f"| {name} (decoding)")
      else:
        parts.append(f"| {name} step {run['step']}/{run['target']}")
    return " ".join(parts)
