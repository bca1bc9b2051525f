"""conv_t5.experiments.results and .table: reading t5's eval event files,
choosing the checkpoint on validation and reporting test, the table with
intervals over seeds, its markdown, plot and files."""

import glob
import json
import math
import os
import signal

import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import files
from conv_t5.experiments import demo
from conv_t5.experiments import layout
from conv_t5.experiments import markers
from conv_t5.experiments import results
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib
from conv_t5.experiments import table as table_lib
from conv_t5.experiments import verdicts

T2 = 12.706204736174694  # Student t(0.975, 1): the interval of two seeds


def write_eval(model_dir, task, values, metric="accuracy", split="validation"):
  """An event file as t5's utils.run_eval writes it: eval/<task>/<metric>.

  `task` and `values` may also be a dict {task: {step: value}} and None: one
  eval of a mixture (one file for all its tasks, as t5 writes it)."""
  eval_dir = os.path.join(model_dir, f"{split}_eval")
  os.makedirs(eval_dir, exist_ok=True)
  per_task = task if isinstance(task, dict) else {task: values}
  with tf.Graph().as_default():
    writer = tf.summary.FileWriter(eval_dir)
    for name, by_step in per_task.items():
      for step, value in by_step.items():
        summary = tf.Summary()
        summary.value.add(tag=f"eval/{name}/{metric}", simple_value=value)
        writer.add_summary(summary, step)
    writer.close()
  return eval_dir


@pytest.fixture
def grid_root(tmp_path):
  """Two seeds x two archs x two inits, fine-tuned on one mixture of two
  tasks; validation at steps 100 and 300, test at the one with the better
  mean over the two tasks."""
  root = tmp_path / "models"
  # (arch, init) -> per seed (a, b): test values; on validation task a
  # prefers step 300 and task b ties (its best alone would be the earliest,
  # 100), so the run's mean chooses 300 for both.
  scores = {("transformer", "pretrained"): [(80.0, 60.0), (82.0, 62.0)],
            ("transformer", "scratch"): [(70.0, 50.0), (71.0, 53.0)],
            ("conv_dynamic", "pretrained"): [(82.0, 64.0), (80.0, 66.0)],
            ("conv_dynamic", "scratch"): [(66.0, 40.0), (68.0, 40.0)]}
  for (arch, init), per_seed in scores.items():
    for seed, (a, b) in enumerate(per_seed, start=1):
      mdir = str(root / f"seed_{seed}" / arch / init / "mix")
      write_eval(mdir, {"demo_a": {100: 50.0, 300: 60.0},
                        "demo_b": {100: 55.0, 300: 55.0}},  # a tie: earliest
                 None)
      write_eval(mdir, {"demo_a": {300: a, 100: 1.0},
                        "demo_b": {300: b, 100: 2.0}}, None, split="test")
  return str(root)


def test_read_eval_dir_reads_every_step(grid_root):
  found = results.read_eval_dir(os.path.join(
      grid_root, "seed_1/transformer/pretrained/mix/validation_eval"))
  assert found == {"demo_a": {"accuracy": {100: 50.0, 300: 60.0}},
                   "demo_b": {"accuracy": {100: 55.0, 300: 55.0}}}
  assert results.read_eval_dir(os.path.join(grid_root, "nowhere")) == {}


def _named(eval_dir, second):
  """Renames the one event file t5's eval left unnamed by us to the name it
  would have had if written at `second` (names carry the write time)."""
  (path,) = glob.glob(os.path.join(eval_dir, "events.out.tfevents.[!0]*"))
  os.rename(path, os.path.join(eval_dir,
                               f"events.out.tfevents.{second:010d}.host"))


