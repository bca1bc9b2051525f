"""`python -m conv_t5.demo --quick` end to end, re-runs, interruption, failure.

One quick run (module fixture, ~2-3 min on 2 cores) is shared: the first test
checks its table against t5's own prediction files; the later ones work on a
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

pytestmark = pytest.mark.slow

QUICK_BUDGET_SECONDS = 180


def run_demo(out_dir, *extra, timeout=900):
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
  return out, proc.stdout, seconds


def snapshot(out_dir):
  """{path: (mtime_ns, bytes)} of every marker and results file."""
  files = glob.glob(f"{out_dir}/models/**/*_done.json", recursive=True)
  files += glob.glob(f"{out_dir}/results.*")
  return {f: (os.stat(f).st_mtime_ns, open(f, "rb").read()) for f in files}


def eval_dirs(out_dir):
  return sorted(glob.glob(f"{out_dir}/models/*/*/*/validation_eval"))


def test_quick_run_prints_progress_table_and_json_path_last(quick):
  out, stdout, seconds = quick
  lines = stdout.strip().splitlines()
  assert lines[-1] == str(out / "results.json")
  assert any(" step " in l and "left" in l for l in lines)  # progress
  table = json.load(open(lines[-1]))
  assert table["tasks"] and len(table["rows"]) == 2 * len(table["archs"])
  assert "transformer" in table["archs"] and len(table["archs"]) >= 2
  for row in table["rows"]:
    assert set(row["scores"]) == set(table["tasks"])
    assert all(0.0 <= v <= 100.0 for v in row["scores"].values())
    assert row["mean"] is not None
  md = open(out / "results.md").read()
  assert md.splitlines()[0] in stdout  # the printed table is the file's
  with open(out / "results.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert seconds < QUICK_BUDGET_SECONDS * 1.5, f"quick run took {seconds:.0f} s"
  print(f"quick run: {seconds:.0f} s")


def test_every_number_is_t5s_eval_of_the_final_checkpoint(quick):
  """Recomputes each cell from the prediction and target files t5's eval
  wrote, and checks the checkpoint it scored is the stage's final one."""
  out = quick[0]
  table = json.load(open(out / "results.json"))
  cells = {(r["arch"], "pretrained" if r["pretrained"] else "scratch", t): v
           for r in table["rows"] for t, v in r["scores"].items()}
  assert len(eval_dirs(out)) == len(cells)
  for eval_dir in eval_dirs(out):
    arch, init, task = eval_dir.split("/")[-4:-1]
    step = json.load(open(os.path.join(os.path.dirname(eval_dir),
                                       "train_done.json")))["final_step"]
    targets = open(f"{eval_dir}/{task}_targets").read().split()
    predictions = open(f"{eval_dir}/{task}_{step}_predictions").read().split()
    assert len(targets) == len(predictions) > 0
    accuracy = 100 * sum(p == t for p, t in zip(predictions, targets)) / len(targets)
    assert cells[(arch, init, task)] == pytest.approx(accuracy, abs=1e-3)


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
  # 1. transformer/scratch/<task>: as if interrupted after its mid checkpoint.
  resumed = out / "models/transformer/scratch" / task
  mid = max(int(p.split("-")[-1].split(".")[0])
            for p in glob.glob(f"{resumed}/model.ckpt-*.index")
            if int(p.split("-")[-1].split(".")[0]) < final)
  assert 0 < mid < final
  for f in _ckpt_step_files(resumed, final):
    os.remove(f)
  with open(resumed / "checkpoint", "w") as f:
    f.write(f'model_checkpoint_path: "model.ckpt-{mid}"\n'
            f'all_model_checkpoint_paths: "model.ckpt-{mid}"\n')
  for name in ("train_done.json", "eval_done.json"):
    os.remove(resumed / name)
  shutil.rmtree(resumed / "validation_eval")
  # 2. <other arch>/scratch/<task>: a broken checkpoint, so its eval fails.
  other_arch = spec["archs"][-1]
  broken = out / "models" / other_arch / "scratch" / task
  os.remove(broken / "eval_done.json")
  (index,) = glob.glob(f"{broken}/model.ckpt-{final}.index")
  with open(index, "wb") as f:
    f.write(b"not a checkpoint")
  kept = {k: v for k, v in snapshot(out).items()}

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
  assert "INCOMPLETE" in proc.stdout and f"{other_arch}/scratch/{task} eval" in proc.stdout
  done = json.load(open(resumed / "train_done.json"))
  assert (done["started_from_step"], done["final_step"]) == (mid, final)
  assert done["steps_run"] == final - mid
  after = snapshot(out)
  for path, value in kept.items():
    assert after[path] == value, path  # every finished result as it was
  assert not (broken / "eval_done.json").exists()

  # Run 3: with the checkpoint repaired, only that eval runs; results written.
  shutil.copy(glob.glob(f"{src}/models/{other_arch}/scratch/{task}/"
                        f"model.ckpt-{final}.index")[0], index)
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
                     "GridSpec.finetune_steps = 7")
  assert proc.returncode == 2
  assert "different configuration" in proc.stderr
