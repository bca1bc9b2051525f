"""The verdict rule (conv_t5.experiments.verdicts) on fixture numbers: every
outcome of the rule, how a question combines its comparisons, and which
comparisons each question makes from a table."""

import math

import pytest

from conv_t5.experiments import table as table_lib
from conv_t5.experiments import verdicts


def test_interval_is_the_student_t_interval():
  mean, half = verdicts.interval([1.0, 2.0, 3.0])
  # sd = 1, n = 3, t(0.975, 2) = 4.302652729749464
  assert mean == 2.0
  assert half == pytest.approx(4.302652729749464 / math.sqrt(3), rel=1e-12)
  assert verdicts.interval([5.0]) == (5.0, None)
  assert verdicts.interval([]) == (None, None)
  assert verdicts.t_critical(4) == pytest.approx(2.7764451051977987)


@pytest.mark.parametrize("mean, half, direction, expected", [
    (3.0, 1.0, +1, "supported"),        # [2, 4] above 0, paper says > 0
    (-3.0, 1.0, +1, "contradicted"),    # [-4, -2] below 0
    (-3.0, 1.0, -1, "supported"),       # the paper says < 0
    (3.0, 1.0, -1, "contradicted"),
    (0.5, 1.0, +1, "inconclusive"),     # [-0.5, 1.5] contains 0
    (-0.5, 1.0, -1, "inconclusive"),
    (1.0, 1.0, +1, "inconclusive"),     # [0, 2] touches 0: not excluded
    (2.0, None, +1, "inconclusive"),    # one seed: no interval
    (None, None, +1, "inconclusive"),
    (2.0, 0.0, +1, "inconclusive"),     # no spread: a mean alone
    (-2.0, 0.0, +1, "inconclusive"),
    (2.0, 1e-12, +1, "inconclusive"),   # equal up to float rounding
    (2.0, 1e-6, +1, "supported"),       # a tiny interval is an interval
])
def test_judge_every_outcome(mean, half, direction, expected):
  assert verdicts.judge(mean, half, direction) == expected


@pytest.mark.parametrize("found, expected", [
    (["supported", "supported"], "supported"),
    (["contradicted", "contradicted"], "contradicted"),
    (["supported", "contradicted"], "inconclusive"),
    (["supported", "inconclusive"], "inconclusive"),
    (["inconclusive"], "inconclusive"),
    ([], "not run"),
])
def test_combine(found, expected):
  assert verdicts.combine(found) == expected


def test_difference_pairs_seeds_and_skips_missing_ones():
  a = {"per_seed": {"1": 70.0, "2": 72.0, "3": 71.0}}
  b = {"per_seed": {"1": 60.0, "2": 61.0}}
  d = verdicts.difference(a, b)
  assert d["per_seed"] == {"1": 10.0, "2": 11.0}
  assert d["n"] == 2 and d["mean"] == 10.5
  assert d["half"] == pytest.approx(12.706204736174705 * math.sqrt(0.5) /
                                    math.sqrt(2), rel=1e-12)
  assert verdicts.difference(a, {"per_seed": {"9": 1.0}}) is None
  assert verdicts.difference(None, b) is None


def _records(values, pair=None):
  """Test records from {(arch, init): [per-seed value of each task]}."""
  out = []
  for (arch, init), per_seed in values.items():
    for seed, row in enumerate(per_seed, start=1):
      for task, v in zip(("demo_a", "demo_b"), row):
        out.append({"arch": arch, "init": init, "task": task, "seed": seed,
                    "split": "test", "metric": "accuracy", "value": v,
                    "step": 10, "model_dir": "/nowhere"})
      if pair and (arch, init) in pair:
        out.append({"arch": arch, "init": init, "task": "demo_pair",
                    "seed": seed, "split": "test", "metric": "accuracy",
                    "value": pair[(arch, init)][seed - 1], "step": 10,
                    "model_dir": "/nowhere"})
  return out


@pytest.fixture
def grid_table():
  """Three seeds. Pre-training helps the Transformer (+10, +9.5, +10) and
  lightweight (the same), hurts dynamic (-10, -9.5, -10), and dilated's gain
  is noise around 0. On the pair task convolutions lag the Transformer
  (about -20); the hybrid recovers. Every difference has some spread over
  the seeds (test_no_spread_... has none)."""
  values = {
      ("transformer", "pretrained"): [(80, 70), (81, 71), (79, 69)],
      ("transformer", "scratch"): [(70, 60), (72, 61), (69, 59)],
      ("conv_lightweight", "pretrained"): [(70, 60), (72, 60), (71, 59)],
      ("conv_lightweight", "scratch"): [(60, 50), (62, 51), (61, 49)],
      ("conv_dynamic", "pretrained"): [(60, 50), (61, 52), (59, 49)],
      ("conv_dynamic", "scratch"): [(70, 60), (71, 61), (69, 59)],
      ("conv_dilated", "pretrained"): [(75, 65), (68, 60), (72, 64)],
      ("conv_dilated", "scratch"): [(72, 64), (72, 62), (70, 63)],
      ("conv_dynamic_xattn", "pretrained"): [(60, 50), (61, 51), (59, 49)],
      ("conv_dynamic_xattn", "scratch"): [(60, 50), (61, 51), (59, 49)],
  }
  pair = {("transformer", "pretrained"): [80, 82, 81],
          ("conv_lightweight", "pretrained"): [60, 61, 62],
          ("conv_dynamic", "pretrained"): [60, 63, 61],
          ("conv_dilated", "pretrained"): [59, 60, 61],
          ("conv_dynamic_xattn", "pretrained"): [79, 80, 81]}
  return table_lib.build(_records(values, pair), split="test",
                         pair_task="demo_pair")


