"""The paper-style results table, collected from t5's own eval outputs.

    python -m conv_t5.results ROOT_OR_MODEL_DIR... [--out_dir DIR]
                              [--select final|best] [--metric accuracy]

Reads the TensorBoard event files that t5's eval (MtfModel.eval, or
`conv_t5_mesh_transformer` with eval.gin) writes to <model_dir>/validation_eval,
tags `eval/<task>/<metric>`, from any set of model dirs, local or gs:// (all
file access goes through tf.io.gfile). A model dir is placed in the table by
its path, the layout that the grid and launch/ both use
(conv_t5.experiments.layout):

    <root>/<arch>/pretrained/<task>     fine-tuned from <root>/<arch>/pretrain
    <root>/<arch>/scratch/<task>        trained on the task from random init

Passing a root finds every such model dir under it. The table has one row per
architecture and initialisation, one column per task (the metric x 100, as t5's
metrics report it), the mean over tasks and, in the pre-trained row, the gain
from pre-training (pre-trained mean minus from-scratch mean).
"""

import argparse
import os
import re
import sys

from conv_t5 import files
from conv_t5.experiments import layout

EVAL_SUBDIR_RE = re.compile(r"^(.+)_eval$")
TAG_RE = re.compile(r"^eval/(?P<task>[^/]+)/(?P<metric>.+)$")
PREFERRED_METRICS = ("accuracy", "exact_match", "f1")


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


# ----------------------------------------------------------------- reading