def test_a_later_event_file_wins_for_the_same_step(tmp_path):
  mdir = str(tmp_path / "transformer/scratch/t")
  # A re-run eval writes a second file, named by a later second. Each file
  # is renamed to its own second: the order is exact, without waiting.
  _named(write_eval(mdir, "t", {5: 10.0}), 2)
  _named(write_eval(mdir, "t", {5: 30.0}), 3)
  _named(write_eval(mdir, "t", {5: 20.0}), 1)  # the earliest of the three
  assert sorted(os.listdir(mdir + "/validation_eval")) == [
      f"events.out.tfevents.000000000{k}.host" for k in (1, 2, 3)]
  assert results.read_eval_dir(mdir + "/validation_eval") == {
      "t": {"accuracy": {5: 30.0}}}


def test_find_model_dirs_from_a_root_and_from_model_dirs(grid_root):
  found = results.find_model_dirs([grid_root])
  assert len(found) == 8
  one = os.path.join(grid_root, "seed_2/conv_dynamic/scratch/mix")
  assert results.find_model_dirs([one]) == [one]
  with pytest.raises(FileNotFoundError):
    results.find_model_dirs([grid_root + "/nope"])


@pytest.mark.parametrize("select, expected", [
    ("validation", 100), ("best", 100), ("final", 300)])
def test_choose_step(select, expected):
  assert results.choose_step({100: 90.0, 200: 70.0, 300: 90.0}, select) == (
      expected)


def test_choose_step_refuses_an_unknown_rule():
  with pytest.raises(ValueError, match="select must be one of"):
    results.choose_step({1: 1.0}, "last")


def test_records_choose_on_validation_and_report_test(grid_root):
  """One checkpoint per run, on the validation mean over its tasks: demo_a
  is best at 300, demo_b ties (alone it would be reported at 100); their
  mean is best at 300, for both."""
  mdir = os.path.join(grid_root, "seed_2/conv_dynamic/pretrained/mix")
  records = results.run_records(mdir, "validation", "test")
  base = {"arch": "conv_dynamic", "init": "pretrained", "seed": 2,
          "metric": "accuracy", "model_dir": mdir}
  assert records == [
      dict(base, task="demo_a", split="validation", step=300, value=60.0),
      dict(base, task="demo_a", split="test", step=300, value=80.0),
      dict(base, task="demo_b", split="validation", step=300, value=55.0),
      dict(base, task="demo_b", split="test", step=300, value=66.0)]


@pytest.mark.parametrize("select, expected", [
    ("validation", 200), ("best", 200), ("final", 300)])
def test_a_run_is_reported_at_one_checkpoint_chosen_on_its_tasks_mean(
    select, expected):
  by_task = {"a": {"accuracy": {100: 90.0, 200: 80.0, 300: 60.0}},
             "b": {"accuracy": {100: 40.0, 200: 60.0, 300: 60.0}},
             "c": {"f1": {100: 50.0, 200: 50.0, 300: 70.0}}}
  # means 60.0, 63.3, 63.3: the earliest of equals
  assert results.choose_run_step(by_task, select=select) == expected
  assert results.choose_run_step({}) is None
  with pytest.raises(ValueError, match="no checkpoint step in common"):
    results.choose_run_step({"a": {"accuracy": {1: 1.0}},
                             "b": {"accuracy": {2: 1.0}}})


def test_a_report_split_without_the_chosen_step_is_refused(tmp_path):
  mdir = str(tmp_path / "seed_1/transformer/scratch/t")
  write_eval(mdir, "t", {10: 50.0, 20: 60.0})
  write_eval(mdir, "t", {10: 55.0}, split="test")
  with pytest.raises(ValueError, match="no test accuracy at step 20"):
    results.run_records(mdir, "validation", "test")


def test_a_dir_outside_the_layout_is_refused(tmp_path):
  mdir = str(tmp_path / "some_model")
  write_eval(mdir, "t", {1: 1.0})
  with pytest.raises(ValueError, match="pretrained,scratch"):
    results.collect([mdir])


@pytest.fixture
def table(grid_root):
  records = results.collect(results.find_model_dirs([grid_root]),
                            "validation", "test")
  return table_lib.build(records, split="test")


def _ci(values):
  n = len(values)
  mean = sum(values) / n
  sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
  return mean, T2 * sd / math.sqrt(n)


