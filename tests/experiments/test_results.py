"""conv_t5.results: reading t5's eval event files, the table, its files."""

import json
import os

import pytest
import tensorflow.compat.v1 as tf

from conv_t5.experiments import results


def write_eval(model_dir, task, values, metric="accuracy", split="validation"):
  """Event files as t5's utils.run_eval writes them: eval/<task>/<metric>."""
  eval_dir = os.path.join(model_dir, f"{split}_eval")
  os.makedirs(eval_dir, exist_ok=True)
  with tf.Graph().as_default():
    writer = tf.summary.FileWriter(eval_dir)
    for step, value in values.items():
      summary = tf.Summary()
      summary.value.add(tag=f"eval/{task}/{metric}", simple_value=value)
      writer.add_summary(summary, step)
    writer.close()
  return eval_dir


@pytest.fixture
def grid_root(tmp_path):
  """Two archs x two inits x two tasks, like a finished grid."""
  root = tmp_path / "models"
  scores = {("transformer", "pretrained"): (80.0, 60.0),
            ("transformer", "scratch"): (70.0, 50.0),
            ("conv_dynamic", "pretrained"): (82.0, 64.0),
            ("conv_dynamic", "scratch"): (66.0, 40.0)}
  for (arch, init), (a, b) in scores.items():
    write_eval(str(root / arch / init / "demo_a"), "demo_a", {100: a - 10, 300: a})
    write_eval(str(root / arch / init / "demo_b"), "demo_b", {300: b})
  return str(root)


def test_read_eval_dir_reads_every_step(grid_root):
  found = results.read_eval_dir(
      os.path.join(grid_root, "transformer/pretrained/demo_a/validation_eval"))
  assert found == {"demo_a": {"accuracy": {100: 70.0, 300: 80.0}}}


def test_a_later_event_file_wins_for_the_same_step(tmp_path):
  mdir = str(tmp_path / "transformer/scratch/t")
  write_eval(mdir, "t", {5: 10.0})
  write_eval(mdir, "t", {5: 30.0})  # a re-run eval writes a second file
  assert results.read_eval_dir(mdir + "/validation_eval")["t"]["accuracy"][5] == 30.0


def test_find_model_dirs_from_a_root_and_from_model_dirs(grid_root):
  found = results.find_model_dirs([grid_root])
  assert len(found) == 8
  one = os.path.join(grid_root, "conv_dynamic/scratch/demo_b")
  assert results.find_model_dirs([one]) == [one]
  with pytest.raises(FileNotFoundError):
    results.find_model_dirs([grid_root + "/nope"])


def test_table_means_gains_and_order(grid_root):
  records = results.collect(results.find_model_dirs([grid_root]))
  table = results.build_table(records)
  assert table["archs"] == ["transformer", "conv_dynamic"]  # paper order
  assert table["tasks"] == ["demo_a", "demo_b"]
  rows = {(r["arch"], r["pretrained"]): r for r in table["rows"]}
  t_pre = rows[("transformer", True)]
  assert t_pre["scores"] == {"demo_a": 80.0, "demo_b": 60.0}   # final step
  assert t_pre["mean"] == pytest.approx(70.0)
  assert t_pre["gain"] == pytest.approx(70.0 - 60.0)
  assert rows[("conv_dynamic", True)]["gain"] == pytest.approx(73.0 - 53.0)
  assert rows[("conv_dynamic", True)]["task_gain"]["demo_b"] == pytest.approx(24.0)
  assert rows[("transformer", False)]["gain"] is None


def test_select_best_takes_the_best_checkpoint(tmp_path):
  mdir = str(tmp_path / "transformer/pretrained/t")
  write_eval(mdir, "t", {100: 90.0, 200: 70.0})
  final = results.collect([mdir])[0]
  best = results.collect([mdir], select="best")[0]
  assert (final["step"], final["value"]) == (200, 70.0)
  assert (best["step"], best["value"]) == (100, 90.0)


def test_missing_cells_leave_mean_and_gain_empty(tmp_path):
  write_eval(str(tmp_path / "transformer/pretrained/a"), "a", {1: 50.0})
  write_eval(str(tmp_path / "transformer/pretrained/b"), "b", {1: 60.0})
  write_eval(str(tmp_path / "transformer/scratch/a"), "a", {1: 40.0})
  table = results.build_table(results.collect(
      results.find_model_dirs([str(tmp_path)])))
  pre, scratch = table["rows"]
  assert pre["mean"] == pytest.approx(55.0)
  assert scratch["mean"] is None and pre["gain"] is None
  assert "| transformer | no | 40.0 | - | - |" in results.to_markdown(table)


def test_markdown_has_a_row_per_arch_and_init(grid_root):
  table = results.build_table(results.collect(
      results.find_model_dirs([grid_root])))
  md = results.to_markdown(table)
  assert md.splitlines()[0] == "| model | pre-trained | a | b | mean | gain |"
  assert "| transformer | yes | 80.0 | 60.0 | 70.0 | +10.0 |" in md
  assert "| conv_dynamic | no | 66.0 | 40.0 | 53.0 |  |" in md


def test_a_dir_outside_the_layout_is_refused(tmp_path):
  mdir = str(tmp_path / "some_model")
  write_eval(mdir, "t", {1: 1.0})
  with pytest.raises(ValueError, match="pretrained,scratch"):
    results.collect([mdir])


def test_cli_prints_table_writes_files_and_json_path_last(grid_root, tmp_path,
                                                          capsys):
  out = str(tmp_path / "out")
  assert results.main([grid_root, "--out_dir", out, "--select", "best"]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[-1] == os.path.join(out, "results.json")
  assert lines[0].startswith("| model | pre-trained |")
  data = json.load(open(lines[-1]))
  assert data["select"] == "best" and len(data["rows"]) == 4
  with open(os.path.join(out, "results.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert not [f for f in os.listdir(out) if ".tmp" in f]  # atomic writes


def test_cli_without_evals_fails(tmp_path, capsys):
  assert results.main([str(tmp_path)]) == 1
  assert "no model dir" in capsys.readouterr().err


def test_majority_class_baseline_from_t5s_targets_file(grid_root):
  eval_dir = os.path.join(grid_root, "transformer/scratch/demo_a/validation_eval")
  with open(os.path.join(eval_dir, "demo_a_targets"), "w") as f:
    f.write("1\n0\n1\n1\n")
  assert results.majority_baseline(eval_dir, "demo_a") == pytest.approx(75.0)
  assert results.majority_baseline(eval_dir, "demo_b") is None
  table = results.build_table(results.collect(
      results.find_model_dirs([grid_root])))
  assert table["majority_baseline"]["demo_a"] in (None, pytest.approx(75.0))
  md = results.to_markdown(
      dict(table, majority_baseline={"demo_a": 75.0, "demo_b": 50.0}))
  assert "| (majority class) | | 75.0 | 50.0 | 62.5 | |" in md