def read_eval_dir(eval_dir):
  """{task: {metric: {step: value}}} from the event files in eval_dir.

  Event files are read in name order (their names start with the write time),
  so a value written again for the same step by a later eval wins.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gfile = tf.io.gfile
  found = {}
  files = sorted(gfile.glob(os.path.join(eval_dir, "events.out.tfevents.*")))
  for path in files:
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        m = TAG_RE.match(value.tag)
        if m:
          found.setdefault(m["task"], {}).setdefault(m["metric"], {})[
              int(event.step)] = float(value.simple_value)
  return found


def find_model_dirs(roots, split="validation"):
  """Model dirs with a <split>_eval subdir under (or equal to) each root."""
  gfile = _gfile()
  found = []
  for root in roots:
    root = root.rstrip("/")
    if gfile.isdir(os.path.join(root, f"{split}_eval")):
      found.append(root)
      continue
    if not gfile.isdir(root):
      raise FileNotFoundError(f"{root}: no such directory")
    for dirpath, subdirs, _ in gfile.walk(root):
      if f"{split}_eval" in {s.rstrip("/") for s in subdirs}:
        found.append(dirpath.rstrip("/"))
  return sorted(set(found))


def _pick_metric(metrics, wanted):
  if wanted:
    return wanted if wanted in metrics else None
  for m in PREFERRED_METRICS:
    if m in metrics:
      return m
  return sorted(metrics)[0] if metrics else None


def collect(model_dirs, split="validation", metric=None, select="final"):
  """One record per (model dir, evaluated task).

  Args:
    model_dirs: model dirs laid out as <arch>/<init>/<task> (see module doc).
    split: which <split>_eval subdir to read.
    metric: metric name; default the first of accuracy, exact_match, f1, or
      the alphabetically first one.
    select: "final" = the value at the last evaluated checkpoint; "best" = the
      best value over all evaluated checkpoints (T5's reporting convention).
  Returns:
    a list of dicts {arch, init, task, metric, value, step, model_dir}.
  Raises:
    ValueError: a model dir whose path does not follow the layout.
  """
  if select not in ("final", "best"):
    raise ValueError(f"select must be 'final' or 'best', not {select!r}")
  records = []
  for model_dir in model_dirs:
    where = layout.describe(model_dir)
    if where is None:
      raise ValueError(
          f"{model_dir}: cannot tell its architecture and initialisation; "
          "lay model dirs out as <root>/<arch>/{pretrained,scratch}/<task>.")
    arch, init, _ = where
    evals = read_eval_dir(os.path.join(model_dir, f"{split}_eval"))
    for task, metrics in sorted(evals.items()):
      name = _pick_metric(metrics, metric)
      if name is None:
        continue
      by_step = metrics[name]
      if select == "final":
        step = max(by_step)
      else:
        step = max(by_step, key=lambda s: (by_step[s], s))
      records.append({"arch": arch, "init": init, "task": task, "metric": name,
                      "value": by_step[step], "step": step,
                      "model_dir": model_dir, "eval_dir": os.path.join(
                          model_dir, f"{split}_eval")})
  return records


def majority_baseline(eval_dir, task):
  """Accuracy (x100) of always answering the most frequent class, from the
  targets file t5's eval writes (<task>_targets, one class id a line)."""
  gfile = _gfile()
  path = os.path.join(eval_dir, f"{task}_targets")
  if not gfile.exists(path):
    return None
  with gfile.GFile(path) as f:
    targets = f.read().split()
  if not targets:
    return None
  return 100.0 * max(targets.count(t) for t in set(targets)) / len(targets)


# ----------------------------------------------------------------- the table

def _order(values, preferred):
  values = list(dict.fromkeys(values))
  known = [v for v in preferred if v in values]
  return known + sorted(v for v in values if v not in known)


def _mean(values):
  return sum(values) / len(values) if values else None


def build_table(records, archs=None, tasks=None):
  """The paper-style table as a JSON-able dict.

  Rows: each arch, pre-trained then from scratch. Cells: the metric (x 100 as
  t5 reports it). `mean` is over the table's tasks and is None unless every
  task has a value; `gain` (pre-trained rows) is pre-trained mean minus
  from-scratch mean of the same arch.
  """
  archs = list(archs) if archs else _order([r["arch"] for r in records],
                                           layout.ARCHS)
  tasks = list(tasks) if tasks else sorted({r["task"] for r in records})
  cells = {(r["arch"], r["init"], r["task"]): r for r in records}
  rows = []
  for arch in archs:
    for init in layout.INITS:
      scores = {t: cells[(arch, init, t)]["value"]
                for t in tasks if (arch, init, t) in cells}
      complete = len(scores) == len(tasks) and tasks
      rows.append({"arch": arch, "pretrained": init == "pretrained",
                   "scores": scores,
                   "mean": _mean(list(scores.values())) if complete else None,
                   "gain": None})
  for pre, scratch in zip(rows[0::2], rows[1::2]):
    if pre["mean"] is not None and scratch["mean"] is not None:
      pre["gain"] = pre["mean"] - scratch["mean"]
    pre["task_gain"] = {t: pre["scores"][t] - scratch["scores"][t]
                        for t in tasks
                        if t in pre["scores"] and t in scratch["scores"]}
  metrics = sorted({r["metric"] for r in records})
  baselines = {}
  for task in tasks:
    dirs = [r["eval_dir"] for r in records
            if r["task"] == task and r["metric"] == "accuracy"]
    if dirs:
      baselines[task] = majority_baseline(dirs[0], task)
  return {"metric": metrics[0] if len(metrics) == 1 else metrics,
          "archs": archs, "tasks": tasks, "rows": rows,
          "majority_baseline": baselines,
          "cells": [dict(r) for r in records]}


def _short(task):
  return task[len("demo_"):] if task.startswith("demo_") else task


def _fmt(value, signed=False):
  if value is None:
    return "-"
  return f"{value:+.1f}" if signed else f"{value:.1f}"


def to_markdown(table):
  """A markdown table: model | pre-trained | tasks... | mean | gain."""
  head = ["model", "pre-trained"] + [_short(t) for t in table["tasks"]] + [
      "mean", "gain"]
  lines = ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
  for row in table["rows"]:
    cells = [row["arch"], "yes" if row["pretrained"] else "no"]
    cells += [_fmt(row["scores"].get(t)) for t in table["tasks"]]
    cells += [_fmt(row["mean"]),
              _fmt(row["gain"], signed=True) if row["pretrained"] else ""]
    lines.append("| " + " | ".join(cells) + " |")
  base = table.get("majority_baseline") or {}
  if any(base.get(t) is not None for t in table["tasks"]):
    values = [base.get(t) for t in table["tasks"]]
    mean = _mean(values) if None not in values else None
    lines.append("| (majority class) | | " + " | ".join(_fmt(v) for v in values)
                 + f" | {_fmt(mean)} | |")
  metric = table["metric"]
  lines.append("")
  lines.append(f"Validation {metric if isinstance(metric, str) else '/'.join(metric)}"
               " (x100). gain = pre-trained mean - from-scratch mean. "
               "(majority class) = always answering the most frequent label.")
  return "\n".join(lines)


def plot(table, path):
  """Grouped bars: per task and the mean, one bar per arch x init."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  groups = [_short(t) for t in table["tasks"]] + ["mean"]
  rows = table["rows"]
  width = 0.8 / max(1, len(rows))
  colours = plt.get_cmap("tab10")
  fig, ax = plt.subplots(figsize=(4.4 + 1.6 * len(groups), 4.2))
  for i, row in enumerate(rows):
    values = [row["scores"].get(t) for t in table["tasks"]] + [row["mean"]]
    xs = [g + (i - (len(rows) - 1) / 2) * width for g in range(len(groups))]
    colour = colours(table["archs"].index(row["arch"]) % 10)
    ax.bar([x for x, v in zip(xs, values) if v is not None],
           [v for v in values if v is not None], width,
           color=colour if row["pretrained"] else "white",
           edgecolor=colour, hatch=None if row["pretrained"] else "//",
           label=f"{row['arch']} ({'pre-trained' if row['pretrained'] else 'scratch'})")
  base = table.get("majority_baseline") or {}
  for g, task in enumerate(table["tasks"]):
    if base.get(task) is not None:
      ax.hlines(base[task], g - 0.45, g + 0.45, colors="black",
                linestyles="dashed", linewidth=1,
                label="majority class" if g == 0 else None)
  ax.set_xticks(range(len(groups)))
  ax.set_xticklabels(groups)
  metric = table["metric"]
  ax.set_ylabel(f"validation {metric if isinstance(metric, str) else '/'.join(metric)}")
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  ax.set_title("pre-trained (filled) vs from scratch (hatched)")
  fig.tight_layout()
  files.atomic_write_bytes(path, _fig_bytes(fig))
  plt.close(fig)


def _fig_bytes(fig):
  import io  # pylint: disable=g-import-not-at-top
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110)
  return buf.getvalue()


# ----------------------------------------------------------------- writing

def write_all(table, out_dir, extra=None):
  """results.md, results.png, then results.json (last); returns their paths."""
  gfile = _gfile()
  gfile.makedirs(out_dir)
  paths = {k: os.path.join(out_dir, f"results.{k}") for k in ("md", "png", "json")}
  files.atomic_write_text(paths["md"], to_markdown(table) + "\n")
  plot(table, paths["png"])
  payload = dict(table, **(extra or {}))
  files.atomic_write_json(paths["json"], payload)
  return paths


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="python -m conv_t5.results", description=__doc__.split("\n\n")[0])
  parser.add_argument("dirs", nargs="+", help="roots or model dirs, local or gs://")
  parser.add_argument("--out_dir", help="also write results.{md,json,png} here")
  parser.add_argument("--split", default="validation")
  parser.add_argument("--metric", default=None)
  parser.add_argument("--select", default="final", choices=("final", "best"))
  args = parser.parse_args(argv)
  model_dirs = find_model_dirs(args.dirs, args.split)
  if not model_dirs:
    print(f"no model dir with a {args.split}_eval subdir under {args.dirs}",
          file=sys.stderr)
    return 1
  records = collect(model_dirs, args.split, args.metric, args.select)
  table = build_table(records)
  print(to_markdown(table))
  if args.out_dir:
    paths = write_all(table, args.out_dir, {"select": args.select,
                                            "split": args.split})
    print(paths["json"])
  return 0


if __name__ == "__main__":
  sys.exit(main())