def test_table_summarises_seeds(table):
  assert table["archs"] == ["transformer", "conv_dynamic"]  # paper order
  assert table["tasks"] == ["demo_a", "demo_b"]
  assert table["seeds"] == [1, 2]
  rows = {(r["arch"], r["pretrained"]): r for r in table["rows"]}
  t_pre = rows[("transformer", True)]
  a = t_pre["cells"]["demo_a"]
  assert a["per_seed"] == {"1": 80.0, "2": 82.0} and a["n"] == 2
  assert (a["mean"], a["half"]) == pytest.approx(_ci([80.0, 82.0]))
  # The mean over tasks seed by seed: 70, 72.
  assert t_pre["mean"]["per_seed"] == {"1": 70.0, "2": 72.0}
  assert (t_pre["mean"]["mean"], t_pre["mean"]["half"]) == pytest.approx(
      _ci([70.0, 72.0]))
  # The gain seed by seed: 70 - 60 = 10 and 72 - 62 = 10.
  assert t_pre["gain"]["per_seed"] == {"1": 10.0, "2": 10.0}
  assert (t_pre["gain"]["mean"], t_pre["gain"]["half"]) == (10.0, 0.0)
  # conv_dynamic: pre-trained 73, 73; scratch 53, 54: gains 20, 19.
  gain = rows[("conv_dynamic", True)]["gain"]
  assert gain["per_seed"] == {"1": 20.0, "2": 19.0}
  assert (gain["mean"], gain["half"]) == pytest.approx(_ci([20.0, 19.0]))
  assert rows[("conv_dynamic", True)]["task_gain"]["demo_b"]["per_seed"] == {
      "1": 24.0, "2": 26.0}
  assert rows[("transformer", False)]["gain"] is None
  assert len(table["runs"]) == 32  # 8 runs x 2 tasks x (validation, test)


def test_the_pair_task_is_a_column_apart(grid_root):
  records = results.collect(results.find_model_dirs([grid_root]),
                            "validation", "test")
  t = table_lib.build(records, split="test", pair_task="demo_b")
  assert t["tasks"] == ["demo_a"] and t["pair_task"] == "demo_b"
  row = t["rows"][0]
  assert row["mean"]["per_seed"] == {"1": 80.0, "2": 82.0}
  assert row["cells"]["demo_b"]["per_seed"] == {"1": 60.0, "2": 62.0}
  md = table_lib.to_markdown(t)
  assert md.splitlines()[0] == ("| model | pre-trained | a | mean | gain | b |")


def test_missing_cells_leave_mean_and_gain_empty(tmp_path):
  write_eval(str(tmp_path / "transformer/pretrained/a"), "a", {1: 50.0})
  write_eval(str(tmp_path / "transformer/pretrained/b"), "b", {1: 60.0})
  write_eval(str(tmp_path / "transformer/scratch/a"), "a", {1: 40.0})
  t = table_lib.build(results.collect(
      results.find_model_dirs([str(tmp_path)])), split="validation")
  pre, scratch = t["rows"]
  assert pre["mean"]["mean"] == pytest.approx(55.0) and pre["mean"]["n"] == 1
  assert scratch["mean"] is None and pre["gain"] is None
  assert "| transformer | no | 40.0 | - | - |  |" in table_lib.to_markdown(t)


def test_markdown_rows_show_mean_and_half_width(table):
  md = table_lib.to_markdown(table)
  lines = md.splitlines()
  assert lines[0] == "| model | pre-trained | a | b | mean | gain |"
  mean, half = _ci([70.0, 72.0])
  a_mean, a_half = _ci([80.0, 82.0])
  b_mean, b_half = _ci([60.0, 62.0])
  assert lines[2] == (f"| transformer | yes | {a_mean:.1f} ± {a_half:.1f} | "
                      f"{b_mean:.1f} ± {b_half:.1f} | {mean:.1f} ± "
                      f"{half:.1f} | +10.0 ± 0.0 |")
  assert "over 2 seeds" in md


