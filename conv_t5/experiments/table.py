"""The paper-style table from per-run records: means and 95% intervals over
seeds, the gain from pre-training seed by seed, its markdown and its plot.

Every number is a summary of per-seed values (experiments.verdicts.interval):
the mean and the half-width of the 95% Student-t interval over the seeds
that have it. `mean` is, seed by seed, the mean over the single-sequence
tasks, then summarised; `gain` is, seed by seed, the pre-trained mean minus
the from-scratch mean of the same architecture, then summarised. The pair
task of the cross-attention study (RQ4) is a column apart, not in the mean.
"""

import io
import statistics

from conv_t5 import files
from conv_t5.experiments import layout
from conv_t5.experiments import verdicts

INIT_ROWS = (("pretrained", True), ("scratch", False))


def _order(values, preferred):
  values = list(dict.fromkeys(values))
  known = [v for v in preferred if v in values]
  return known + sorted(v for v in values if v not in known)


def summary(per_seed):
  """{"mean", "half", "n", "per_seed"} of {seed: value} (seed may be None)."""
  mean, half = verdicts.interval(list(per_seed.values()))
  return {"mean": mean, "half": half, "n": len(per_seed),
          "per_seed": {str(k): v for k, v in per_seed.items()}}


def _seed_key(seed):
  return -1 if seed is None else seed


def build(records, split, archs=None, tasks=None, pair_task="", note=""):
  """The table as a JSON-able dict.

  Args:
    records: experiments.results records; those of `split` are tabulated.
    split: the reported split ("test" in the demo).
    archs / tasks: row and column order (default: as found).
    pair_task: the RQ4 task, a column apart from `tasks` and the mean.
    note: how the checkpoint was chosen, for the markdown's footnote.
  Returns:
    {"split", "metric", "archs", "tasks", "pair_task", "seeds", "rows",
     "majority_baseline", "note", "runs"}; each row {"arch", "pretrained",
     "cells": {task: summary}, "mean": summary, "gain": summary or None,
     "task_gain": {task: summary}}; `runs` is every record given.
  """
  from conv_t5.experiments import results  # pylint: disable=g-import-not-at-top
  shown = [r for r in records if r["split"] == split]
  found_tasks = [t for t in dict.fromkeys(r["task"] for r in shown)
                 if t != pair_task]
  tasks = list(tasks) if tasks else sorted(found_tasks)
  archs = list(archs) if archs else _order(
      [r["arch"] for r in shown], layout.ARCHS + layout.XATTN_ARCHS)
  seeds = sorted({r["seed"] for r in shown}, key=_seed_key)
  value = {(r["arch"], r["init"], r["task"], r["seed"]): r["value"]
           for r in shown}
  rows = []
  for arch in archs:
    for init, pretrained in INIT_ROWS:
      cells = {}
      for task in tasks + ([pair_task] if pair_task else []):
        per_seed = {s: value[(arch, init, task, s)] for s in seeds
                    if (arch, init, task, s) in value}
        if per_seed:
          cells[task] = summary(per_seed)
      means = {s: statistics.fmean(value[(arch, init, t, s)] for t in tasks)
               for s in seeds
               if tasks and all((arch, init, t, s) in value for t in tasks)}
      rows.append({"arch": arch, "pretrained": pretrained, "cells": cells,
                   "mean": summary(means) if means else None,
                   "gain": None, "task_gain": {}, "_means": means})
  for pre, scratch in zip(rows[0::2], rows[1::2]):
    both = sorted(set(pre["_means"]) & set(scratch["_means"]), key=_seed_key)
    if both:
      pre["gain"] = summary({s: pre["_means"][s] - scratch["_means"][s]
                             for s in both})
    for task in tasks + ([pair_task] if pair_task else []):
      a, b = pre["cells"].get(task), scratch["cells"].get(task)
      if a and b:
        common = set(a["per_seed"]) & set(b["per_seed"])
        if common:
          pre["task_gain"][task] = summary(
              {k: a["per_seed"][k] - b["per_seed"][k] for k in sorted(common)})
  for row in rows:
    del row["_means"]
  metrics = sorted({r["metric"] for r in shown})
  return {"split": split,
          "metric": metrics[0] if len(metrics) == 1 else metrics,
          "archs": archs, "tasks": tasks, "pair_task": pair_task,
          "seeds": seeds, "rows": rows, "note": note,
          "majority_baseline": results.majority_baselines(
              shown, tasks + ([pair_task] if pair_task else [])),
          "runs": [dict(r) for r in records]}


# ----------------------------------------------------------------- markdown

def short(task):
  return task[len("demo_"):] if task.startswith("demo_") else task


def fmt(s, signed=False):
  """"74.2 ± 1.3" (or "74.2" from one seed, "-" for nothing)."""
  if not s or s["mean"] is None:
    return "-"
  head = f"{s['mean']:+.1f}" if signed else f"{s['mean']:.1f}"
  return head if s["half"] is None else f"{head} ± {s['half']:.1f}"


