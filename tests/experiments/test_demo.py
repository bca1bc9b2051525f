"""`make demo`'s grid (gin/demo/default.gin) end to end at small step counts,
from the shipped release: re-runs, interruption, failure, repeatability; and
`--quick` (gin/demo/quick.gin) as a user runs it.

Marked `demo` (`make test-demo`, which .ci/run runs after `make test`). One
run of the default grid (module fixture) is shared: every architecture,
initialisation, task and the pair task of `make demo`, with 2 seeds instead
of 5 and a few steps per stage instead of hundreds (CI_BINDINGS), so it
checks the grid's structure, records, resume and verdict plumbing; the
numbers are `make demo`'s job. The first tests check its files (the JSON
schema, the table, the verdicts) and recompute its numbers from t5's own
prediction and target files and its verdicts from the records; the later
ones work on copies of its output directory: interrupt it with SIGKILL
mid-stage, break a checkpoint, check that finished results are never
overwritten, that re-running resumes from the checkpoints, and that one unit
run again gives its numbers again.

A run is bounded by its progress, not by the wall clock: the driver prints a
status line at least every 15 s, and a run that prints nothing for
STALL_SECONDS is stopped and fails (so a slow, shared machine takes longer
but does not fail; a hung one fails). The module's pytest timeout is only a
backstop.
"""

import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import pytest

from conv_t5.experiments import layout
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib
from conv_t5.experiments import verdicts as verdicts_lib

pytestmark = [pytest.mark.demo, pytest.mark.timeout(4 * 3600)]

VERDICTS = {"supported", "contradicted", "inconclusive", "not run"}
RECORD_KEYS = {"arch", "init", "task", "seed", "split", "metric", "value",
               "step", "model_dir"}
# The default grid, small: 2 seeds, 20 fine-tuning steps (two evaluated
# checkpoints, so a fine-tuning run has one mid-way).
CI_BINDINGS = ("GridSpec.num_seeds = 2", "GridSpec.finetune_steps = 20")
STALL_SECONDS = 600


def run_demo(out_dir, *extra, stop_at=None):
  """Runs the default grid with CI_BINDINGS (plus `extra` arguments).

  Returns (returncode, stdout, stderr, seconds). A run silent for
  STALL_SECONDS is killed and fails the test. stop_at: a string; the run is
  SIGKILLed (its whole process group) as soon as a stdout line contains it.
  """
  args = [sys.executable, "-m", "conv_t5.demo", "--out_dir", str(out_dir)]
  for binding in (() if "--quick" in extra else CI_BINDINGS):
    args += ["--gin_param", binding]
  t0 = time.time()
  proc = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          start_new_session=True)
  err = []
  threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
  last = [time.time()]
  out = []

  def watchdog():
    while proc.poll() is None:
      if time.time() - last[0] > STALL_SECONDS:
        os.killpg(proc.pid, signal.SIGKILL)
        return
      time.sleep(5)
  threading.Thread(target=watchdog, daemon=True).start()
  for line in proc.stdout:
    last[0] = time.time()
    out.append(line)
    if stop_at and stop_at in line:
      os.killpg(proc.pid, signal.SIGKILL)
      break
  proc.wait()
  stalled = time.time() - last[0] > STALL_SECONDS
  assert not stalled, f"no output for {STALL_SECONDS} s: " + "".join(out)[-2000:]
  time.sleep(0.1)  # the stderr reader's last lines
  return proc.returncode, "".join(out), "".join(err), time.time() - t0


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
  out = tmp_path_factory.mktemp("demo") / "grid"
  code, stdout, stderr, seconds = run_demo(out)
  assert code == 0, stdout[-3000:] + stderr[-3000:]
  print(f"default grid at small step counts: {seconds:.0f} s")
  return out, stdout


def expected_spec():
  """The grid the fixture ran: its profile, and the release's pre-training."""
  from conv_t5.experiments import release  # pylint: disable=g-import-not-at-top
  return release.with_release_pretraining(
      spec_lib.spec_from_gin(["demo/default.gin"], CI_BINDINGS))