def test_markdown_lists_the_verdicts():
  found = {"RQ1": {"claim": "convolutions gain", "verdict": "supported",
                   "comparisons": [{"label": "conv_dynamic: x",
                                    "difference": {"mean": 3.0, "half": 1.0},
                                    "verdict": "supported"}]}}
  md = table_lib.verdicts_markdown(found)
  assert "- **RQ1** convolutions gain: **supported**" in md
  assert "  - conv_dynamic: x: +3.0 ± 1.0 -> supported" in md


def test_majority_class_baseline_from_t5s_targets_file(grid_root):
  eval_dir = os.path.join(grid_root, "seed_1/transformer/scratch/mix/test_eval")
  with open(os.path.join(eval_dir, "demo_a_targets"), "w") as f:
    f.write("1\n0\n1\n1\n")
  assert results.majority_baseline(eval_dir, "demo_a") == 75.0
  assert results.majority_baseline(eval_dir, "demo_b") is None
  t = table_lib.build(results.collect(
      results.find_model_dirs([grid_root]), "validation", "test"),
      split="test")
  assert t["majority_baseline"] == {"demo_a": 75.0}
  md = table_lib.to_markdown(dict(t, majority_baseline={"demo_a": 75.0,
                                                        "demo_b": 50.0}))
  assert "| (majority class) | | 75.0 | 50.0 | 62.5 |  |" in md