def to_markdown(table, verdicts=None):
  """The table (and the verdicts, if given) as markdown."""
  tasks, pair = table["tasks"], table["pair_task"]
  head = ["model", "pre-trained"] + [short(t) for t in tasks] + [
      "mean", "gain"] + ([short(pair)] if pair else [])
  lines = ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
  for row in table["rows"]:
    cells = [row["arch"], "yes" if row["pretrained"] else "no"]
    cells += [fmt(row["cells"].get(t)) for t in tasks]
    cells += [fmt(row["mean"]),
              fmt(row["gain"], signed=True) if row["pretrained"] else ""]
    if pair:
      cells.append(fmt(row["cells"].get(pair)))
    lines.append("| " + " | ".join(cells) + " |")
  base = table.get("majority_baseline") or {}
  if any(base.get(t) is not None for t in tasks + ([pair] if pair else [])):
    values = [base.get(t) for t in tasks]
    mean = statistics.fmean(values) if values and None not in values else None
    cells = [f"{v:.1f}" if v is not None else "-" for v in values]
    cells += [f"{mean:.1f}" if mean is not None else "-", ""]
    if pair:
      cells.append(f"{base[pair]:.1f}" if base.get(pair) is not None else "-")
    lines.append("| (majority class) | | " + " | ".join(cells) + " |")
  metric = table["metric"]
  metric = metric if isinstance(metric, str) else "/".join(metric)
  n = sorted({c["n"] for row in table["rows"] for c in row["cells"].values()})
  seeds = "/".join(str(k) for k in n) or "0"
  lines += ["", (
      f"{table['split'].capitalize()} {metric} (x100){table['note']}; "
      f"mean ± half-width of the 95% Student-t interval over {seeds} seeds. "
      f"mean: over {', '.join(short(t) for t in tasks)}, seed by seed; gain: "
      "pre-trained mean minus from-scratch mean, seed by seed."
      + (f" {short(pair)}: the two-sequence task of RQ4, not in the mean."
         if pair else "")
      + " (majority class): always answering the most frequent label.")]
  if verdicts:
    lines += ["", verdicts_markdown(verdicts)]
  return "\n".join(lines)


def verdicts_markdown(found):
  """The verdicts (experiments.verdicts.compute's) as markdown lines; a
  comparison the rule cannot judge says why (one seed, no spread)."""
  lines = [f"Verdicts (rule: {verdicts.RULE})", ""]
  for key, q in found.items():
    lines.append(f"- **{key}** {q['claim']}: **{q['verdict']}**")
    for c in q["comparisons"]:
      d = c["difference"]
      why = verdicts.unjudgeable(d["mean"], d["half"], d.get("n"))
      lines.append(f"  - {c['label']}: {fmt(d, signed=True)} "
                   f"-> {c['verdict']}" + (f" ({why})" if why else ""))
  return "\n".join(lines)


# ----------------------------------------------------------------- plot

def plot(table, path):
  """Grouped bars with 95% intervals: per task, the mean and the pair task,
  one bar per architecture and initialisation."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  pair = table["pair_task"]
  groups = [short(t) for t in table["tasks"]] + ["mean"] + (
      [short(pair)] if pair else [])
  rows = table["rows"]
  width = 0.84 / max(1, len(rows))
  colours = plt.get_cmap("tab10")
  fig, ax = plt.subplots(figsize=(5.0 + 1.9 * len(groups), 4.4))
  for i, row in enumerate(rows):
    cells = [row["cells"].get(t) for t in table["tasks"]] + [row["mean"]]
    cells += [row["cells"].get(pair)] if pair else []
    xs = [g + (i - (len(rows) - 1) / 2) * width for g in range(len(groups))]
    shown = [(x, c) for x, c in zip(xs, cells) if c and c["mean"] is not None]
    colour = colours(table["archs"].index(row["arch"]) % 10)
    ax.bar([x for x, _ in shown], [c["mean"] for _, c in shown], width,
           yerr=[c["half"] or 0.0 for _, c in shown], capsize=1.5,
           error_kw={"elinewidth": 0.8},
           color=colour if row["pretrained"] else "white", edgecolor=colour,
           hatch=None if row["pretrained"] else "//",
           label=f"{row['arch']} "
                 f"({'pre-trained' if row['pretrained'] else 'scratch'})")
  base = table.get("majority_baseline") or {}
  columns = list(table["tasks"]) + [None] + ([pair] if pair else [])
  for g, task in enumerate(columns):
    if task and base.get(task) is not None:
      ax.hlines(base[task], g - 0.45, g + 0.45, colors="black",
                linestyles="dashed", linewidth=1,
                label="majority class" if g == 0 else None)
  ax.set_xticks(range(len(groups)))
  ax.set_xticklabels(groups)
  metric = table["metric"]
  ax.set_ylabel(f"{table['split']} "
                f"{metric if isinstance(metric, str) else '/'.join(metric)}")
  lows = [c["mean"] - (c["half"] or 0) for row in rows
          for c in list(row["cells"].values()) + [row["mean"]] if c]
  if lows:
    ax.set_ylim(max(0.0, min(lows) - 10.0), None)
  ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  ax.set_title("pre-trained (filled) vs from scratch (hatched); "
               "bars: 95% intervals over seeds", fontsize=9)
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110)
  plt.close(fig)
  files.atomic_write_bytes(path, buf.getvalue())