def test_the_questions_from_a_table(grid_table):
  control, found = verdicts.compute(grid_table)
  assert set(found) == {"RQ1", "RQ2", "RQ4", "RQ5"}
  assert control["verdict"] == "supported"
  (c,) = control["comparisons"]
  assert c["difference"]["per_seed"] == {"1": 10.0, "2": 9.5, "3": 10.0}
  assert c["difference"]["mean"] == pytest.approx(29.5 / 3)
  rq1 = {c["label"].split(":")[0]: c["verdict"]
         for c in found["RQ1"]["comparisons"]}
  assert rq1 == {"conv_lightweight": "supported",
                 "conv_dynamic": "contradicted",
                 "conv_dilated": "inconclusive"}
  assert found["RQ1"]["verdict"] == "inconclusive"
  # Lightweight and dynamic are clearly below the pre-trained Transformer
  # (means 65.3 and 55.2 against 75.0); dilated (67.3) too noisy to tell.
  assert [c["verdict"] for c in found["RQ2"]["comparisons"]] == [
      "contradicted", "contradicted", "inconclusive"]
  assert found["RQ2"]["verdict"] == "inconclusive"
  # Convolutions lag on the pair task (supported for all three), the hybrid
  # recovers: supported.
  assert [c["verdict"] for c in found["RQ4"]["comparisons"]] == [
      "supported"] * 4
  assert found["RQ4"]["verdict"] == "supported"
  assert "conv_dynamic_xattn - conv_dynamic" in found["RQ4"][
      "comparisons"][-1]["label"]
  # Per seed, dilated - lightweight = [5, -2, 3]; dynamic - lightweight =
  # [-10, -9.5, -11].
  rq5 = found["RQ5"]["comparisons"]
  assert [c["difference"]["mean"] for c in rq5] == pytest.approx(
      [2.0, -61 / 6])
  assert [c["verdict"] for c in rq5] == ["inconclusive", "contradicted"]
  assert found["RQ5"]["verdict"] == "inconclusive"


def test_questions_without_their_runs_are_not_run():
  values = {("transformer", "pretrained"): [(80, 70), (81, 71)],
            ("transformer", "scratch"): [(70, 60), (72, 61)]}
  control, found = verdicts.compute(
      table_lib.build(_records(values), split="test"))
  assert control["verdict"] == "supported"
  assert {k: q["verdict"] for k, q in found.items()} == {
      "RQ1": "not run", "RQ2": "not run", "RQ4": "not run",
      "RQ5": "not run"}


def test_no_spread_is_inconclusive_whatever_the_mean():
  """Pre-training adds exactly 10 points to the control on every seed: the
  interval has zero width, so a nonzero mean alone would "support" the
  claim. The rule calls it inconclusive and the verdicts say why."""
  values = {("transformer", "pretrained"): [(80, 70), (81, 71), (79, 69)],
            ("transformer", "scratch"): [(70, 60), (71, 61), (69, 59)]}
  control, _ = verdicts.compute(table_lib.build(_records(values),
                                                split="test"))
  (c,) = control["comparisons"]
  assert c["difference"]["per_seed"] == {"1": 10.0, "2": 10.0, "3": 10.0}
  assert (c["difference"]["mean"], c["difference"]["half"]) == (10.0, 0.0)
  assert c["verdict"] == control["verdict"] == "inconclusive"
  assert table_lib.verdicts_markdown({"control": control}).splitlines()[3] == (
      "  - transformer: pre-trained - from scratch: +10.0 ± 0.0 -> "
      "inconclusive (no spread: all 3 seeds give the same difference, an "
      "interval of zero width)")


def test_one_seed_is_inconclusive_whatever_the_mean():
  values = {("transformer", "pretrained"): [(80, 70)],
            ("transformer", "scratch"): [(50, 40)]}
  control, _ = verdicts.compute(table_lib.build(_records(values),
                                                split="test"))
  (c,) = control["comparisons"]
  assert (c["difference"]["mean"], c["difference"]["half"],
          c["difference"]["n"]) == (30.0, None, 1)
  assert c["verdict"] == control["verdict"] == "inconclusive"
  assert table_lib.verdicts_markdown({"control": control}).splitlines()[3] == (
      "  - transformer: pre-trained - from scratch: +30.0 -> inconclusive "
      "(one seed: no interval)")


@pytest.mark.parametrize("scratch, expected", [
    ([(70, 60), (72, 61), (69, 59)], "supported"),      # +10, +9.5, +10
    ([(90, 80), (92, 81), (89, 79)], "contradicted"),   # -10, -10.5, -10
    ([(80, 70), (70, 70), (90, 60)], "inconclusive"),   # 0, +6, -1
])
def test_ordinary_spread_is_judged_on_both_sides(scratch, expected):
  values = {("transformer", "pretrained"): [(80, 70), (81, 71), (79, 69)],
            ("transformer", "scratch"): scratch}
  control, _ = verdicts.compute(table_lib.build(_records(values),
                                                split="test"))
  assert control["verdict"] == expected
  assert verdicts.unjudgeable(control["comparisons"][0]["difference"]["mean"],
                              control["comparisons"][0]["difference"]["half"],
                              3) is None


def test_the_rule_states_the_no_spread_case():
  assert verdicts.RULE == (
      "supported when the 95% interval of the per-seed difference excludes 0 "
      "on the side the paper claims, contradicted when it excludes 0 on the "
      "other side, inconclusive otherwise, and inconclusive when there is no "
      "interval to judge: fewer than 2 seeds, or per-seed differences all "
      "equal (no spread, an interval of zero width); a question with several "
      "comparisons is supported (contradicted) only when all of them are")
