"""The demo release (conv_t5/release/, `make demo-pretrain`): its files
against the manifest's sha256, the refusals, the weights-only checkpoints,
and a replay of a shipped run's first 200 steps that must give the losses
recorded when it was trained (CPU training is deterministic with
determinism.DETERMINISM_ENV and the recorded thread counts).

The tests that train (a replay, a one-run release, a grid fine-tuning it:
minutes) are marked `demo`: `make test-demo` runs them, after `make test`."""

import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import machine
from conv_t5.experiments import demo_pretrain
from conv_t5.experiments import layout
from conv_t5.experiments import release
from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import stages as stages_lib

FIX = "run `make demo-pretrain`"


def test_the_shipped_release_matches_its_manifest():
  manifest = release.check()
  assert manifest["profile"] == release.PROFILE
  spec = spec_lib.spec_from_gin([release.PROFILE])
  assert manifest["grid"] == spec.to_json()
  runs = {(r["arch"], r["seed"]): r for r in manifest["runs"]}
  assert set(runs) == {(u.arch, u.seed)  # whole: every arch and seed
                       for u in stages_lib.units(spec)}
  for (arch, seed), run in runs.items():
    assert run["steps"] == spec.pretrain_steps
    assert 0 < run["wall_steps"] <= run["steps"]
    assert run["tokens_seen"] == spec.pretrain_steps * 16 * (64 + 16)
    run_dir = layout.release_run_dir(layout.RELEASE_DIR, arch, seed)
    assert sorted(os.listdir(run_dir)) == sorted(run["files"])
    reader = tf.train.load_checkpoint(run_dir)
    names = reader.get_variable_to_dtype_map()
    assert not [n for n in names if "_slot_" in n]
    assert int(reader.get_tensor("global_step")) == spec.pretrain_steps
    steps = [s for s, _ in release.read_losses(arch, seed)]
    assert steps[0] == 1 and steps[-1] <= spec.pretrain_steps
    # Every 100 steps, now and then 99 (the Estimator's summary hook drifts);
    # a stage resumed from a checkpoint adds one at its first step (the
    # shipped conv_dynamic_xattn seed 1: 11894, then 11901 after a resume
    # from model.ckpt-11900).
    gaps = [b - a for a, b in zip(steps[1:], steps[2:])]
    assert all(1 <= g <= 100 for g in gaps)
    assert sum(g < 99 for g in gaps) <= len(gaps) // 50


def test_make_demo_fine_tunes_the_shipped_release_and_records_its_pretraining():
  """`make demo`'s grid takes every pre-training field from the release it
  fine-tunes (its records say how its models were pre-trained), and every
  architecture it fine-tunes from the release is in it for every seed."""
  grid = spec_lib.spec_from_gin(["demo/default.gin"])
  assert grid.release_dir == layout.RELEASE_DIR
  adopted = release.with_release_pretraining(grid)
  shipped = spec_lib.spec_from_gin([release.PROFILE])
  for field in spec_lib.PRETRAIN_FIELDS:
    assert getattr(adopted, field) == getattr(shipped, field)
  assert adopted.pretrain_steps == 16000 != grid.pretrain_steps
  for field in ("model_gin", "model_overrides"):
    assert getattr(grid, field) == getattr(shipped, field)
  assert set(grid.archs) == set(shipped.archs)
  # 5 fine-tuning seeds from 3 released ones: 1 2 3 1 2.
  assert [release.paired_seed(grid, release.check(), "transformer", s)
          for s in grid.seeds] == [1, 2, 3, 1, 2]


def test_losses_are_read_up_to_the_record_a_killed_writer_truncated(tmp_path):
  """A stage killed mid-write leaves its events file ending in a truncated
  record (then resumes into a new file): the records before it are read, and
  the new file's too."""
  for name, steps in (("old", (1, 100, 200)), ("new", (300, 400))):
    with tf.Graph().as_default():
      writer = tf.summary.FileWriter(str(tmp_path / name))
      for step in steps:
        writer.add_summary(tf.Summary(value=[tf.Summary.Value(
            tag="loss", simple_value=step / 1000)]), step)
      writer.close()
    (path,) = glob.glob(str(tmp_path / name / "events.out.*"))
    shutil.move(path, tmp_path / os.path.basename(path).replace(
        "events.out", f"events.out.{name}"))
  (old,) = glob.glob(str(tmp_path / "events.out.old*"))
  with open(old, "rb+") as f:
    f.truncate(os.path.getsize(old) - 5)
  assert release.losses_from_events(str(tmp_path)) == [
      (1, pytest.approx(0.001)), (100, pytest.approx(0.1)),
      (300, pytest.approx(0.3)), (400, pytest.approx(0.4))]


