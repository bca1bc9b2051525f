"""Per-run results, read from t5's own eval outputs; the results files.

    python -m conv_t5.results GRID_OUT_DIR [--out_dir DIR]
    python -m conv_t5.results ROOT_OR_MODEL_DIR... [--out_dir DIR]
        [--select final|best|validation] [--split validation]
        [--report_split test] [--metric accuracy] [--pair_task TASK]

Reads the TensorBoard event files that t5's eval (MtfModel.eval, or
`conv_t5_mesh_transformer` with eval.gin) writes to <model_dir>/<split>_eval,
tags `eval/<task>/<metric>`, from any set of model dirs, local or gs:// (all
file access goes through tf.io.gfile). A model dir is placed by its path, the
layout the grid and launch/ both use (conv_t5.experiments.layout):

    <root>/[seed_<s>/]<arch>/pretrained/<task>   fine-tuned from .../pretrain
    <root>/[seed_<s>/]<arch>/scratch/<task>      from random init

(<task> may be a mixture: each task it evaluated gives its own record).
Passing a root finds every such model dir under it. Which checkpoint a run
is reported at (`select`), once per run, for all of its tasks (the value a
run's checkpoint is judged by is the mean over its tasks, so a mixture's
tasks are reported at one checkpoint):

    validation  the checkpoint with the best mean on the selection split
                (the earliest of equals), reported on `report_split` (the
                demo: chosen on validation, reported on test)
    final       the last evaluated checkpoint
    best        the best mean over the evaluated checkpoints (T5's habit
                of reporting the best validation score)

A grid's output directory (the demo's --out_dir, with its grid.json) is
read as the grid ran it: the records of its finished evals, with its
GridSpec's splits, architectures and pair task (`grid_report`), so this
prints what `make demo` printed from the same records.

One record per run and task (`records`): arch, init, task, seed, split,
metric, value (x100, as t5's metrics report it), step, model_dir. The table,
intervals and plot are experiments.table; the verdicts experiments.verdicts;
`report` turns records into both, and the text `make demo` and this print.
"""

import argparse
import os
import re
import sys

from conv_t5 import files
from conv_t5.experiments import layout

TAG_RE = re.compile(r"^eval/(?P<task>[^/]+)/(?P<metric>.+)$")
PREFERRED_METRICS = ("accuracy", "exact_match", "f1")
SELECTIONS = ("validation", "final", "best")


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


# ----------------------------------------------------------------- reading

