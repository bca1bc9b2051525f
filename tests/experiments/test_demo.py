"""`python -m conv_t5.demo --quick` end to end, re-runs, interruption, failure.

Marked `demo` (`make test-demo`, which .ci/run runs after `make test`). One
quick run (module fixture, ~3 min on 2 cores) is shared: the first tests
check its files (the JSON schema, the table, the verdicts) and recompute its
numbers from t5's own prediction and target files; the later ones work on a
copy of its output directory, interrupt it with SIGKILL mid-stage, break a
checkpoint, and check that finished results are never overwritten and that
re-running resumes from the checkpoints.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.demo

VERDICTS = {"supported", "contradicted", "inconclusive", "not run"}
RECORD_KEYS = {"arch", "init", "task", "seed", "split", "metric", "value",
               "step", "model_dir"}


def run_demo(out_dir, *extra, timeout=1200):
  t0 = time.time()
  proc = subprocess.run(
      [sys.executable, "-m", "conv_t5.demo", "--quick", "--out_dir",
       str(out_dir), *extra], capture_output=True, text=True, timeout=timeout)
  return proc, time.time() - t0


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
  out = tmp_path_factory.mktemp("demo") / "quick"
  proc, seconds = run_demo(out)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  print(f"quick run: {seconds:.0f} s")
  return out, proc.stdout


def snapshot(out_dir):
  """{path: (mtime_ns, bytes)} of every marker and results file."""
  files = glob.glob(f"{out_dir}/models/**/*_done.json", recursive=True)
  files += glob.glob(f"{out_dir}/results.*")
  return {f: (os.stat(f).st_mtime_ns, open(f, "rb").read()) for f in files}


def test_quick_run_prints_progress_table_verdicts_and_json_path_last(quick):
  out, stdout = quick
  lines = stdout.strip().splitlines()
  assert lines[-1] == str(out / "results.json")
  assert any(" step " in l and "left" in l for l in lines)  # progress
  data = json.load(open(lines[-1]))
  spec = data["grid"]
  # One record per evaluated run, task and split: the schema anyone can
  # recompute the table from.
  runs = data["runs"]
  assert runs and all(set(r) == RECORD_KEYS for r in runs)
  assert all(0.0 <= r["value"] <= 100.0 for r in runs)
  assert {r["split"] for r in runs} == {"validation", "test"}
  assert {r["init"] for r in runs} == {"pretrained", "scratch"}
  assert {r["arch"] for r in runs} == set(spec["archs"])
  assert {r["seed"] for r in runs} == {spec["seed"] + k
                                       for k in range(spec["num_seeds"])}
  tasks = {r["task"] for r in runs}
  assert spec["pair_task"] in tasks and len(tasks) >= 2
  assert len(runs) == (len(spec["archs"]) * 2 * spec["num_seeds"]
                       * len(tasks) * 2)
  assert set(data["verdicts"]) == {"RQ1", "RQ2", "RQ4", "RQ5"}
  for q in list(data["verdicts"].values()) + [data["control"]]:
    assert q["verdict"] in VERDICTS and q["claim"]
  assert data["verdicts"]["RQ5"]["verdict"] == "not run"  # one convolution
  assert data["rule"].startswith("supported when the 95% interval")
  for row in data["rows"]:
    assert row["mean"]["n"] == spec["num_seeds"]
    assert set(row["cells"]) == tasks
  md = open(out / "results.md").read()
  table_lines = [l for l in md.splitlines() if l.startswith("|")]
  for line in table_lines:
    assert line in stdout  # the printed table is the file's
  assert "**RQ4**" in md and "**RQ4**" in stdout
  with open(out / "results.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _accuracy(eval_dir, task, step):
  targets = open(f"{eval_dir}/{task}_targets").read().split()
  predictions = open(f"{eval_dir}/{task}_{step}_predictions").read().split()
  assert len(targets) == len(predictions) > 0
  return 100 * sum(p == t for p, t in zip(predictions, targets)) / len(targets)


def test_every_number_is_t5s_eval_at_the_checkpoint_chosen_on_validation(
    quick):
  """Recomputes each record from the prediction and target files t5's eval
  wrote; the test value is at the step with the best validation accuracy
  (the earliest of equals) among the evaluated checkpoints."""
  out = quick[0]
  data = json.load(open(out / "results.json"))
  spec = data["grid"]
  by_run = {}
  for r in data["runs"]:
    by_run.setdefault((r["model_dir"], r["task"]), {})[r["split"]] = r
  assert len(by_run) * 2 == len(data["runs"])
  for (model_dir, task), both in by_run.items():
    marker = json.load(open(os.path.join(model_dir, "train_done.json")))
    start, final = marker["started_from_step"], marker["final_step"]
    every = spec["finetune_steps"] // spec["eval_checkpoints"]
    steps = list(range(start + every, final + 1, every))
    assert len(steps) == spec["eval_checkpoints"] and steps[-1] == final
    val = {s: _accuracy(f"{model_dir}/validation_eval", task, s)
           for s in steps}
    best = min(s for s in steps if val[s] == max(val.values()))
    assert both["validation"]["step"] == both["test"]["step"] == best
    assert both["validation"]["value"] == pytest.approx(val[best], abs=1e-3)
    assert both["test"]["value"] == pytest.approx(
        _accuracy(f"{model_dir}/test_eval", task, best), abs=1e-3)


def test_rerun_skips_finished_stages_and_keeps_results(quick):
  out = quick[0]
  before = snapshot(out)
  proc, _ = run_demo(out)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "already done" in proc.stdout and "unchanged:" in proc.stdout
  n = len(glob.glob(f"{out}/models/**/*_done.json", recursive=True))
  assert f"({n} of {n} stages were already done)" in proc.stdout
  assert snapshot(out) == before


def _ckpt_step_files(model_dir, step):
  return glob.glob(f"{model_dir}/model.ckpt-{step}.*")


def test_interrupted_run_resumes_and_failures_never_overwrite(quick, tmp_path):
  src = quick[0]
  out = tmp_path / "copy"
  shutil.copytree(src, out)
  spec = json.load(open(out / "grid.json"))["spec"]
  task, final = spec["tasks"][0], spec["finetune_steps"]
  seed = spec["seed"]
  # 1. transformer/scratch/<task>: as if interrupted after its mid checkpoint.
  resumed = out / f"models/seed_{seed}/transformer/scratch" / task
  mid = max(int(p.split("-")[-1].split(".")[0])
            for p in glob.glob(f"{resumed}/model.ckpt-*.index")
            if 0 < int(p.split("-")[-1].split(".")[0]) < final)
  assert 0 < mid < final
  for f in _ckpt_step_files(resumed, final):
    os.remove(f)
  with open(resumed / "checkpoint", "w") as f:
    f.write(f'model_checkpoint_path: "model.ckpt-{mid}"\n'
            f'all_model_checkpoint_paths: "model.ckpt-{mid}"\n')
  for name in ("train_done.json", "eval_done.json"):
    os.remove(resumed / name)
  shutil.rmtree(resumed / "validation_eval")
  shutil.rmtree(resumed / "test_eval")
  # 2. <other arch>/scratch/<task>: a broken checkpoint, so its eval fails.
  other_arch = spec["archs"][-1]
  broken = out / f"models/seed_{seed}" / other_arch / "scratch" / task
  os.remove(broken / "eval_done.json")
  (index,) = glob.glob(f"{broken}/model.ckpt-{final}.index")
  with open(index, "wb") as f:
    f.write(b"not a checkpoint")
  kept = dict(snapshot(out))

  # Run 1: killed (SIGKILL, whole process group) once the stage is resuming.
  proc = subprocess.Popen(
      [sys.executable, "-m", "conv_t5.demo", "--quick", "--no_data_build",
       "--out_dir", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, start_new_session=True)
  seen = []
  for line in proc.stdout:
    seen.append(line)
    if f"resuming from the checkpoint at step {mid}" in line:
      break
  os.killpg(proc.pid, signal.SIGKILL)
  proc.wait()
  assert any("resuming" in l for l in seen), "".join(seen)[-2000:]
  assert snapshot(out) == kept  # nothing finished was touched
  assert not (resumed / "train_done.json").exists()

  # Run 2: the interrupted stage resumes from its checkpoint; the broken eval
  # fails, so the run is incomplete and the old results stay.
  proc, _ = run_demo(out, "--no_data_build")
  assert proc.returncode == 1
  assert "INCOMPLETE" in proc.stdout
  assert f"seed_{seed}/{other_arch}/scratch/{task} eval" in proc.stdout
  done = json.load(open(resumed / "train_done.json"))
  assert (done["started_from_step"], done["final_step"]) == (0, final)
  assert done["steps_run"] == final - mid
  after = snapshot(out)
  for path, value in kept.items():
    assert after[path] == value, path  # every finished result as it was
  assert not (broken / "eval_done.json").exists()

  # Run 3: with the checkpoint repaired, only that eval runs; results written.
  shutil.copy(glob.glob(f"{src}/models/seed_{seed}/{other_arch}/scratch/"
                        f"{task}/model.ckpt-{final}.index")[0], index)
  proc, _ = run_demo(out, "--no_data_build")
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  final_snapshot = snapshot(out)
  changed = {p for p in final_snapshot if final_snapshot[p] != after.get(p)}
  assert changed == {str(broken / "eval_done.json")} | {
      str(out / f"results.{e}") for e in ("md", "png", "json")}
  table = json.load(open(out / "results.json"))
  assert all(r["mean"] is not None for r in table["rows"])


def test_a_different_grid_in_the_same_out_dir_is_refused(quick):
  proc, _ = run_demo(quick[0], "--no_data_build", "--gin_param",
                     "GridSpec.finetune_steps = 8")
  assert proc.returncode == 2
  assert "different configuration" in proc.stderr


def test_a_second_run_on_this_machine_gives_the_same_numbers(quick, tmp_path):
  """Every stage is seeded and the workers run one thread each, so a second
  run of the same grid with the same settings (its own output directory,
  other interleavings of the two workers) gives every number again, to the
  last digit. (Another machine or thread count rounds differently: see
  docs/demo.md, "Repeatability".)"""
  proc, _ = run_demo(tmp_path / "again", "--no_data_build")
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

  def numbers(out):
    runs = json.load(open(out / "results.json"))["runs"]
    return sorted((r["arch"], r["init"], r["task"], r["seed"], r["split"],
                   r["step"], r["value"]) for r in runs)
  assert numbers(tmp_path / "again") == numbers(quick[0])
