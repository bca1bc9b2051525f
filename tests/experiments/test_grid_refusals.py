"""What `python -m conv_t5.demo` refuses before it starts a worker: a
--gin_param the grid would not pass on, an output directory whose grid ran
with other contents of its gin files, and an output directory another run
holds. Each exits with status 2 and one message."""

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest

from conv_t5.experiments import demo
from conv_t5.experiments import markers
from conv_t5.experiments import pool
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib
from conv_t5.experiments import worker


@pytest.fixture
def no_workers(monkeypatch):
  """Fails the test if the driver gets as far as starting workers."""
  def refuse(*args, **kwargs):
    raise AssertionError("the driver started workers")
  monkeypatch.setattr(pool, "run", refuse)
  sigterm = signal.getsignal(signal.SIGTERM)
  yield
  signal.signal(signal.SIGTERM, sigterm)


def _sha(path):
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


# ------------------------------------------------------------ --gin_param

def test_a_binding_the_grid_does_not_pass_on_is_refused(tmp_path, capsys,
                                                         no_workers):
  out = str(tmp_path / "out")
  assert demo.main(["--out_dir", out, "--no_data_build", "--gin_param",
                    "GridSpec.num_seeds = 2", "--gin_param",
                    "MtfModel.learning_rate_schedule = 0.1"]) == 2
  assert capsys.readouterr().err == (
      "error: --gin_param 'MtfModel.learning_rate_schedule = 0.1': the grid "
      "passes only GridSpec.* bindings on; a binding for the stages' gin "
      "config goes into GridSpec.bindings, e.g. --gin_param \"GridSpec."
      "bindings = ['MtfModel.learning_rate_schedule = 0.1']\" (this replaces "
      "the profile's own GridSpec.bindings list).\n")
  assert not os.path.exists(os.path.join(out, markers.GRID_FILE))


@pytest.mark.parametrize("binding, refused", [
    ("GridSpec.pretrain_steps = 50", False),
    ("conv_t5.grid.GridSpec.seed = 2", False),
    ("GridSpec.bindings = ['MtfModel.learning_rate_schedule = 0.1']", False),
    ("MtfModel.learning_rate_schedule = 0.1", True),
    ("learning_rate_schedule_noam.total_train_steps = 10", True),
    ("scope/GridSpec.seed = 2", True),  # a scope the grid never enters
    ("GridSpec.seed = 2\nMtfModel.batch_size = 8", True),
    ("include 'demo/finetune.gin'", True),
    ("DROPOUT = 0.1", True),  # a macro
])
def test_only_gridspec_bindings_pass(binding, refused):
  if refused:
    with pytest.raises(ValueError, match="passes only GridSpec"):
      spec_lib.check_bindings([binding])
  else:
    spec_lib.check_bindings([binding])


# ------------------------------------------------------------ gin contents

@pytest.fixture
def gin_grid(tmp_path):
  """A one-architecture grid whose fine-tuning recipe is a tmp gin file that
  includes another (by absolute path; the rest resolve on the search
  path)."""
  inc = tmp_path / "inc.gin"
  inc.write_text("dropout_rate = 0.1\n")
  ft = tmp_path / "finetune.gin"
  ft.write_text(f"include '{inc}'\nMtfModel.keep_checkpoint_max = 4\n")
  spec = spec_lib.GridSpec(archs=("transformer",), finetune_gin=(str(ft),),
                           seed=1).check()
  return spec, str(ft), str(inc)


def test_the_grid_records_the_contents_of_every_gin_file(tmp_path, gin_grid):
  spec, ft, inc = gin_grid
  out = str(tmp_path / "out")
  markers.init_out_dir(spec, out)
  with open(os.path.join(out, markers.GRID_FILE)) as f:
    recorded = json.load(f)
  hashes = recorded[markers.GIN_SHA256]
  assert hashes[ft] == _sha(ft) and hashes[inc] == _sha(inc)
  # defaults.gin (mesh-tensorflow's, parsed first), the model config and the
  # files it includes, cpu.gin, both recipes.
  for name in ("defaults.gin", "models/transformer.tiny.gin",
               "models/t5.1.0.base.gin", "cpu.gin", "demo/pretrain.gin"):
    assert name in hashes, name
  markers.init_out_dir(spec, out)  # the same contents: fine


def test_a_resumed_grid_with_an_edited_gin_file_is_refused(tmp_path, gin_grid,
                                                           capsys, no_workers):
  spec, ft, inc = gin_grid
  out = str(tmp_path / "out")
  markers.init_out_dir(spec, out)  # what the first run recorded
  with open(inc, "a") as f:
    f.write("MtfModel.keep_checkpoint_max = 5\n")
  profile = tmp_path / "profile.gin"
  profile.write_text("import conv_t5.experiments.spec\n"
                     "GridSpec.archs = ['transformer']\n"
                     f"GridSpec.finetune_gin = ['{ft}']\nGridSpec.seed = 1\n")
  assert demo.main(["--out_dir", out, "--no_data_build", "--gin_file",
                    str(profile)]) == 2
  assert capsys.readouterr().err == (
      f"error: {out} holds a grid run whose gin files had other contents: "
      f"{inc} changed since it started, so its finished stages were not "
      "trained with the configuration this run would use. Use another "
      "--out_dir, or delete that directory to start over.\n")


