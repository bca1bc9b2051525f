"""conv_t5.experiments.layout: the one place that writes the architecture list
and the model-dir layout the grid, the results table and launch/ share."""

import os
import re

import pytest

from conv_t5.experiments import layout
from conv_t5.experiments import stages

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.mark.parametrize("arch", layout.ARCHS)
@pytest.mark.parametrize("init", layout.INITS)
def test_model_dirs_round_trip(arch, init):
  for root in ("/tmp/runs/models", "gs://bucket/conv_t5/models"):
    path = layout.model_dir(root, arch, init, "demo_topic")
    assert path == f"{root}/{arch}/{init}/demo_topic"
    assert layout.describe(path) == (arch, init, "demo_topic")
    assert layout.describe(path + "/") == (arch, init, "demo_topic")
    assert stages.Stage("finetune", arch, init, "demo_topic").model_dir(
        root) == path
  pretrain = layout.model_dir("/r", arch)
  assert pretrain == f"/r/{arch}/pretrain"
  assert layout.describe(pretrain) is None
  assert stages.Stage("pretrain", arch).model_dir("/r") == pretrain


def test_models_root_and_unknown_init():
  assert layout.models_root("runs/demo") == "runs/demo/models"
  with pytest.raises(ValueError, match="init must be one of"):
    layout.relative_dir("transformer", "warm", "demo_topic")
  assert layout.describe("/r/transformer/warm/demo_topic") is None


def test_the_architecture_list_is_written_once():
  """No other Python file spells the list out (they import layout)."""
  spelled = re.compile(r"""["']transformer["'],\s*["']conv_lightweight["']""")
  hits = []
  for folder in ("conv_t5", "tasks", "launch", "tests"):
    for dirpath, _, names in os.walk(os.path.join(REPO, folder)):
      for name in names:
        if name.endswith(".py"):
          path = os.path.join(dirpath, name)
          with open(path) as f:
            if spelled.search(f.read()):
              hits.append(os.path.relpath(path, REPO))
  assert hits == [os.path.join("conv_t5", "experiments", "layout.py")]