def _tiny_checkpoint(directory, step=7):
  """A checkpoint with a bfloat16 weight, its float32 slot and a step."""
  with tf.Graph().as_default():
    w16 = tf.cast(tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3)
                              / 7), tf.bfloat16)
    weight = tf.Variable(w16, name="encoder/kernel")
    slot = tf.Variable(tf.ones([2, 3]), name="encoder/kernel_slot_v")
    global_step = tf.Variable(step, name="global_step", dtype=tf.int64)
    saver = tf.train.Saver([weight, slot, global_step])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return saver.save(sess, os.path.join(directory, "model.ckpt"),
                        global_step=step)


def test_weights_only_keeps_every_weight_in_its_dtype_and_drops_slots(
    tmp_path):
  src = _tiny_checkpoint(str(tmp_path / "src"))
  written = release.write_weights_only(src, str(tmp_path / "out"))
  assert written == ["checkpoint", "model.ckpt-7.data-00000-of-00001",
                     "model.ckpt-7.index"]
  assert open(tmp_path / "out" / "checkpoint").read() == (
      'model_checkpoint_path: "model.ckpt-7"\n'
      'all_model_checkpoint_paths: "model.ckpt-7"\n')
  before, after = (tf.train.load_checkpoint(p)
                   for p in (src, str(tmp_path / "out")))
  assert after.get_variable_to_dtype_map() == {
      "encoder/kernel": tf.bfloat16, "global_step": tf.int64}
  np.testing.assert_array_equal(after.get_tensor("encoder/kernel"),
                                before.get_tensor("encoder/kernel"))
  # t5's route: init_from_checkpoint into a model's bfloat16 variable.
  with tf.Graph().as_default():
    kernel = tf.get_variable("encoder/kernel", [2, 3], tf.bfloat16)
    tf.train.init_from_checkpoint(str(tmp_path / "out"),
                                  {"encoder/": "encoder/"})
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      np.testing.assert_array_equal(sess.run(kernel),
                                    before.get_tensor("encoder/kernel"))


def _fake_release(tmp_path, **run):
  """A one-run release of the tiny checkpoint, manifest included."""
  target = layout.release_run_dir(str(tmp_path / "rel"), "transformer", 1)
  release.write_weights_only(_tiny_checkpoint(str(tmp_path / "src")), target)
  with open(os.path.join(target, release.LOSS_FILE), "w") as f:
    f.write("step\tloss\n1\t8.5\n")
  spec = spec_lib.spec_from_gin([release.PROFILE])
  release.write_manifest(
      spec, [{"arch": "transformer", "seed": 1, "steps": 7,
              "tokens_seen": 7 * 16 * 80, "wall_seconds": 12.3,
              "machine": {"cpu": "Some CPU", "nproc": 2}, **run}],
      [{"commit": "abc1234"}], str(tmp_path / "rel"))
  return str(tmp_path / "rel"), target


def test_check_passes_a_whole_release_and_names_every_file(tmp_path):
  rel, target = _fake_release(tmp_path)
  manifest = release.check(rel)
  assert set(manifest["runs"][0]["files"]) == set(os.listdir(target))


def test_a_changed_file_is_refused_naming_it_and_the_fix(tmp_path):
  rel, target = _fake_release(tmp_path)
  path = os.path.join(target, release.LOSS_FILE)
  with open(path, "a") as f:
    f.write("100\t4.0\n")
  with pytest.raises(release.ReleaseError) as e:
    release.check(rel)
  assert str(e.value).startswith(
      f"{path} does not match the sha256 in {rel}/manifest.json: {FIX}")


def test_a_missing_file_or_run_or_manifest_is_refused(tmp_path):
  rel, target = _fake_release(tmp_path)
  with pytest.raises(release.ReleaseError) as e:
    release.check(rel, [stages_lib.Unit("conv_dynamic", 2)])
  assert str(e.value).startswith(
      f"the demo release in {rel} has no pre-trained conv_dynamic for seed 2: "
      + FIX)
  os.remove(os.path.join(target, "checkpoint"))
  with pytest.raises(release.ReleaseError) as e:
    release.check(rel)
  assert str(e.value).startswith(
      f"the demo release lacks {target}/checkpoint: {FIX}")
  os.remove(os.path.join(rel, "manifest.json"))
  with pytest.raises(release.ReleaseError) as e:
    release.check(rel)
  assert str(e.value).startswith(
      f"the demo release has no manifest.json in {rel}: {FIX}")


