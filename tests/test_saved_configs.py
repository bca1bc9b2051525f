"""operative_config.gin files written before the package layout changed still
parse and build their model; the old module paths still import.

The fixtures (tests/fixtures/operative_configs/, see its README) were written
by the code at commit 327bdf8, when the layers, guards, optimizer wrapper and
grid were the modules conv_t5.layers (one file), conv_t5.guards,
conv_t5.ordered and conv_t5.grid. Each is parsed in a fresh interpreter (so
nothing this test session imported helps), after importing what t5's main
imports (`--module_import=conv_t5.tasks`, t5.models), then its model is built.
"""

import json
import os
import subprocess
import sys

import pytest

import cli_helpers as h

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "operative_configs")
CLI_CONFIG = "cli_conv_lightweight_pretrain.gin"
DEMO_CONFIGS = ("demo_conv_dynamic_pretrain.gin",
                "demo_conv_dynamic_finetune.gin")

# Runs in a fresh interpreter: parses each config as t5's main does (mesh's
# defaults.gin, then the files), builds the Bitransformer from it and calls it
# once; prints what it found as JSON.
PARSE_AND_BUILD = r"""
import json, sys
import conv_t5.tasks  # --module_import=conv_t5.tasks
import t5.models  # noqa: F401  (t5's main imports it)
import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import utils
import tensorflow.compat.v1 as tf
from conv_t5 import config
import conv_t5.layers

def build(files):
  config.parse(files)
  with tf.Graph().as_default():
    model = utils.build_model(input_vocab_size=64, output_vocab_size=64)
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    dims = [mtf.Dimension("batch", 1), mtf.Dimension("length", 8)]
    ids = mtf.ones(mesh, mtf.Shape(dims), tf.int32)
    model.call_simple(ids, ids, compute_loss=True, mode="train",
                      variable_dtype=mtf.VariableDType(tf.float32))
    layers = {type(l).__module__ + "." + type(l).__name__
              for stack in (model.encoder.layer_stack, model.decoder.layer_stack)
              for l in stack.layers}
    return {"layers": sorted(layers), "variables": len(graph.all_variables),
            "train_model": str(gin_value("utils.run.train_model_fn")),
            "optimizer": str(gin_value("utils.run.optimizer"))}

def gin_value(name):
  import gin
  try:
    return gin.query_parameter(name)
  except ValueError:
    return None

out = {}
cli, demos = sys.argv[1], sys.argv[2:]
# First, before anything else registered conv_t5's training modules: the
# CLI's config alone, whose own `import conv_t5.guards` / `conv_t5.ordered`
# / `conv_t5.layers as conv_t52` lines must resolve.
out[cli] = build([cli])
# The demo's configs name conv_t5.train_model without importing its module
# (they were written in-process by GuardedMtfModel); the CLI parses them
# after gin/guards.gin, as it parses every --gin_file.
for path in demos:
  out[path] = build(["guards.gin", path])
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def built():
  paths = [os.path.join(FIXTURES, CLI_CONFIG)] + [
      os.path.join(FIXTURES, name) for name in DEMO_CONFIGS]
  proc = subprocess.run([sys.executable, "-c", PARSE_AND_BUILD, *paths],
                        capture_output=True, text=True, env=h.env(),
                        timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  return {os.path.basename(k): v for k, v in json.loads(line[7:]).items()}


def test_the_cli_config_of_before_the_move_parses_and_builds(built):
  found = built[CLI_CONFIG]
  assert "conv_t5.layers.lightweight.LightweightConvolution" in found["layers"]
  assert found["variables"] > 0
  assert "conv_t5.train_model" in found["train_model"]
  assert "conv_t5.OrderedUpdates" in found["optimizer"]


@pytest.mark.parametrize("name", DEMO_CONFIGS)
def test_the_demo_configs_of_before_the_move_parse_and_build(built, name):
  found = built[name]
  assert "conv_t5.layers.dynamic.DynamicConvolution" in found["layers"]
  assert found["variables"] > 0
  # The config binds conv_t5.train_model's parameters (the guards the demo's
  # worker trained with), which is why it needs conv_t5's training modules:
  with open(os.path.join(FIXTURES, name)) as f:
    text = f.read()
  assert "train_model.check_architecture = True" in text
  assert "conv_t5.train_model" in found["train_model"]


def test_the_old_module_paths_are_the_new_objects():
  from conv_t5 import grid, guards, ordered  # pylint: disable=g-import-not-at-top
  from conv_t5.experiments import layout, markers, spec, stages, worker  # pylint: disable=g-import-not-at-top
  from conv_t5.training import checkpoints, determinism, finite, lengths, model, train  # pylint: disable=g-import-not-at-top
  from conv_t5.training import ordered as new_ordered  # pylint: disable=g-import-not-at-top
  import conv_t5.layers  # pylint: disable=g-import-not-at-top
  from conv_t5.layers import dilated, dynamic, hybrid, lightweight  # pylint: disable=g-import-not-at-top
  assert guards.train_model is train.train_model
  assert guards.check_sequence_length is lengths.check_sequence_length
  assert guards.ArchitectureGuard is checkpoints.ArchitectureGuard
  assert guards.NonFiniteLossGuard is finite.NonFiniteLossGuard
  assert guards.DETERMINISM_ENV is determinism.DETERMINISM_ENV
  assert guards.GuardedMtfModel is model.GuardedMtfModel
  assert ordered.OrderedUpdates is new_ordered.OrderedUpdates
  assert grid.GridSpec is spec.GridSpec and grid.ARCHS is layout.ARCHS
  assert grid.Stage is stages.Stage and grid.is_done is markers.is_done
  assert grid.run_worker is worker.run_worker
  assert conv_t5.layers.LightweightConvolution is lightweight.LightweightConvolution
  assert conv_t5.layers.DynamicConvolution is dynamic.DynamicConvolution
  assert conv_t5.layers.DilatedConvolution is dilated.DilatedConvolution
  assert conv_t5.layers.Hybrid is hybrid.Hybrid


@pytest.mark.parametrize("module", [
    "conv_t5.demo", "conv_t5.results", "conv_t5.params", "conv_t5.grid",
    "conv_t5.bench", "conv_t5.tasks.demo_data"])
def test_python_dash_m_commands_still_run(module):
  proc = subprocess.run([sys.executable, "-m", module, "--help"],
                        capture_output=True, text=True, env=h.env(),
                        timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "usage:" in proc.stdout