def read_eval_dir(eval_dir):
  """{task: {metric: {step: value}}} from the event files in eval_dir ({} if
  it does not exist).

  Event files are read in name order (their names start with the write time),
  so a value written again for the same step by a later eval wins.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gfile = tf.io.gfile
  found = {}
  paths = sorted(gfile.glob(os.path.join(eval_dir, "events.out.tfevents.*")))
  for path in paths:
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        m = TAG_RE.match(value.tag)
        if m:
          found.setdefault(m["task"], {}).setdefault(m["metric"], {})[
              int(event.step)] = float(value.simple_value)
  return found


def eval_dir(model_dir, split):
  return os.path.join(model_dir, f"{split}_eval")


def find_model_dirs(roots, split="validation"):
  """Model dirs with a <split>_eval subdir under (or equal to) each root."""
  gfile = _gfile()
  found = []
  for root in roots:
    root = root.rstrip("/")
    if gfile.isdir(eval_dir(root, split)):
      found.append(root)
      continue
    if not gfile.isdir(root):
      raise FileNotFoundError(f"{root}: no such directory")
    for dirpath, subdirs, _ in gfile.walk(root):
      if f"{split}_eval" in {s.rstrip("/") for s in subdirs}:
        found.append(dirpath.rstrip("/"))
  return sorted(set(found))


def pick_metric(metrics, wanted=None):
  """The metric a record reports: `wanted`, else the first of accuracy,
  exact_match, f1, else the alphabetically first one; None if absent."""
  if wanted:
    return wanted if wanted in metrics else None
  for m in PREFERRED_METRICS:
    if m in metrics:
      return m
  return sorted(metrics)[0] if metrics else None


def choose_step(by_step, select="validation"):
  """The checkpoint step a run is reported at, from {step: value} on the
  selection split: the best value (the earliest of equals) for "validation"
  and "best", the last step for "final"."""
  if select not in SELECTIONS:
    raise ValueError(f"select must be one of {SELECTIONS}, not {select!r}")
  if select == "final":
    return max(by_step)
  best = max(by_step.values())
  return min(s for s, v in by_step.items() if v == best)


def choose_run_step(by_task, metric=None, select="validation"):
  """The one checkpoint step a fine-tuning run is reported at, for every
  task it was fine-tuned on: choose_step on the mean over its tasks (each
  task's pick_metric, at the steps every task was evaluated at), so a
  mixture's tasks are reported at the same checkpoint. by_task: {task:
  {metric: {step: value}}} (read_eval_dir); None if no task has the metric.

  Raises:
    ValueError: the tasks were evaluated at no step in common.
  """
  values = {}
  for task, metrics in by_task.items():
    name = pick_metric(metrics, metric)
    if name is not None:
      values[task] = metrics[name]
  if not values:
    return None
  steps = set.intersection(*(set(v) for v in values.values()))
  if not steps:
    raise ValueError(f"the tasks {sorted(values)} were evaluated at no "
                     "checkpoint step in common")
  return choose_step(
      {s: sum(v[s] for v in values.values()) / len(values) for s in steps},
      select)


def run_records(model_dir, split="validation", report_split="", metric=None,
                select="validation"):
  """The records of one model dir: per task, the selection split's value at
  the run's chosen step (choose_run_step: one for all its tasks) and, with
  report_split, that split's value at the same step.

  Raises:
    ValueError: the path does not follow the layout, or report_split lacks
      the chosen step (its eval did not run there).
  """
  where = layout.describe(model_dir)
  if where is None:
    raise ValueError(
        f"{model_dir}: cannot tell its architecture and initialisation; lay "
        "model dirs out as <root>/[seed_<s>/]<arch>/{pretrained,scratch}/"
        "<task>.")
  arch, init, _ = where
  base = {"arch": arch, "init": init, "seed": layout.seed_of(model_dir),
          "model_dir": model_dir}
  chosen = read_eval_dir(eval_dir(model_dir, split))
  reported = read_eval_dir(eval_dir(model_dir, report_split)) if (
      report_split) else {}
  records = []
  step = choose_run_step(chosen, metric, select)
  for task, metrics in sorted(chosen.items()):
    name = pick_metric(metrics, metric)
    if name is None:
      continue
    records.append(dict(base, task=task, metric=name, split=split, step=step,
                        value=metrics[name][step]))
    if report_split:
      by_step = reported.get(task, {}).get(name, {})
      if step not in by_step:
        raise ValueError(
            f"{model_dir}: {task} has no {report_split} {name} at step {step}"
            f", the checkpoint chosen on {split}; evaluate that checkpoint on"
            f" {report_split} (t5's eval with checkpoint_steps={step}).")
      records.append(dict(base, task=task, metric=name, split=report_split,
                          step=step, value=by_step[step]))
  return records


def collect(model_dirs, split="validation", report_split="", metric=None,
            select="validation"):
  """run_records of every model dir, in one list."""
  return [r for d in model_dirs
          for r in run_records(d, split, report_split, metric, select)]


def majority_baseline(directory, task):
  """Accuracy (x100) of always answering the most frequent class, from the
  targets file t5's eval writes (<task>_targets, one class id a line)."""
  gfile = _gfile()
  path = os.path.join(directory, f"{task}_targets")
  if not gfile.exists(path):
    return None
  with gfile.GFile(path) as f:
    targets = f.read().split()
  if not targets:
    return None
  return 100.0 * max(targets.count(t) for t in set(targets)) / len(targets)


def majority_baselines(records, tasks):
  """{task: majority-class accuracy} on the reported split, from the targets
  file of the first run of each task that has one."""
  out = {}
  for task in tasks:
    for r in records:
      if r["task"] == task and r["metric"] == "accuracy":
        value = majority_baseline(eval_dir(r["model_dir"], r["split"]), task)
        if value is not None:
          out[task] = value
          break
  return out


# ----------------------------------------------------------------- report

def report(records, split, archs=None, pair_task="", note=""):
  """The table of `records`, the control, the verdicts and the text `make
  demo` and `python -m conv_t5.results` print (the one code path of both).

  Returns:
    (table, control, found, text): experiments.table.build's table,
    experiments.verdicts.compute's control and questions, and the table with
    the verdicts as markdown.
  """
  from conv_t5.experiments import table as table_lib  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import verdicts  # pylint: disable=g-import-not-at-top
  table = table_lib.build(records, split=split, archs=archs,
                          pair_task=pair_task, note=note)
  control, found = verdicts.compute(table)
  text = table_lib.to_markdown(table, verdicts=dict(control=control, **found))
  return table, control, found, text


def verdict_fields(control, found):
  """What results.json records of the verdicts: control, verdicts, rule."""
  from conv_t5.experiments import verdicts  # pylint: disable=g-import-not-at-top
  return {"control": control, "verdicts": found, "rule": verdicts.RULE}


def grid_note(spec):
  """How a grid chose the checkpoint it reports, for the table's footnote."""
  note = (f" at the fine-tuning checkpoint with the best {spec.eval_split} "
          f"mean over the run's tasks of {spec.eval_checkpoints} evaluated"
          if spec.eval_checkpoints > 1 else " at the last checkpoint")
  if not spec.report_split:
    note = (" (" + note.strip()
            + ": optimistic, chosen and reported on the same split)")
  return note