def test_a_grid_recorded_before_hashing_is_accepted_then_pinned(tmp_path,
                                                                gin_grid):
  spec, _, inc = gin_grid
  out = str(tmp_path / "out")
  os.makedirs(out)
  path = os.path.join(out, markers.GRID_FILE)
  with open(path, "w") as f:  # what the code before hashing wrote
    json.dump({"spec": spec.to_json()}, f)
  markers.init_out_dir(spec, out)
  with open(path) as f:
    recorded = json.load(f)
  assert recorded == {"spec": spec.to_json(),
                      markers.GIN_SHA256: markers.grid_gin_sha256(spec)}
  with open(inc, "a") as f:
    f.write("# edited\n")
  with pytest.raises(spec_lib.GridMismatchError, match=f"{inc} changed"):
    markers.init_out_dir(spec, out)


def test_the_worker_fingerprints_its_gin_files_contents(tmp_path, gin_grid,
                                                        monkeypatch):
  spec, ft, inc = gin_grid
  stage = stages_lib.Stage("finetune", "transformer", "scratch", "t", 1)
  seen = []

  def stop(model_dir, fingerprint):
    seen.append(fingerprint)
    raise RuntimeError("stop before training")
  monkeypatch.setattr(markers, "check_intent", stop)
  with pytest.raises(RuntimeError, match="stop before training"):
    worker.run_train_stage(spec, stage, str(tmp_path), lambda e: None)
  (fingerprint,) = seen
  assert fingerprint[markers.GIN_SHA256] == markers.stage_gin_sha256(
      spec, stage)
  assert fingerprint[markers.GIN_SHA256][inc] == _sha(inc)
  assert fingerprint["gin"] == stages_lib.stage_gin(spec, stage)


def test_a_stage_started_with_other_gin_contents_is_refused(tmp_path,
                                                            gin_grid):
  spec, _, inc = gin_grid
  stage = stages_lib.Stage("finetune", "transformer", "scratch", "t", 1)
  mdir = str(tmp_path / "m")
  os.makedirs(mdir)
  old = {"stage": stage.name, "target_step": 300, "seed": 1}
  path = os.path.join(mdir, markers.INTENT_FILE)
  with open(path, "w") as f:  # what the worker before hashing wrote
    json.dump(old, f)
  new = dict(old, **{markers.GIN_SHA256: markers.stage_gin_sha256(spec,
                                                                  stage)})
  markers.check_intent(mdir, new)  # accepted, and now pinned
  with open(path) as f:
    assert json.load(f) == new
  markers.check_intent(mdir, new)
  with open(inc, "a") as f:
    f.write("# edited\n")
  edited = dict(old, **{markers.GIN_SHA256: markers.stage_gin_sha256(
      spec, stage)})
  with pytest.raises(spec_lib.GridMismatchError) as e:
    markers.check_intent(mdir, edited)
  assert str(e.value) == (
      f"{mdir} was started with other contents of its gin files: {inc} "
      "changed since; this run would mix the two. Use another --out_dir, or "
      "delete that model dir to retrain it.")
  with pytest.raises(spec_lib.GridMismatchError,
                     match="started with another configuration"):
    markers.check_intent(mdir, dict(new, target_step=600))


# ------------------------------------------------------------ the lock

def test_a_second_run_on_the_same_out_dir_is_refused(tmp_path, capsys,
                                                     no_workers):
  out = str(tmp_path / "out")
  os.makedirs(out)
  held = os.open(os.path.join(out, ".lock"), os.O_RDWR | os.O_CREAT)
  fcntl.flock(held, fcntl.LOCK_EX)  # the first run's lock
  try:
    assert demo.main(["--out_dir", out, "--no_data_build"]) == 2
  finally:
    os.close(held)
  assert capsys.readouterr().err == (
      f"error: another run holds {out} (it has the lock {out}/.lock); wait "
      "for it to end, or use another --out_dir.\n")
  assert os.listdir(out) == [".lock"]  # nothing else touched


def test_the_lock_of_a_killed_run_does_not_block(tmp_path):
  out = str(tmp_path / "out")
  os.makedirs(out)
  holder = subprocess.Popen(
      [sys.executable, "-c",
       "import fcntl, os, sys, time\n"
       f"fd = os.open({out + '/.lock'!r}, os.O_RDWR | os.O_CREAT)\n"
       "fcntl.flock(fd, fcntl.LOCK_EX)\n"
       "print('locked', flush=True)\n"
       "time.sleep(600)\n"],
      stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline() == "locked\n"
    assert demo.lock_out_dir(out) is None
  finally:
    holder.kill()
    holder.wait()
  fd = demo.lock_out_dir(out)  # the .lock file is still there: no matter
  assert fd is not None
  assert demo.lock_out_dir(out) is None  # held by this process now
  os.close(fd)
