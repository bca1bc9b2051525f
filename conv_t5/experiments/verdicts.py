"""The paper's questions answered by a rule applied to a grid's per-seed numbers.

Every comparison is a difference d between two groups of runs, computed seed
by seed (runs with the same seed are paired) and then summarised:

    mean(d) +- t(0.975, n - 1) * sd(d) / sqrt(n)        (n seeds, Student t)

and judged by one rule, the same for every question:

    supported      the 95% interval excludes 0 on the side the paper claims
    contradicted   the 95% interval excludes 0 on the other side
    inconclusive   the interval contains 0, or there is no interval to
                   judge: fewer than 2 seeds, or per-seed differences that
                   are all equal (no spread: an interval of zero width, which
                   would let a nonzero mean alone decide)

A question with several comparisons (one per convolution, say) is supported
when all of them are, contradicted when all of them are, and inconclusive
otherwise. Nothing here knows what the demo printed before: the verdicts are
a function of the numbers alone (tests/experiments/test_verdicts.py).
"""

import math
import statistics

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
NOT_RUN = "not run"
LEVEL = 0.95
# A half-width at or below this (points of a metric in 0-100) is no spread:
# per-seed differences equal up to float rounding.
NO_SPREAD = 1e-9


def t_critical(df, level=LEVEL):
  """The two-sided Student t quantile for `df` degrees of freedom."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  return float(stats.t.ppf(0.5 + level / 2, df))


def interval(values, level=LEVEL):
  """(mean, half-width) of the Student t interval; half-width None if n < 2."""
  values = [float(v) for v in values]
  if not values:
    return None, None
  mean = statistics.fmean(values)
  if len(values) < 2:
    return mean, None
  sd = statistics.stdev(values)
  return mean, t_critical(len(values) - 1, level) * sd / math.sqrt(len(values))


def unjudgeable(mean, half, n=None):
  """Why the rule cannot judge an interval (one seed, no spread), or None."""
  if mean is None:
    return "no seed"
  if half is None:
    return "one seed: no interval"
  if half <= NO_SPREAD:
    seeds = f"all {n} seeds" if n else "every seed"
    return (f"no spread: {seeds} give the same difference, an interval of "
            "zero width")
  return None


def judge(mean, half, direction):
  """The rule (module docstring); direction +1: the paper says d > 0."""
  if unjudgeable(mean, half):
    return INCONCLUSIVE
  low, high = mean - half, mean + half
  if low > 0 or high < 0:
    return SUPPORTED if (low > 0) == (direction > 0) else CONTRADICTED
  return INCONCLUSIVE


def combine(verdicts):
  """One verdict for a question from its comparisons' verdicts."""
  verdicts = [v for v in verdicts if v != NOT_RUN]
  if not verdicts:
    return NOT_RUN
  if all(v == SUPPORTED for v in verdicts):
    return SUPPORTED
  if all(v == CONTRADICTED for v in verdicts):
    return CONTRADICTED
  return INCONCLUSIVE


RULE = ("supported when the 95% interval of the per-seed difference excludes 0 "
        "on the side the paper claims, contradicted when it excludes 0 on the "
        "other side, inconclusive otherwise, and inconclusive when there is "
        "no interval to judge: fewer than 2 seeds, or per-seed differences "
        "all equal (no spread, an interval of zero width); a question with "
        "several comparisons is supported (contradicted) only when all of "
        "them are")


def difference(a, b):
  """The interval summary of a - b over the seeds both have.

  Args:
    a, b: summaries with "per_seed" ({seed: value}), or None.
  Returns:
    {"mean", "half", "n", "per_seed"}, or None if no seed is common.
  """
  if not a or not b:
    return None
  common = [k for k in a["per_seed"] if k in b["per_seed"]]
  if not common:
    return None
  per_seed = {k: a["per_seed"][k] - b["per_seed"][k] for k in common}
  mean, half = interval(list(per_seed.values()))
  return {"mean": mean, "half": half, "n": len(per_seed),
          "per_seed": per_seed}


def _comparison(label, diff, direction):
  if diff is None:
    return None
  return {"label": label, "difference": diff, "direction": direction,
          "verdict": judge(diff["mean"], diff["half"], direction)}


def _question(claim, comparisons):
  comparisons = [c for c in comparisons if c is not None]
  return {"claim": claim, "comparisons": comparisons,
          "verdict": combine([c["verdict"] for c in comparisons])}


def compute(table):
  """The control and the verdicts on RQ1, RQ2, RQ4 and RQ5 from a table
  (experiments.table.build's).

  Returns:
    (control, {"RQ1": q, "RQ2": q, "RQ4": q, "RQ5": q}) with each q
    {"claim", "verdict", "comparisons": [{"label", "difference" (summary of
    the per-seed differences), "direction" (+1: the paper says > 0),
    "verdict"}]}.
  """
  from conv_t5.experiments import layout  # pylint: disable=g-import-not-at-top
  rows = {(r["arch"], r["pretrained"]): r for r in table["rows"]}
  pair = table.get("pair_task")

  def row(arch, pretrained=True):
    return rows.get((arch, pretrained))

  def mean(arch):
    r = row(arch)
    return r and r["mean"]

  def pair_cell(arch):
    r = row(arch)
    return r and pair and r["cells"].get(pair)

  def gain(arch):
    r = row(arch)
    return r and r["gain"]

  def zero_like(s):  # a gain is already a difference: compare it with 0
    return s and {"per_seed": {k: 0.0 for k in s["per_seed"]}}

  control_arch = layout.CONTROL
  convs = [c for c in layout.CONVS if row(c)]
  control = _question(
      f"the control ({control_arch}) gains from pre-training "
      "(mean over the single-sequence tasks)",
      [_comparison(f"{control_arch}: pre-trained - from scratch",
                   difference(gain(control_arch),
                              zero_like(gain(control_arch))), +1)])
  questions = {
      "RQ1": _question(
          "convolutions gain from pre-training (mean over the "
          "single-sequence tasks)",
          [_comparison(f"{c}: pre-trained - from scratch",
                       difference(gain(c), zero_like(gain(c))), +1)
           for c in convs]),
      "RQ2": _question(
          "pre-trained convolutions match or beat the pre-trained "
          f"{control_arch} (mean over the single-sequence tasks; the rule "
          "can show better or worse, not a match)",
          [_comparison(f"{c} - {control_arch}, both pre-trained",
                       difference(mean(c), mean(control_arch)), +1)
           for c in convs]),
      "RQ4": _question(
          "convolutions lag where two sequences must be related "
          f"({pair or 'no pair task in this grid'}), and adding "
          "cross-attention brings them close",
          [_comparison(f"{pair}: {c} - {control_arch}, both pre-trained",
                       difference(pair_cell(c), pair_cell(control_arch)), -1)
           for c in convs]
          + [_comparison(f"{pair}: {h} - {c}, both pre-trained",
                         difference(pair_cell(h), pair_cell(c)), +1)
             for h, c in layout.XATTN_OF.items() if row(h) and row(c)]),
      "RQ5": _question(
          "dilated and dynamic convolutions beat lightweight ones "
          "(pre-trained, mean over the single-sequence tasks)",
          [_comparison(f"{c} - conv_lightweight, both pre-trained",
                       difference(mean(c), mean("conv_lightweight")), +1)
           for c in ("conv_dilated", "conv_dynamic")
           if row(c) and row("conv_lightweight")]),
  }
  return control, questions
