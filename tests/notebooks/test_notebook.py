"""Executes notebooks/conv_t5_demo.ipynb end to end (`make test-notebook`),
and the install path it takes in Colab, in a throwaway environment.

The kernel is the project's .venv Python (a kernelspec written into a
temporary JUPYTER_PATH), so the notebook takes its Python 3.11 path for real:
it finds the checkout's pinned set and installs nothing. Fails on any cell
error. Every number and label it prints is checked against what its runs
wrote (the event files, the release's manifest, the checkpoints, t5's eval
files and logs, the predictions file), recomputed here, so the notebook's
values are never spelled out. Prints the time of each cell.
"""

import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
NOTEBOOK = os.path.join(ROOT, "notebooks", "conv_t5_demo.ipynb")
KERNEL = "conv_t5_venv"
sys.path.insert(0, os.path.join(ROOT, "notebooks"))
import colab_env  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

# A last cell added to the executed copy: the notebook's variables the checks
# need, as one JSON line.
PROBE = "@@probe "
PROBED = ("PLAN", "WORK", "PRETRAIN_DIR", "PRETRAIN_STEPS", "ARCH", "SEED",
          "RELEASE", "FINETUNE_DIRS", "FINETUNE_STEPS", "LABELS", "SENTENCES",
          "BENCH_DIR", "LENGTHS_L")
PROBE_CELL = f"""import json, sys
missing = [n for n in {PROBED!r} if n not in globals()]
assert not missing, f'the notebook no longer defines {{missing}}'
found = {{n: globals()[n] for n in {PROBED!r} if n != 'PLAN'}}
found.update(python=sys.executable, plan=[PLAN.kind, PLAN.commands])
print({PROBE!r} + json.dumps(found))
"""


def _venv_python():
  python = os.path.join(ROOT, ".venv", "bin", "python")
  return python if os.path.exists(python) else sys.executable


def _text(cell):
  parts = []
  for out in cell.get("outputs", []):
    if out.get("output_type") == "stream":
      parts.append(out.get("text", ""))
    elif "data" in out:
      parts.append(out["data"].get("text/plain", ""))
  return "".join(p if p.endswith("\n") else p + "\n" for p in parts if p)


def _seconds(cell):
  timing = cell.get("metadata", {}).get("execution", {})
  start, end = timing.get("iopub.status.busy"), timing.get(
      "shell.execute_reply")
  if not (start and end):
    return None
  from datetime import datetime

  def parse(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
  return (parse(end) - parse(start)).total_seconds()


@pytest.mark.notebook
@pytest.mark.timeout(1800)
def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
  import nbformat
  from nbclient import NotebookClient

  spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
  spec_dir.mkdir(parents=True)
  (spec_dir / "kernel.json").write_text(json.dumps({
      "argv": [_venv_python(), "-m", "ipykernel_launcher", "-f",
               "{connection_file}"],
      "display_name": "conv_t5 .venv", "language": "python"}))
  monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
  monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
  monkeypatch.delenv("MPLBACKEND", raising=False)

  nb = nbformat.read(NOTEBOOK, as_version=4)
  nb.cells.append(nbformat.v4.new_code_cell(PROBE_CELL))
  client = NotebookClient(
      nb, kernel_name=KERNEL, timeout=1200, allow_errors=False,
      resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}})
  start = time.monotonic()
  try:
    client.execute()
  finally:
    total = time.monotonic() - start
    out_path = os.environ.get("CONV_T5_NOTEBOOK_OUT")
    if out_path:  # the executed notebook, for a look at its outputs
      nbformat.write(nb, out_path)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    print(f"\nnotebook: {total:.0f} s in all")
    for i, cell in enumerate(code_cells, 1):
      secs = _seconds(cell)
      first = cell.source.strip().splitlines()[0][:60]
      print(f"  cell {i:2d}: {secs if secs is None else round(secs, 1)} s"
            f"  {first}")

  check_outputs(nb)