def snapshot(out_dir):
  """{path: (mtime_ns, bytes)} of every marker and results file."""
  files = glob.glob(f"{out_dir}/models/**/*_done.json", recursive=True)
  files += glob.glob(f"{out_dir}/results.*")
  return {f: (os.stat(f).st_mtime_ns, open(f, "rb").read()) for f in files}


def test_the_default_grid_prints_progress_table_verdicts_and_json_path_last(
    grid):
  out, stdout = grid
  lines = stdout.strip().splitlines()
  assert lines[-1] == str(out / "results.json")
  assert any(" step " in l and "left" in l for l in lines)  # progress
  data = json.load(open(lines[-1]))
  spec = expected_spec()
  assert data["grid"] == spec.to_json()
  # One record per evaluated run, task and split: the schema anyone can
  # recompute the table from; every cell of every seed of the grid.
  runs = data["runs"]
  assert all(set(r) == RECORD_KEYS for r in runs)
  assert all(0.0 <= r["value"] <= 100.0 for r in runs)
  tasks = {"demo_movie_sentiment", "demo_topic", "demo_tweet_sentiment",
           spec.pair_task}
  expected = {(a, i, t, s, split) for a in spec.archs for i in spec.inits(a)
              for t in tasks for s in spec.seeds
              for split in ("validation", "test")}
  assert len(runs) == len(expected)
  assert {(r["arch"], r["init"], r["task"], r["seed"], r["split"])
          for r in runs} == expected
  assert set(data["verdicts"]) == {"RQ1", "RQ2", "RQ4", "RQ5"}
  assert data["rule"] == verdicts_lib.RULE
  for row in data["rows"]:
    has_run = any(r["arch"] == row["arch"] and
                  (r["init"] == "pretrained") == row["pretrained"]
                  for r in runs)
    if has_run:
      assert row["mean"]["n"] == spec.num_seeds
      assert set(row["cells"]) == tasks
    else:  # the hybrid from scratch: not in the grid
      assert row["mean"] is None and row["cells"] == {}
  md = open(out / "results.md").read()
  table_lines = [l for l in md.splitlines() if l.startswith("|")]
  assert len(table_lines) == 2 + 2 * len(spec.archs) + 1  # + majority row
  for line in table_lines:
    assert line in stdout  # the printed table is the file's
  assert "**RQ4**" in md and "**RQ4**" in stdout
  with open(out / "results.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _per_seed_means(runs, arch, init, tasks):
  """{seed: mean test accuracy over `tasks`} of one row, from the records."""
  by_seed = {}
  for r in runs:
    if (r["split"], r["arch"], r["init"]) == ("test", arch, init) and (
        r["task"] in tasks):
      by_seed.setdefault(r["seed"], []).append(r["value"])
  return {s: statistics.fmean(v) for s, v in by_seed.items()
          if len(v) == len(tasks)}


def _judge_by_hand(diffs, direction):
  """The rule, written out again: Student t interval of the per-seed
  differences; no spread (or one seed) is inconclusive."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  n = len(diffs)
  if n < 2:
    return "inconclusive"
  mean = statistics.fmean(diffs)
  half = stats.t.ppf(0.975, n - 1) * statistics.stdev(diffs) / n ** 0.5
  if half <= verdicts_lib.NO_SPREAD:  # zero width, up to float rounding
    return "inconclusive"
  if mean - half > 0 or mean + half < 0:
    return "supported" if (mean > 0) == (direction > 0) else "contradicted"
  return "inconclusive"


def test_every_verdict_follows_from_the_records_by_the_rule(grid):
  """The control, RQ1, RQ2 and RQ5 recomputed from the per-run records
  alone (means over the single-sequence tasks, differences seed by seed,
  the rule applied by hand), and RQ4 from the pair task's records."""
  data = json.load(open(grid[0] / "results.json"))
  runs, spec = data["runs"], expected_spec()
  single = {"demo_movie_sentiment", "demo_topic", "demo_tweet_sentiment"}

  def diff(a, b):
    return [a[s] - b[s] for s in sorted(a) if s in b]

  def mean(arch, init="pretrained", tasks=single):
    return _per_seed_means(runs, arch, init, tasks)

  def gain(arch):
    return diff(mean(arch), mean(arch, "scratch"))

  def combined(verdicts):
    verdicts = set(verdicts)
    return verdicts.pop() if len(verdicts) == 1 else "inconclusive"

  convs = ["conv_lightweight", "conv_dynamic", "conv_dilated"]
  pair = {spec.pair_task}
  assert data["control"]["verdict"] == _judge_by_hand(gain("transformer"), 1)
  expected = {
      "RQ1": combined(_judge_by_hand(gain(c), 1) for c in convs),
      "RQ2": combined(_judge_by_hand(diff(mean(c), mean("transformer")), 1)
                      for c in convs),
      "RQ4": combined(
          [_judge_by_hand(diff(mean(c, tasks=pair),
                               mean("transformer", tasks=pair)), -1)
           for c in convs]
          + [_judge_by_hand(diff(mean("conv_dynamic_xattn", tasks=pair),
                                 mean("conv_dynamic", tasks=pair)), 1)]),
      "RQ5": combined(_judge_by_hand(diff(mean(c), mean("conv_lightweight")),
                                     1)
                      for c in ("conv_dilated", "conv_dynamic")),
  }
  assert {q: v["verdict"] for q, v in data["verdicts"].items()} == expected
  for question in data["verdicts"].values():
    for comparison in question["comparisons"]:
      assert comparison["difference"]["n"] == spec.num_seeds


def _accuracy(eval_dir, task, step):
  targets = open(f"{eval_dir}/{task}_targets").read().split()
  predictions = open(f"{eval_dir}/{task}_{step}_predictions").read().split()
  assert len(targets) == len(predictions) > 0
  return 100 * sum(p == t for p, t in zip(predictions, targets)) / len(targets)


def test_every_number_is_t5s_eval_at_the_checkpoint_chosen_on_validation(
    grid):
  """Recomputes each record from the prediction and target files t5's eval
  wrote; every task of a run is reported on test at one step: the one with
  the best validation accuracy averaged over the run's tasks (the earliest
  of equals) among the evaluated checkpoints."""
  out = grid[0]
  data = json.load(open(out / "results.json"))
  spec = data["grid"]
  by_dir = {}
  for r in data["runs"]:
    by_dir.setdefault(r["model_dir"], {}).setdefault(
        r["task"], {})[r["split"]] = r
  assert sum(len(t) for t in by_dir.values()) * 2 == len(data["runs"])
  for model_dir, tasks in by_dir.items():
    marker = json.load(open(os.path.join(model_dir, "train_done.json")))
    start, final = marker["started_from_step"], marker["final_step"]
    every = spec["finetune_steps"] // spec["eval_checkpoints"]
    steps = list(range(start + every, final + 1, every))
    assert len(steps) == spec["eval_checkpoints"] and steps[-1] == final
    val = {t: {s: _accuracy(f"{model_dir}/validation_eval", t, s)
               for s in steps} for t in tasks}
    mean = {s: statistics.mean(val[t][s] for t in tasks) for s in steps}
    best = min(s for s in steps if mean[s] == max(mean.values()))
    for task, both in tasks.items():
      assert both["validation"]["step"] == both["test"]["step"] == best
      assert both["validation"]["value"] == pytest.approx(val[task][best],
                                                          abs=1e-3)
      assert both["test"]["value"] == pytest.approx(
          _accuracy(f"{model_dir}/test_eval", task, best), abs=1e-3)


def test_rerun_skips_finished_stages_and_keeps_results(grid):
  out = grid[0]
  before = snapshot(out)
  code, stdout, stderr, _ = run_demo(out)
  assert code == 0, stderr[-3000:]
  assert "unchanged:" in stdout
  n = len(stages_lib.stages(expected_spec()))
  assert len(glob.glob(f"{out}/models/**/*_done.json", recursive=True)) == n
  assert f"({n} of {n} stages were already done)" in stdout
  assert snapshot(out) == before


def _ckpt_step_files(model_dir, step):
  return glob.glob(f"{model_dir}/model.ckpt-{step}.*")


def test_interrupted_run_resumes_and_failures_never_overwrite(grid, tmp_path):
  src = grid[0]
  out = tmp_path / "copy"
  shutil.copytree(src, out)
  spec = expected_spec()
  task, final = spec.tasks[0], spec.finetune_steps
  seed = spec.seed
  # 1. transformer/scratch/<task>: as if interrupted after its mid checkpoint.
  resumed = out / f"models/seed_{seed}/transformer/scratch" / task
  mid = max(int(p.split("-")[-1].split(".")[0])
            for p in glob.glob(f"{resumed}/model.ckpt-*.index")
            if 0 < int(p.split("-")[-1].split(".")[0]) < final)
  assert mid == spec.save_every
  for f in _ckpt_step_files(resumed, final):
    os.remove(f)
  with open(resumed / "checkpoint", "w") as f:
    f.write(f'model_checkpoint_path: "model.ckpt-{mid}"\n'
            f'all_model_checkpoint_paths: "model.ckpt-{mid}"\n')
  for name in ("train_done.json", "eval_done.json"):
    os.remove(resumed / name)
  shutil.rmtree(resumed / "validation_eval")
  shutil.rmtree(resumed / "test_eval")
  # 2. <another arch>/scratch/<task>: a broken checkpoint, so its eval fails.
  other_arch = spec.scratch_archs[-1]
  broken = out / f"models/seed_{seed}" / other_arch / "scratch" / task
  os.remove(broken / "eval_done.json")
  (index,) = glob.glob(f"{broken}/model.ckpt-{final}.index")
  with open(index, "wb") as f:
    f.write(b"not a checkpoint")
  kept = dict(snapshot(out))

  # Run 1: killed (SIGKILL, whole process group) once the stage is resuming.
  code, stdout, _, _ = run_demo(
      out, "--no_data_build",
      stop_at=f"resuming from the checkpoint at step {mid}")
  assert f"resuming from the checkpoint at step {mid}" in stdout, stdout[-2000:]
  assert snapshot(out) == kept  # nothing finished was touched
  assert not (resumed / "train_done.json").exists()

  # Run 2: the interrupted stage resumes from its checkpoint; the broken eval
  # fails, so the run is incomplete and the old results stay.
  code, stdout, _, _ = run_demo(out, "--no_data_build")
  assert code == 1
  assert "INCOMPLETE" in stdout
  assert f"seed_{seed}/{other_arch}/scratch/{task} eval" in stdout
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
  code, stdout, stderr, _ = run_demo(out, "--no_data_build")
  assert code == 0, stdout[-2000:] + stderr[-2000:]
  final_snapshot = snapshot(out)
  changed = {p for p in final_snapshot if final_snapshot[p] != after.get(p)}
  assert changed == {str(broken / "eval_done.json")} | {
      str(out / f"results.{e}") for e in ("md", "png", "json")}
  def records(directory):
    """Every record but the resumed run's (its data restarted from the first
    batch on resume, t5's default: docs/reliability.md), without its path."""
    runs = json.load(open(directory / "results.json"))["runs"]
    return [{k: v for k, v in r.items() if k != "model_dir"} for r in runs
            if (r["arch"], r["init"], r["seed"]) != ("transformer", "scratch",
                                                     seed)]
  assert records(out) == records(src)


def test_a_different_grid_in_the_same_out_dir_is_refused(grid):
  code, _, stderr, _ = run_demo(grid[0], "--no_data_build", "--gin_param",
                                "GridSpec.finetune_steps = 8")
  assert code == 2
  assert "holds a grid run with a different configuration" in stderr
  assert "finetune_steps: 20 -> 8" in stderr


def test_one_unit_run_again_gives_its_numbers_again(grid, tmp_path):
  """Every stage is seeded and the workers run one thread each, so a unit
  (an architecture and a seed: its pre-training, fine-tuning and evals) run
  again in a copy of the grid, beside the other worker, gives every one of
  its numbers again, to the last digit, while every other stage is skipped.
  (Another machine or thread count rounds differently: see docs/demo.md,
  "Repeatability".)"""
  src = grid[0]
  out = tmp_path / "again"
  shutil.copytree(src, out)
  spec = expected_spec()
  unit_seed = spec.seeds[-1]
  shutil.rmtree(out / f"models/seed_{unit_seed}/transformer")
  os.remove(out / "results.json")
  code, stdout, stderr, _ = run_demo(out, "--no_data_build")
  assert code == 0, stdout[-2000:] + stderr[-2000:]
  n = len(stages_lib.stages(spec))
  unit_stages = 2 * len(spec.tasks) * len(spec.inits("transformer"))
  assert unit_stages == len(stages_lib.Unit("transformer", unit_seed).stages(
      spec))  # no pre-training stage: the release is the pre-training
  assert f"({n - unit_stages} of {n} stages were already done)" in stdout

  def numbers(directory):
    runs = json.load(open(directory / "results.json"))["runs"]
    return sorted((r["arch"], r["init"], r["task"], r["seed"], r["split"],
                   r["step"], r["value"]) for r in runs)
  assert numbers(out) == numbers(src)
  assert sum(1 for n in numbers(out) if n[0] == "transformer"
             and n[3] == unit_seed) == 2 * 4 * 2  # inits x tasks x splits



def test_quick_fine_tunes_the_shipped_release(tmp_path):
  """`python -m conv_t5.demo --quick`, as a user runs it: every pre-trained
  run starts from the shipped release (its weights' sha256 the manifest's,
  fine-tuning seed k from release seed k), no stage pre-trains, and it ends
  with the table, the verdicts and the path of results.json."""
  from conv_t5.experiments import release  # pylint: disable=g-import-not-at-top
  out = tmp_path / "quick"
  code, stdout, stderr, seconds = run_demo(out, "--quick")
  assert code == 0, stdout[-3000:] + stderr[-3000:]
  print(f"--quick: {seconds:.0f} s")
  assert stdout.rstrip().splitlines()[-1] == str(out / "results.json")
  data = json.load(open(out / "results.json"))
  assert set(data["verdicts"]) == {"RQ1", "RQ2", "RQ4", "RQ5"}
  for line in open(out / "results.md").read().splitlines():
    if line.startswith("|"):
      assert line in stdout  # the table, printed
  spec = spec_lib.GridSpec.from_json(data["grid"])
  assert spec == release.with_release_pretraining(
      spec_lib.spec_from_gin(["demo/quick.gin"]))
  manifest = release.check()
  assert spec.pretrained_from == "release"
  assert spec.pretrain_steps == manifest["grid"]["pretrain_steps"]
  assert not glob.glob(f"{out}/models/**/pretrain", recursive=True)
  started = 0
  for stage in stages_lib.stages(spec):
    if stage.kind != "finetune" or stage.init != "pretrained":
      continue
    model_dir = stage.model_dir(str(out / "models"))
    marker = json.load(open(f"{model_dir}/train_done.json"))
    intent = json.load(open(f"{model_dir}/grid_stage.json"))
    seed = release.paired_seed(spec, manifest, stage.arch, stage.seed)
    assert seed == stage.seed  # 2 fine-tuning seeds, release seeds 1 and 2
    run = release.find_run(manifest, stage.arch, seed)
    prefix = f"model.ckpt-{run['steps']}"
    assert os.path.normpath(os.path.join(out / "models", intent["init_from"])
                            ) == os.path.join(layout.release_run_dir(
                                layout.RELEASE_DIR, stage.arch, seed), prefix)
    assert intent["init_sha256"] == run["files"][
        f"{prefix}.data-00000-of-00001"]
    assert marker["started_from_step"] == 0
    started += 1
  assert started == len(spec.archs) * len(spec.seeds)
