"""The worker pool (conv_t5.experiments.pool) with fake workers: tiny Python
scripts that speak the worker's protocol (no TensorFlow, no training)."""

import json
import os
import sys

import pytest

from conv_t5.experiments import pool
from conv_t5.experiments import stages as stages_lib
from conv_t5.experiments import worker

pytestmark = pytest.mark.timeout(60)  # a pool that hangs fails, not blocks

# argv: PROGRESS_PREFIX, mode, {unit: status} (JSON), record file.
# mode "ok": says ready, runs what it is told; "die_before_ready": writes a
# traceback to stderr and exits with status 3; "die_on=<unit>": exits with
# status 9 in the middle of that unit.
FAKE_WORKER = r"""
import json, sys
prefix, mode, statuses, record = sys.argv[1:5]
statuses = json.loads(statuses)

def emit(**event):
  sys.stdout.write(prefix + json.dumps(event) + "\n")
  sys.stdout.flush()

if mode == "die_before_ready":
  sys.stderr.write("Traceback (most recent call last):\n"
                   '  File "worker.py", line 1, in <module>\n'
                   "    import tensorflow\n"
                   "ModuleNotFoundError: No module named 'tensorflow'\n")
  sys.exit(3)
print("fake worker starting", flush=True)  # not progress: goes to the log
emit(ev="ready")
for line in sys.stdin:
  words = line.split()
  if words == ["exit"]:
    break
  assert words[0] == "run" and len(words) == 2, line
  unit = words[1]
  with open(record, "a") as f:
    f.write(unit + "\n")
  emit(ev="start", stage=unit + "/pretrain")
  if mode == "die_on=" + unit:
    sys.stderr.write("Killed in " + unit + "\n")
    sys.exit(9)
  emit(ev="done", stage=unit + "/pretrain")
  emit(ev="unit_done", unit=unit, status=statuses.get(unit, 0))
"""

UNITS = [stages_lib.Unit("transformer", 1), stages_lib.Unit("conv_dynamic", 1),
         stages_lib.Unit("transformer", 2)]
NAMES = [u.name for u in UNITS]


class FakeTracker:
  """Records what the pool tells it."""

  def __init__(self):
    self.started, self.events = [], []

  def unit_started(self, unit):
    self.started.append(unit)

  def event(self, ev):
    self.events.append(ev)
    return f"event {ev['ev']} {ev['stage']}"

  def status(self):
    return "status"


class FakeDisplay:

  def __init__(self):
    self.lines = []

  def line(self, text):
    self.lines.append(text)

  def status(self, text):
    del text


@pytest.fixture
def fake_pool(tmp_path, monkeypatch):
  """Runs pool.run with one fake worker per mode in `modes` (in start
  order); returns (status, tracker, display, units each worker ran)."""
  script = tmp_path / "fake_worker.py"
  script.write_text(FAKE_WORKER)
  out_dir = str(tmp_path / "out")

  def run(modes, units=UNITS, jobs=None, statuses=None, on_unit_done=None):
    started = []

    def command(out):
      assert out == out_dir
      k = len(started)
      started.append(k)
      return [sys.executable, str(script), worker.PROGRESS_PREFIX, modes[k],
              json.dumps(statuses or {}), str(tmp_path / f"ran{k}.txt")]
    monkeypatch.setattr(pool, "worker_command", command)
    tracker, display = FakeTracker(), FakeDisplay()
    status = pool.run(out_dir, units, jobs or len(modes), dict(os.environ),
                      tracker, display, on_unit_done)
    ran = []
    for k in started:
      path = tmp_path / f"ran{k}.txt"
      ran.append(path.read_text().split() if path.exists() else [])
    return status, tracker, display, ran
  run.log = lambda k: os.path.join(out_dir, "logs", f"worker{k}.log")
  return run


def test_one_worker_runs_the_units_in_order_and_reports_each_status(
    fake_pool):
  status, tracker, display, ran = fake_pool(
      ["ok"], statuses={"conv_dynamic@1": 1})
  assert ran == [NAMES]
  assert tracker.started == NAMES
  assert status == {"transformer@1": 0, "conv_dynamic@1": 1,
                    "transformer@2": 0}
  # Progress events go to the tracker, its lines to the display; the
  # protocol's own events (ready, unit_done) do not.
  assert [(e["ev"], e["stage"]) for e in tracker.events] == [
      (ev, n + "/pretrain") for n in NAMES for ev in ("start", "done")]
  assert display.lines == [f"event {e['ev']} {e['stage']}"
                           for e in tracker.events]
  with open(fake_pool.log(0)) as f:
    assert f.read() == "fake worker starting\n"