def check_outputs(nb):
  """Checks an executed copy of the notebook (with the probe cell last)
  against the files its runs wrote."""
  text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
  lines = text.splitlines()
  probe = json.loads(next(line[len(PROBE):] for line in lines
                          if line.startswith(PROBE)))

  # The checkout's .venv has the pinned set: nothing is installed.
  assert probe["plan"] == ["ready", []]
  assert (f"{probe['python']} already has the pinned set and this "
          "checkout's conv_t5: nothing to install") in lines

  # The loss the notebook prints is the first and last of its event files.
  # (The Estimator's summary hook lands its last summary at or just before
  # the last step: it reads the global step while the step increments it.)
  steps, losses = zip(*_scalars(probe["PRETRAIN_DIR"], "loss"))
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  assert tf.train.latest_checkpoint(probe["PRETRAIN_DIR"]).endswith(
      f"-{probe['PRETRAIN_STEPS']}")
  assert steps[-1] <= probe["PRETRAIN_STEPS"]
  assert (f"pre-training loss: {losses[0]:.3f} at step {steps[0]}, "
          f"{losses[-1]:.3f} at step {steps[-1]}") in lines
  assert losses[-1] < losses[0] - 1.0  # it learnt something

  check_release_and_finetuning(probe, lines)

  # The accuracies: t5's eval of each run's last checkpoint (and of that run:
  # its log restores that checkpoint alone), recomputed from the predictions
  # and targets files it wrote, as t5 logged and stored it, and in the table.
  steps = probe["FINETUNE_STEPS"]
  for name, model_dir in probe["FINETUNE_DIRS"].items():
    task, step, accuracy = _eval_accuracy(model_dir)
    assert step == steps
    log = _read(os.path.join(probe["WORK"], f"eval_{name}.log"))
    assert _restored(log) == [f"{model_dir}/model.ckpt-{steps}"]
    assert f"eval/{task}/accuracy at step {step}: {accuracy:.3f}" in log
    assert f"eval/{task}/accuracy at step {step}: {accuracy:.3f}" in text
    assert f"{probe['LABELS'][name]:<28} {step:>5}  {accuracy:.1f}%" in lines
    print(f"  {name}: {accuracy:.1f}% after {step} steps")

  # The decoded labels: the predictions file t5's predict wrote from the last
  # checkpoint of the run fine-tuned from the release, in the task's label set.
  import seqio  # pylint: disable=g-import-not-at-top
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  labels = seqio.get_mixture_or_task(task).postprocessor.keywords[
      "label_classes"]
  log = _read(os.path.join(probe["WORK"], "predict.log"))
  assert _restored(log) == [
      f"{probe['FINETUNE_DIRS']['pretrained']}/model.ckpt-{steps}"]
  assert glob.glob(os.path.join(probe["WORK"], "predictions.txt-*")) == [
      os.path.join(probe["WORK"], f"predictions.txt-{steps}")]
  decoded = _predictions(probe["WORK"])
  assert len(decoded) == len(probe["SENTENCES"]) and set(decoded) <= set(
      labels), (decoded, labels)
  printed = [m.groups() for m in (re.match(r"^\s*(\S+)  <-  (.*)$", line)
                                  for line in lines) if m]
  assert printed == list(zip(decoded, probe["SENTENCES"]))
  print(f"  predictions: {printed}")

  # Each plotting cell shows its figure once; the benchmark timed both
  # models at every length.
  for cell in nb.cells:
    if cell.cell_type == "code" and "plt.show()" in cell.source:
      pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
      assert len(pngs) == cell.source.count("plt.show()"), cell.source[:80]
  with open(os.path.join(probe["BENCH_DIR"], "bench.json")) as f:
    records = json.load(f)["records"]
  assert {(r["model"], r["seq_len"]) for r in records
          if r["status"] == "ok"} == {
      (m, n) for m in ("transformer", "lightweight")
      for n in probe["LENGTHS_L"]}
  for n in probe["LENGTHS_L"]:
    assert re.search(rf"\[bench\] tiny A L=\s*{n} lightweight", text), text


