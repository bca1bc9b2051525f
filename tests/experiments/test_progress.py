"""conv_t5.experiments.progress: the driver's status line and the time-left
estimate, fed with worker events."""

import pytest

from conv_t5.experiments import progress
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib


@pytest.fixture(scope="module")
def quick_spec():
  return spec_lib.spec_from_gin(["demo/quick_own_pretraining.gin"])


class FakeClock:

  def __init__(self):
    self.now = 1000.0

  def __call__(self):
    return self.now


def test_tracker_estimates_shrink_as_work_is_done(quick_spec):
  stages = stages_lib.stages(quick_spec)
  clock = FakeClock()
  t = progress.Tracker(quick_spec, stages, [], jobs=1, clock=clock)
  first = t.seconds_left()
  assert first > 0
  pre = stages[0]
  t.unit_started(pre.unit.name)
  t.event({"ev": "start", "stage": pre.name, "from_step": 0,
           "target": quick_spec.pretrain_steps})
  t.event({"ev": "step", "stage": pre.name, "step": quick_spec.pretrain_steps // 2,
           "target": quick_spec.pretrain_steps})
  assert t.seconds_left() < first
  assert f"{pre.name} step {quick_spec.pretrain_steps // 2}/" in t.status()
  line = t.event({"ev": "done", "stage": pre.name, "seconds": 20.0,
                  "final_step": quick_spec.pretrain_steps,
                  "steps_run": quick_spec.pretrain_steps,
                  "stepped": quick_spec.pretrain_steps - 1, "step_seconds": 4.0})
  assert line.startswith(f"[{1:>2}/{len(stages)}] {pre.name}")
  assert t.rate["pretrain"] == pytest.approx((quick_spec.pretrain_steps - 1) / 4.0)
  for s in stages[1:]:
    t.event({"ev": "skip", "stage": s.name})
  assert t.seconds_left() == 0
  assert "left" in t.status()


def test_tracker_reports_a_resumed_stage_and_failures(quick_spec):
  stages = stages_lib.stages(quick_spec)
  t = progress.Tracker(quick_spec, stages, [stages[0].name], jobs=2)
  assert len(t.done) == 1
  assert t.event({"ev": "start", "stage": stages[1].name, "from_step": 60,
                  "resumed": False, "target": 100}) is None
  line = t.event({"ev": "start", "stage": stages[1].name, "from_step": 70,
                  "resumed": True, "target": 100})
  assert "resuming from the checkpoint at step 70" in line
  line = t.event({"ev": "fail", "stage": stages[1].name, "error": "boom"})
  assert line == f"FAILED {stages[1].name}: boom"


def test_tracker_uses_the_live_step_rate_before_a_stage_finishes(quick_spec):
  stages = stages_lib.stages(quick_spec)
  clock = FakeClock()
  t = progress.Tracker(quick_spec, stages, [], jobs=1, clock=clock)
  pre = stages[0]
  t.event({"ev": "start", "stage": pre.name, "from_step": 0, "target": 1000})
  t.event({"ev": "step", "stage": pre.name, "step": 10, "target": 1000})
  clock.now += 100.0  # 1 step/s, far below the default rate
  t.event({"ev": "step", "stage": pre.name, "step": 110, "target": 1000})
  assert t._rate("pretrain") == pytest.approx(1.0)  # pylint: disable=protected-access
  assert t.seconds_left() > 890


def test_fmt_seconds():
  assert progress.fmt_seconds(0) == "0:00"
  assert progress.fmt_seconds(75.4) == "1:15"
  assert progress.fmt_seconds(3725) == "1:02:05"