def test_on_unit_done_hears_of_every_unit_a_worker_finished(fake_pool):
  heard = []
  status, _, _, _ = fake_pool(["ok"], statuses={"conv_dynamic@1": 1},
                              on_unit_done=lambda *a: heard.append(a))
  assert heard == list(status.items()) == [
      ("transformer@1", 0), ("conv_dynamic@1", 1), ("transformer@2", 0)]


def test_units_are_handed_out_in_order_each_to_one_worker(fake_pool):
  status, tracker, display, ran = fake_pool(["ok", "ok"], jobs=2)
  assert tracker.started == NAMES
  assert sorted(ran[0] + ran[1]) == sorted(NAMES)
  for names in ran:  # each worker took its units in the queue's order
    assert names == [n for n in NAMES if n in names]
  assert status == dict.fromkeys(NAMES, 0)
  assert not [line for line in display.lines if "FAILED" in line]


def test_no_more_workers_than_units(fake_pool):
  status, tracker, _, ran = fake_pool(["ok"] * 5, units=UNITS[:2], jobs=5)
  assert len(ran) == 2
  assert tracker.started == NAMES[:2]
  assert status == dict.fromkeys(NAMES[:2], 0)


def test_a_worker_that_dies_before_ready_is_named_and_the_others_go_on(
    fake_pool):
  status, _, display, ran = fake_pool(["die_before_ready", "ok"])
  assert ran == [[], NAMES]
  assert status == dict.fromkeys(NAMES, 0)
  assert [line for line in display.lines if "FAILED" in line] == [
      f"FAILED worker 0 exited with status 3 before it was ready; the last "
      f"lines of {fake_pool.log(0)}: File \"worker.py\", line 1, in <module> "
      "| import tensorflow | ModuleNotFoundError: No module named "
      "'tensorflow'"]


def test_when_every_worker_dies_before_ready_the_pool_returns(fake_pool):
  status, tracker, display, ran = fake_pool(
      ["die_before_ready", "die_before_ready"])
  assert ran == [[], []] and tracker.started == []
  assert status == dict.fromkeys(NAMES, -1)
  tail = ("File \"worker.py\", line 1, in <module> | import tensorflow | "
          "ModuleNotFoundError: No module named 'tensorflow'")
  assert sorted(display.lines[:2]) == [
      f"FAILED worker {k} exited with status 3 before it was ready; the last "
      f"lines of {fake_pool.log(k)}: {tail}" for k in (0, 1)]
  assert display.lines[2:] == [
      "FAILED 3 unit(s) not run, no worker left: transformer@1, "
      "conv_dynamic@1, transformer@2"]


def test_a_worker_dying_mid_unit_gives_that_unit_status_minus_1(fake_pool):
  status, _, display, ran = fake_pool(["die_on=conv_dynamic@1"])
  assert ran == [NAMES[:2]]
  assert status == {"transformer@1": 0, "conv_dynamic@1": -1,
                    "transformer@2": -1}
  assert [line for line in display.lines if "FAILED" in line] == [
      f"FAILED worker 0 exited with status 9 while running conv_dynamic@1; "
      f"the last lines of {fake_pool.log(0)}: fake worker starting | "
      "Killed in conv_dynamic@1",
      "FAILED 1 unit(s) not run, no worker left: transformer@2"]


def test_the_other_worker_takes_the_queue_when_one_dies_mid_unit(fake_pool):
  status, tracker, display, ran = fake_pool(
      ["die_on=conv_dynamic@1"] * 2)
  assert tracker.started == NAMES
  dead = next(k for k, names in enumerate(ran) if "conv_dynamic@1" in names)
  assert ran[dead][-1] == "conv_dynamic@1"
  assert sorted(ran[0] + ran[1]) == sorted(NAMES)
  assert status == {"transformer@1": 0, "conv_dynamic@1": -1,
                    "transformer@2": 0}
  assert [line for line in display.lines if "FAILED" in line] == [
      f"FAILED worker {dead} exited with status 9 while running "
      f"conv_dynamic@1; the last lines of {fake_pool.log(dead)}: "
      "fake worker starting | Killed in conv_dynamic@1"]


def test_log_tail_keeps_the_last_non_blank_lines(tmp_path):
  log = tmp_path / "w.log"
  log.write_text("a\n\nb\n  c  \n\nd\n\n")
  assert pool.log_tail(str(log)) == "b | c | d"
  log.write_text("")
  assert pool.log_tail(str(log)) == "(the log is empty)"
  assert pool.log_tail(str(tmp_path / "none.log")) == (
      "(no log: No such file or directory)")
