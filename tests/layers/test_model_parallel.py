"""Model parallelism: the tiny convolution models train through the t5 pipeline
(utils.run, placement mesh) on a 2x2 mesh of four CPU devices -- batch split
in two, heads / d_ff / vocab split in two by the default layout rules -- and
give the losses of the same run on one device.

Both runs start from the same weights (the one-device run's step-0 checkpoint,
via utils.run.init_checkpoint), read the same seeded data, and use no dropout
(mesh-tensorflow seeds dropout per slice, so masks differ between meshes).
The optimizer is the CLI's default, Adafactor through conv_t5.OrderedUpdates:
without it updates race with the backward pass on CPU and even two one-device
runs differ (see conv_t5/ordered.py). Measured differences were <= 1.1e-7
relative (float32 rounding of a different reduction order); RTOL leaves
two orders of magnitude."""

import os
import re

import numpy as np
import pytest

import cli_helpers as h

MODELS = ("conv_lightweight", "conv_dynamic", "conv_dilated")
STEPS = 3
RTOL = 1e-5
MESH = ["utils.run.mesh_shape = 'batch:2,model:2'",
        "utils.run.mesh_devices = ['cpu:0', 'cpu:1', 'cpu:2', 'cpu:3']",
        "conv_t5.train_model.cpu_devices = 4"]
VARIABLE = re.compile(r"Variable (\S+)\s+size (\d+)\s+slice_size (\d+)\s+(Shape\[.*?\])")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  work = str(tmp_path_factory.mktemp("mesh"))
  corpus = h.write_corpus(os.path.join(work, "corpus.txt"))
  # Grappler off: a third faster start-up of these graphs; same for both.
  # A constant Adafactor decay: by default it is computed from the global
  # step, which the step reads while incrementing it (a race that the graph
  # cannot order), and that alone made step 3 differ by up to 6e-4.
  common = ["dropout_rate = 0.0", "mesh_train_dataset_fn.seed = 1",
            "conv_t5.train_model.disable_meta_optimizer = True",
            "AdafactorOptimizer.decay_rate = 0.8"]
  cases = []
  for model in MODELS:
    one, four = os.path.join(work, model + "_1"), os.path.join(work, model + "_4")
    for model_dir, params in (
        (one, common),
        (four, common + MESH + [
            f"utils.run.init_checkpoint = '{one}/model.ckpt-0'"])):
      cases.append(dict(
          name=os.path.basename(model_dir), log=model_dir + ".log",
          argv=h.train_argv(model_dir, corpus, model=f"models/{model}.tiny.gin",
                            steps=STEPS, save_every=100, params=params)))
  results = h.run_batch(cases, work)
  logs = {c["name"]: open(c["log"]).read() for c in cases}
  return results, logs


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_2x2_mesh_gives_the_one_device_losses(runs, model):
  results, logs = runs
  for suffix in ("_1", "_4"):
    assert results[model + suffix]["status"] == 0, logs[model + suffix][-3000:]
  a = np.array(h.losses(logs[model + "_1"]))
  b = np.array(h.losses(logs[model + "_4"]))
  assert len(a) == len(b) == STEPS, (a, b)
  print(f"\n{model}: 1 device {a.tolist()}, 2x2 {b.tolist()}, max relative "
        f"difference {np.max(np.abs(b - a) / np.abs(a)):.1e}")
  np.testing.assert_allclose(b, a, rtol=RTOL)
  assert len(set(a)) == STEPS  # the weights did change


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_2x2_mesh_really_shards_the_convolution(runs, model):
  """mesh-tensorflow logs each variable's size and per-device slice size."""
  _, logs = runs
  sharded = {}
  for name, size, slice_size, shape in VARIABLE.findall(logs[model + "_4"]):
    sharded[name] = (int(size), int(slice_size), shape)
  conv = {n: v for n, v in sharded.items() if "Convolution" in n}
  # mesh-tensorflow stacks variables of the same shape ("stacked/...").
  assert any(n.endswith("Convolution/wo/kernel") for n in conv), sorted(conv)
  # Every conv variable with a heads dim is split in two over "model" (the
  # heads:model rule); the others (a slot factored over d_model alone, say)
  # are whole on each device.
  for name, (size, part, shape) in conv.items():
    if re.search(r"\bheads=", shape):
      assert part * 2 == size, (name, size, part, shape)
    else:
      assert part == size, (name, size, part, shape)
  for name, size, slice_size, _ in VARIABLE.findall(logs[model + "_1"]):
    assert size == slice_size, name  # one device: nothing split