def check_release_and_finetuning(probe, lines):
  """The shipped checkpoint the notebook fine-tunes is the manifest's, checked
  against its sha256, with the model config it was pre-trained with; the run
  from it restored exactly its weights, the run from scratch none; both ran
  one config (but for the init checkpoint) from step 0, at the same learning
  rate at step 1."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from conv_t5 import files  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import layout  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import release  # pylint: disable=g-import-not-at-top
  rel, arch, seed = probe["RELEASE"], probe["ARCH"], probe["SEED"]
  assert (arch, seed) == ("conv_lightweight", 1)
  run = release.find_run(release.check(), arch, seed)
  prefix = f"model.ckpt-{run['steps']}"
  assert rel["checkpoint"] == os.path.join(
      layout.release_run_dir(layout.RELEASE_DIR, arch, seed), prefix)
  assert rel["sha256"] == run["files"][f"{prefix}.data-00000-of-00001"] == (
      files.sha256_file(f"{rel['checkpoint']}.data-00000-of-00001"))
  assert f"  sha256 of the weights: {rel['sha256']}" in lines
  assert (rel["steps"], rel["task"]) == (run["steps"], run["task"])
  assert rel["model_gin"] == run["gin"][:run["gin"].index("cpu.gin")]

  released = tf.train.load_checkpoint(rel["checkpoint"])
  shapes = released.get_variable_to_shape_map()
  weights = sorted(n for n in shapes if n != "global_step")
  steps, dirs = probe["FINETUNE_STEPS"], probe["FINETUNE_DIRS"]
  assert sorted(dirs) == ["pretrained", "scratch"]
  configs, rates = {}, {}
  for name, model_dir in dirs.items():
    assert sorted(os.path.basename(p) for p in glob.glob(
        f"{model_dir}/model.ckpt-*.index")) == [
            "model.ckpt-0.index", f"model.ckpt-{steps}.index"]
    first = tf.train.load_checkpoint(os.path.join(model_dir, "model.ckpt-0"))
    assert first.get_tensor("global_step") == 0
    assert {n: first.get_variable_to_shape_map()[n] for n in weights} == {
        n: shapes[n] for n in weights}  # the released model's architecture
    same = [n for n in weights
            if np.array_equal(first.get_tensor(n), released.get_tensor(n))]
    assert same == (weights if name == "pretrained" else []), (name, same)
    rates[name] = _scalars(model_dir, "learning_rate")[0]
    configs[name] = _bindings(os.path.join(model_dir, "operative_config.gin"))
  assert rates["pretrained"] == rates["scratch"] == (
      1, pytest.approx(0.01)), rates
  init = ("", "run", "init_checkpoint")
  assert configs["pretrained"].pop(init) == rel["checkpoint"]
  assert configs["scratch"].pop(init) is None
  # A binding one config lacks counts as None: mesh-tensorflow records the
  # init checkpoint's variable mapping and filter (None) only with one.
  differ = {k for k in set(configs["pretrained"]) | set(configs["scratch"])
            if configs["pretrained"].get(k) != configs["scratch"].get(k)}
  assert not differ, differ


def _bindings(path):
  """{(scope, selector, arg): value} of an operative config, references and
  macros as text."""
  from gin import config_parser  # pylint: disable=g-import-not-at-top

  class Refs(config_parser.ParserDelegate):

    def configurable_reference(self, scoped_name, evaluate):
      return "@" + scoped_name + ("()" if evaluate else "")

    def macro(self, macro_name):
      return "%" + macro_name

  return {(s.scope or "", s.selector, s.arg_name): s.value
          for s in config_parser.ConfigParser(_read(path), Refs())
          if isinstance(s, config_parser.BindingStatement)}


def _read(path):
  with open(path) as f:
    return f.read()


def _restored(log):
  """The checkpoints a t5 log says it restored parameters from."""
  return re.findall(r"^INFO:tensorflow:Restoring parameters from (\S+)$", log,
                    re.M)


def _scalars(model_dir, tag):
  """[(step, value)] of a scalar summary in model_dir's event files."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  points = []
  for path in sorted(glob.glob(os.path.join(model_dir,
                                            "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      points += [(event.step, v.simple_value) for v in event.summary.value
                 if v.tag == tag]
  return sorted(points)


def _eval_accuracy(model_dir):
  """(task, step, accuracy x100) of t5's validation eval of the latest
  checkpoint, recomputed from the class ids in the files it wrote, and
  checked against the value t5 stored in its event file."""
  from conv_t5.experiments import results  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import worker  # pylint: disable=g-import-not-at-top
  eval_dir = results.eval_dir(model_dir, "validation")
  tasks = [f[:-len("_targets")] for f in os.listdir(eval_dir)
           if f.endswith("_targets")]
  assert len(tasks) == 1, os.listdir(eval_dir)
  task, step = tasks[0], worker.latest_step(model_dir)
  with open(os.path.join(eval_dir, f"{task}_targets")) as f:
    targets = f.read().splitlines()
  with open(os.path.join(eval_dir, f"{task}_{step}_predictions")) as f:
    predictions = f.read().splitlines()
  assert len(predictions) == len(targets) > 0
  accuracy = 100.0 * sum(p == t for p, t in zip(predictions, targets)) / len(
      targets)
  assert results.read_eval_dir(eval_dir)[task]["accuracy"] == {
      step: pytest.approx(accuracy, abs=1e-4)}
  return task, step, accuracy


def _predictions(work):
  """The labels of t5's predict output file (the latest) under `work`."""
  path = sorted(glob.glob(os.path.join(work, "predictions.txt-*")))[-1]
  with open(path) as f:
    return [ast.literal_eval(line).decode() if line.startswith("b'")
            else line.strip() for line in f.read().splitlines()]


def _colab_python():
  """A Python 3.12 or later, standing in for Colab's runtime, or None."""
  candidates = [shutil.which(f"python3.{m}") for m in (12, 13)] + sorted(
      glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
  for python in filter(None, candidates):
    res = subprocess.run(  # a pyenv shim may exist and refuse to run
        [python, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True, text=True, check=False)
    if res.returncode == 0 and tuple(map(int, res.stdout.split())) >= (3, 12):
      return python, tuple(map(int, res.stdout.split()))
  return None, None


@pytest.mark.notebook
@pytest.mark.timeout(900)
def test_the_colab_install_path_in_a_throwaway_env(tmp_path):
  """What the install cell does in Colab (Python 3.12+, no python3.11 on
  PATH), with a Python 3.12 venv as the runtime and a clone of this
  repository as the notebook's first cell makes it: colab_env.plan, then
  its commands, for real up to the Python 3.11 venv; the pip installs with
  --dry-run (pip resolves and fetches every pinned wheel for Python 3.11
  and builds conv_t5's editable metadata, installs nothing)."""
  python, version = _colab_python()
  if python is None:
    pytest.skip("no Python 3.12 or later here to stand in for Colab's")
  t0 = time.monotonic()
  runtime = str(tmp_path / "colab")
  subprocess.run([python, "-m", "venv", runtime], check=True)
  root = str(tmp_path / "conv_t5")
  subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}",
                  root], check=True)  # the committed tree, as Colab clones it
  which = lambda name: None if name == "python3.11" else shutil.which(name)  # noqa: E731
  plan = colab_env.plan(root, version=version,
                        executable=os.path.join(runtime, "bin", "python"),
                        which=which)  # Colab has no python3.11
  venv = os.path.join(root, ".venv")
  assert plan.kind == "create" and plan.bin_dir == os.path.join(venv, "bin")
  runtime_python = os.path.join(runtime, "bin", "python")
  assert [c[:4] for c in plan.commands[:2]] == [  # uv: from PyPI, then venv
      [runtime_python, "-m", "pip", "install"],
      [runtime_python, "-m", "uv", "venv"]]
  venv_python = os.path.join(venv, "bin", "python")
  reports, seconds = [], []

  def run(args, cwd):
    if args[0] == venv_python and args[1:4] == ["-m", "pip", "install"]:
      reports.append(str(tmp_path / f"report{len(reports)}.json"))
      args = args[:4] + ["--dry-run", "--report", reports[-1]] + args[4:]
    t = time.monotonic()
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                         check=False)
    seconds.append((round(time.monotonic() - t, 1), " ".join(args[1:5])))
    assert res.returncode == 0, (args, res.stdout[-2000:], res.stderr[-3000:])
  env = colab_env.execute(plan, root, run=run)
  total = time.monotonic() - t0
  print(f"\nColab install path (dry run): {total:.0f} s in all; {seconds}")

  assert env.python == venv_python
  res = subprocess.run([venv_python, "-c",
                        "import sys; print(*sys.version_info[:2])"],
                       capture_output=True, text=True, check=True)
  assert res.stdout.split() == ["3", "11"]
  # pip would install exactly the pinned set (a pin without a local label
  # takes a wheel with one, as pip's == does: torch 2.13.0+cpu), but for the
  # pins the new venv was seeded with already (uv's packaging).
  pins = colab_env.pins(root)
  would = _report(reports[0])
  seeded = json.loads(subprocess.run(
      [venv_python, "-m", "pip", "list", "--format=json"], capture_output=True,
      text=True, check=True).stdout)
  already = {colab_env._norm(d["name"]) for d in seeded  # pylint: disable=protected-access
             if pins.get(colab_env._norm(d["name"])) == d["version"]}  # pylint: disable=protected-access
  assert sorted(set(would) | already) == sorted(pins)
  assert not set(would) & already
  from packaging.version import Version  # pylint: disable=g-import-not-at-top
  for name, version in would.items():
    pin, got = Version(pins[name]), Version(version)
    assert got == pin or (not pin.local and got.public == pin.public), (
        name, version, pins[name])
  # Then conv_t5 from the clone, every one of its requirements pinned to a
  # version that satisfies it (what pip check checks after the install).
  from packaging.requirements import Requirement  # pylint: disable=g-import-not-at-top
  with open(reports[1]) as f:
    (conv_t5,) = json.load(f)["install"]
  assert colab_env._norm(conv_t5["metadata"]["name"]) == "conv-t5"  # pylint: disable=protected-access
  for text in conv_t5["metadata"].get("requires_dist", []):
    req = Requirement(text)
    if req.marker and not req.marker.evaluate({"extra": ""}):
      continue
    name = colab_env._norm(req.name)  # pylint: disable=protected-access
    assert name in pins, f"conv_t5 requires {req}, which is not pinned"
    assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])


def _report(path):
  """{normalised name: version} of what a pip --report would install."""
  with open(path) as f:
    items = json.load(f)["install"]
  return {colab_env._norm(i["metadata"]["name"]): i["metadata"]["version"]  # pylint: disable=protected-access
          for i in items}