def test_check_command_says_when_the_wall_time_covers_a_resumed_part(
    tmp_path):
  rel, _ = _fake_release(tmp_path, wall_steps=3)
  ok = subprocess.run([sys.executable, "-m", "conv_t5.experiments.demo_pretrain",
                       "--check", "--release_dir", rel],
                      capture_output=True, text=True)
  assert ok.stdout.splitlines()[0] == (
      "  transformer seed 1: 7 steps, 8,960 tokens, 0:12 for its last 3 "
      "steps (resumed from step 4) on Some CPU (2 CPUs)")


def test_check_command_says_ok_or_exits_2(tmp_path):
  rel, target = _fake_release(tmp_path)
  ok = subprocess.run([sys.executable, "-m", "conv_t5.experiments.demo_pretrain",
                       "--check", "--release_dir", rel],
                      capture_output=True, text=True)
  assert (ok.returncode, ok.stdout) == (0, (
      "  transformer seed 1: 7 steps, 8,960 tokens, 0:12 on Some CPU (2 CPUs)\n"
      f"{rel}: 1 runs (trained at abc1234), every file matches its "
      "sha256\n"))
  shutil.rmtree(target)
  bad = subprocess.run([sys.executable, "-m", "conv_t5.experiments.demo_pretrain",
                        "--check", "--release_dir", rel],
                       capture_output=True, text=True)
  assert bad.returncode == 2
  assert bad.stderr.startswith(f"error: the demo release lacks {target}/")