def grid_records(spec, out_dir):
  """The records of a grid run's finished evals (those with a marker)."""
  from conv_t5.experiments import markers  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import stages  # pylint: disable=g-import-not-at-top
  root = layout.models_root(out_dir)
  done = [s.model_dir(root) for s in stages.stages(spec)
          if s.kind == "eval" and markers.is_done(s, root)]
  return collect(done, spec.eval_split, spec.report_split)


def grid_report(spec, out_dir):
  """`report` of a grid run, as its GridSpec lays the table out."""
  return report(grid_records(spec, out_dir),
                split=spec.report_split or spec.eval_split, archs=spec.archs,
                pair_task=spec.pair_task, note=grid_note(spec))


# ----------------------------------------------------------------- writing

def write_all(table, out_dir, extra=None):
  """results.md, results.png, then results.json (last); returns their paths.

  `table` is experiments.table.build's; `extra` (the grid, machines, the
  verdicts...) is merged into the JSON.
  """
  from conv_t5.experiments import table as table_lib  # pylint: disable=g-import-not-at-top
  gfile = _gfile()
  gfile.makedirs(out_dir)
  paths = {k: os.path.join(out_dir, f"results.{k}")
           for k in ("md", "png", "json")}
  payload = dict(table, **(extra or {}))
  shown = None
  if payload.get("verdicts"):
    shown = dict(({"control": payload["control"]} if payload.get("control")
                  else {}), **payload["verdicts"])
  files.atomic_write_text(paths["md"], table_lib.to_markdown(
      table, verdicts=shown) + "\n")
  table_lib.plot(table, paths["png"])
  files.atomic_write_json(paths["json"], payload)
  return paths


GRID_FLAGS = ("split", "report_split", "metric", "select", "pair_task")


def _grid_out_dir(dirs):
  """The single directory given, if it is a grid's --out_dir; else None."""
  from conv_t5.experiments import markers  # pylint: disable=g-import-not-at-top
  if len(dirs) == 1 and _gfile().exists(
      os.path.join(dirs[0], markers.GRID_FILE)):
    return dirs[0]
  return None


def main(argv=None):
  from conv_t5.experiments import markers  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog="python -m conv_t5.results", description=__doc__.split("\n\n")[0])
  parser.add_argument("dirs", nargs="+",
                      help="a grid's --out_dir, or roots or model dirs, "
                           "local or gs://")
  parser.add_argument("--out_dir", help="also write results.{md,json,png}")
  parser.add_argument("--split", default=None,
                      help="the split checkpoints are chosen on "
                           "(default validation)")
  parser.add_argument("--report_split", default=None,
                      help="report this split at the chosen checkpoint")
  parser.add_argument("--metric", default=None)
  parser.add_argument("--select", default=None, choices=SELECTIONS,
                      help="default validation")
  parser.add_argument("--pair_task", default=None,
                      help="the two-sequence task of RQ4: a column apart, "
                           "not in the mean")
  args = parser.parse_args(argv)
  grid_dir = _grid_out_dir(args.dirs)
  if grid_dir:
    given = [f"--{k}" for k in GRID_FLAGS if getattr(args, k) is not None]
    if given:
      print(f"error: {grid_dir} is a grid's output directory, read as the "
            f"grid ran it (its {markers.GRID_FILE}); drop {', '.join(given)}"
            f", or pass its model dirs ({layout.models_root(grid_dir)}) to "
            "choose otherwise.", file=sys.stderr)
      return 2
    spec = markers.load_spec(grid_dir)
    settings = {"select": "validation", "split": spec.eval_split,
                "report_split": spec.report_split}
    try:
      table, control, found, text = grid_report(spec, grid_dir)
    except ValueError as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    if not table["runs"]:
      print(f"error: {grid_dir}: no eval of the grid has finished",
            file=sys.stderr)
      return 1
  else:
    settings = {"select": args.select or "validation",
                "split": args.split or "validation",
                "report_split": args.report_split or ""}
    model_dirs = find_model_dirs(args.dirs, settings["split"])
    if not model_dirs:
      print(f"error: no model dir with a {settings['split']}_eval subdir "
            f"under {args.dirs}", file=sys.stderr)
      return 1
    try:
      records = collect(model_dirs, settings["split"],
                        settings["report_split"], args.metric,
                        settings["select"])
    except ValueError as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    table, control, found, text = report(
        records, split=settings["report_split"] or settings["split"],
        pair_task=args.pair_task or "")
  print(text)
  if args.out_dir:
    paths = write_all(table, args.out_dir,
                      dict(settings, **verdict_fields(control, found)))
    print(paths["json"])
  return 0


if __name__ == "__main__":
  sys.exit(main())