def test_cli_prints_table_writes_files_and_json_path_last(grid_root, tmp_path,
                                                          capsys):
  out = str(tmp_path / "out")
  assert results.main([grid_root, "--out_dir", out, "--report_split",
                       "test"]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[-1] == os.path.join(out, "results.json")
  assert lines[0] == "| model | pre-trained | a | b | mean | gain |"
  data = json.load(open(lines[-1]))
  assert (data["select"], data["split"], data["report_split"]) == (
      "validation", "validation", "test")
  assert len(data["rows"]) == 4 and len(data["runs"]) == 32
  with open(os.path.join(out, "results.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert not [f for f in os.listdir(out) if ".tmp" in f]  # atomic writes


def test_cli_without_evals_fails(tmp_path, capsys):
  assert results.main([str(tmp_path)]) == 1
  assert capsys.readouterr().err == (
      f"error: no model dir with a validation_eval subdir under "
      f"{[str(tmp_path)]}\n")


def test_cli_prints_the_verdicts_and_records_them(grid_root, tmp_path,
                                                  capsys):
  out = str(tmp_path / "out")
  assert results.main([grid_root, "--out_dir", out, "--report_split",
                       "test"]) == 0
  printed = capsys.readouterr().out
  table, control, found, text = results.report(
      results.collect(results.find_model_dirs([grid_root]), "validation",
                      "test"), split="test")
  assert printed == text + "\n" + os.path.join(out, "results.json") + "\n"
  assert f"Verdicts (rule: {verdicts.RULE})" in text
  data = json.load(open(os.path.join(out, "results.json")))
  assert (data["control"], data["verdicts"], data["rule"]) == (
      json.loads(json.dumps(control)), json.loads(json.dumps(found)),
      verdicts.RULE)
  assert data["rows"] == json.loads(json.dumps(table["rows"]))


# A finished grid: demo/quick_own_pretraining.gin with three architectures, a mixture of a
# single-sequence task and the pair task, three seeds.
GRID_BINDINGS = (
    "GridSpec.archs = ['transformer', 'conv_dynamic', 'conv_dynamic_xattn']",
    "GridSpec.scratch_archs = ['transformer', 'conv_dynamic']",
    "GridSpec.tasks = ['demo_mix']", "GridSpec.pair_task = 'demo_pair'",
    "GridSpec.num_seeds = 3")


@pytest.fixture
def finished_grid(tmp_path):
  """A grid output dir whose every stage is done: markers, and t5's eval
  event files (validation at both evaluated steps, test at the chosen one)
  with values that differ by arch, init, task and seed."""
  spec = spec_lib.spec_from_gin(["demo/quick_own_pretraining.gin"], GRID_BINDINGS)
  out = str(tmp_path / "grid")
  markers.init_out_dir(spec, out)
  root = layout.models_root(out)
  base = {"transformer": 70.0, "conv_dynamic": 64.0,
          "conv_dynamic_xattn": 66.0}
  for stage in stages_lib.stages(spec):
    mdir = stage.model_dir(root)
    os.makedirs(mdir, exist_ok=True)
    if stage.kind == "eval":
      v = base[stage.arch] + (3.0 if stage.init == "pretrained" else 0.0)
      v += 1.5 * stage.seed
      if stage.init == "pretrained":  # some spread in every difference
        v += {("conv_dynamic", 2): 0.5, ("transformer", 3): 1.0}.get(
            (stage.arch, stage.seed), 0.0)
      write_eval(mdir, {"demo_a": {15: v - 5, 30: v - 4},
                        "demo_pair": {15: v - 30, 30: v - 30.5}}, None)
      # the run's validation mean is better at 30: reported there
      write_eval(mdir, {"demo_a": {30: v}, "demo_pair": {30: v - 20}},
                 None, split="test")
    files.atomic_write_json(markers.marker_path(stage, root),
                            {"seconds": 1.0, "machine": "test"})
  return spec, out


def test_results_cli_prints_what_the_demo_prints(finished_grid, capsys):
  """`python -m conv_t5.results OUT_DIR` on a finished grid prints the
  table and verdicts `make demo` printed from the same records: the same
  string, from the same function (results.grid_report)."""
  spec, out = finished_grid
  sigterm = signal.getsignal(signal.SIGTERM)
  try:
    assert demo.main(["--out_dir", out, "--no_data_build", "--gin_file",
                      "demo/quick_own_pretraining.gin"]
                     + [a for b in GRID_BINDINGS for a in ("--gin_param", b)]
                     ) == 0
  finally:
    signal.signal(signal.SIGTERM, sigterm)
  shown = capsys.readouterr().out
  assert results.main([out]) == 0
  printed = capsys.readouterr().out
  _, control, found, text = results.grid_report(spec, out)
  assert printed == text + "\n"
  assert shown.split("grid complete: ")[0] == "\n" + printed + "\n"
  # The grid's layout, not the defaults: its pair task apart, its arch order,
  # its checkpoint note, every question answered.
  assert text.splitlines()[0] == (
      "| model | pre-trained | a | mean | gain | pair |")
  assert [l.split(" | ")[0] for l in text.splitlines()[2:8]] == [
      "| transformer", "| transformer", "| conv_dynamic", "| conv_dynamic",
      "| conv_dynamic_xattn", "| conv_dynamic_xattn"]
  assert ("Test accuracy (x100) at the fine-tuning checkpoint with the best "
          "validation mean over the run's tasks of 2 evaluated;") in text
  # Gains per seed: transformer 3, 3, 4; conv_dynamic 3, 3.5, 3. Pre-trained
  # conv_dynamic - transformer -6, -5.5, -7 (also on the pair task); the
  # hybrid - conv_dynamic on the pair task 2, 1.5, 2.
  assert control["verdict"] == "supported"
  assert {k: q["verdict"] for k, q in found.items()} == {
      "RQ1": "supported", "RQ2": "contradicted", "RQ4": "supported",
      "RQ5": "not run"}
  with open(os.path.join(out, "results.md")) as f:
    assert f.read() == text + "\n"


def test_results_cli_reads_a_grid_as_it_ran(finished_grid, capsys):
  _, out = finished_grid
  assert results.main([out, "--report_split", "validation"]) == 2
  assert capsys.readouterr().err == (
      f"error: {out} is a grid's output directory, read as the grid ran it "
      f"(its grid.json); drop --report_split, or pass its model dirs "
      f"({out}/models) to choose otherwise.\n")