def _replay(release_dir, arch, seed, steps, model_dir, data_dir):
  """The replay command's JSON; it exits 0 only when the losses match."""
  manifest = release.read_manifest(release_dir)
  env = demo_pretrain.replay_env(manifest)
  env["CONV_T5_DATA_DIR"] = data_dir
  proc = subprocess.run(
      [sys.executable, "-m", "conv_t5.experiments.demo_pretrain", "--replay",
       arch, str(seed), "--steps", str(steps), "--model_dir", str(model_dir),
       "--release_dir", release_dir],
      env=env, capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.demo
def test_a_shipped_run_replays_its_first_200_steps_to_the_recorded_losses(
    tmp_path, demo_data_dir):
  """The first shipped run, trained again for 200 steps from its operative
  config and seed: the losses at the steps its loss.tsv has up to 200 (1,
  and two about 100 apart) equal loss.tsv's."""
  run = release.check()["runs"][0]
  got = _replay(layout.RELEASE_DIR, run["arch"], run["seed"], 200,
                tmp_path / "replay", demo_data_dir)
  assert len(got["shipped"]) == 3 and got["shipped"][0][0] == 1
  assert got["replayed"] == got["shipped"], (
      f"trained on {run['machine']}, replayed on {machine.summary()}")


@pytest.fixture(scope="module")
def tiny_release(tmp_path_factory, demo_data_dir):
  """`make demo-pretrain` on a one-run grid: the Transformer, seed 1, 30
  steps. Returns (release dir, out dir, the command, its first stdout)."""
  tmp = tmp_path_factory.mktemp("release")
  rel, out = str(tmp / "rel"), str(tmp / "out")
  args = [sys.executable, "-m", "conv_t5.experiments.demo_pretrain",
          "--out_dir", out, "--release_dir", rel, "--data_dir", demo_data_dir,
          "--gin_param", "GridSpec.archs = ['transformer']",
          "--gin_param", "GridSpec.num_seeds = 1",
          "--gin_param", "GridSpec.pretrain_steps = 30"]
  first = subprocess.run(args, capture_output=True, text=True, timeout=1800)
  assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
  return rel, out, args, first.stdout


@pytest.mark.demo
def test_demo_pretrain_writes_a_release_that_checks_and_replays(
    tiny_release, tmp_path, demo_data_dir):
  """The release a one-run grid writes checks, a second invocation trains
  nothing, and the replay of its 30 steps gives its losses."""
  rel, _, args, stdout = tiny_release
  assert f"exported transformer@1 into {rel}\n" in stdout
  assert stdout.splitlines()[-2:] == [
      f"release: 1 of 1 runs in {rel}", f"{rel}/manifest.json"]
  manifest = release.check(rel)
  (run,) = manifest["runs"]
  assert (run["arch"], run["seed"], run["steps"]) == ("transformer", 1, 30)
  assert run["tokens_seen"] == 30 * 16 * 80
  assert [i["jobs"] for i in manifest["invocations"]] == [2]
  again = subprocess.run(args, capture_output=True, text=True, timeout=600)
  assert again.returncode == 0
  assert f"release: 1 of 1 runs in {rel}\n" in again.stdout
  assert "exported" not in again.stdout
  assert release.check(rel) == manifest
  got = _replay(rel, "transformer", 1, 30, tmp_path / "replay",
                demo_data_dir)
  assert [s for s, _ in got["shipped"]] == [1]
  assert got["replayed"] == got["shipped"]


def _summaries(model_dir, tag):
  return dict(release.losses_from_events(model_dir)) if tag == "loss" else {
      e.step: v.simple_value
      for path in sorted(glob.glob(f"{model_dir}/events.out.*"))
      for e in tf.train.summary_iterator(path) for v in e.summary.value
      if v.tag == tag}


@pytest.mark.demo
def test_a_grid_fine_tunes_the_release_with_one_recipe_for_both_inits(
    tiny_release, tmp_path, demo_data_dir):
  """GridSpec.pretrained_from: no pre-training stage; the "pretrained" run
  starts from the released weights (its step-0 checkpoint holds them) at
  global step 0, as the run from scratch does, and both get the same
  learning rate at their first step; fine-tuning seeds 1 and 2 both start
  from the release's one seed."""
  rel = tiny_release[0]
  out = tmp_path / "grid"
  proc = subprocess.run(
      [sys.executable, "-m", "conv_t5.demo", "--out_dir", str(out),
       "--data_dir", demo_data_dir, "--gin_param",
       f"GridSpec.pretrained_from = '{rel}'",
       "--gin_param", "GridSpec.archs = ['transformer']",
       "--gin_param", "GridSpec.tasks = ['demo_multitask_small']",
       "--gin_param", "GridSpec.finetune_gin = ['demo/finetune_release.gin']",
       "--gin_param", "GridSpec.num_seeds = 2",
       "--gin_param", "GridSpec.finetune_steps = 10",
       "--gin_param", "GridSpec.eval_checkpoints = 1"],
      capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert not glob.glob(f"{out}/models/**/pretrain", recursive=True)
  (run,) = release.check(rel)["runs"]
  released = tf.train.load_checkpoint(
      layout.release_run_dir(rel, "transformer", 1))
  rates = set()
  for seed in (1, 2):
    base = out / f"models/seed_{seed}/transformer"
    pre, scratch = (base / init / "demo_multitask_small"
                    for init in ("pretrained", "scratch"))
    intent = json.load(open(pre / "grid_stage.json"))
    assert intent["init_sha256"] == run["files"][
        "model.ckpt-30.data-00000-of-00001"]
    for model_dir in (pre, scratch):
      done = json.load(open(model_dir / "train_done.json"))
      assert (done["started_from_step"], done["final_step"]) == (0, 10)
      rates.add(_summaries(str(model_dir), "learning_rate")[1])
    start = tf.train.load_checkpoint(str(pre / "model.ckpt-0"))
    for name in ("shared/embedding",
                 "encoder/block_000/layer_000/SelfAttention/q"):
      np.testing.assert_array_equal(start.get_tensor(name),
                                    released.get_tensor(name))
    assert _summaries(str(pre), "loss")[1] != _summaries(
        str(scratch), "loss")[1]
  assert len(rates) == 1 and rates.pop() == pytest.approx(0.01)


def test_a_grid_without_its_release_stops_before_any_work(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "conv_t5.demo", "--out_dir",
       str(tmp_path / "grid"), "--no_data_build", "--gin_param",
       f"GridSpec.pretrained_from = '{tmp_path}/none'"],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  assert proc.stderr == (
      f"error: the demo release has no manifest.json in {tmp_path}/none: "
      "run `make demo-pretrain` to write it (hours on 2 cores)\n")
  assert not (tmp_path / "grid" / "models").exists()
