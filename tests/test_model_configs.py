"""Every model config builds, and trains through the t5 pipeline (MtfModel /
Estimator).

tiny: trained in `make test` (~12 s of CPU each). The paper's sizes (small,
base, large) of every architecture take from half a minute to several
minutes each to train on a 2-core CPU (measured: base 2 min, large 3 min for
2 steps), so `make test-paper-configs` (CONV_T5_PAPER_CONFIGS=1, run by
.ci/run) builds every one and counts its parameters (against docs/models.md's
table where it lists the config), and trains a step of the small size of
each architecture; `make test-paper-configs-all` (CONV_T5_PAPER_CONFIGS=all)
trains a step of every one: run it before submitting a change to a model
config or a layer.
"""

import os
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import config
from conv_t5.experiments import layout
import conv_t5.tasks  # noqa: F401  (registers local_text_span_corruption)

ARCHS = list(layout.ARCHS)
XATTN = list(layout.XATTN_ARCHS)
TEXT = ("Convolutions are local by construction and need no positional "
        "embedding. The decoder reads only earlier positions. ")


def train(tmp_path, gin_file, steps=2):
  """Trains `gin_file` for `steps` steps with MtfModel; returns the losses."""
  import t5  # pylint: disable=g-import-not-at-top
  text = tmp_path / "text.txt"
  text.write_text("\n".join(TEXT * (i % 5 + 1) for i in range(40)))
  config.parse([gin_file, "cpu.gin", "dataset.gin"], [
      "MIXTURE_NAME = 'local_text_span_corruption'",
      f"conv_t5.local_text_files.patterns = {{'train': '{text}'}}",
      "conv_t5.vocabulary_model.path = 'seqio_test'",
  ])
  model_dir = str(tmp_path / "model")
  model = t5.models.MtfModel(
      model_dir=model_dir, tpu=None, mesh_shape="",
      batch_size=("sequences_per_batch", 2),
      sequence_length={"inputs": 16, "targets": 8},
      learning_rate_schedule=0.001, save_checkpoints_steps=steps,
      iterations_per_loop=1)
  model.train("local_text_span_corruption", steps)
  assert tf.train.latest_checkpoint(model_dir).endswith(f"-{steps}")
  losses = [v.simple_value for e in tf.train.summary_iterator(
      tf.io.gfile.glob(os.path.join(model_dir, "events.out.tfevents*"))[0])
            for v in e.summary.value if v.tag == "loss"]
  return losses


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS + ["conv_dilated_xattn"])
def test_tiny_trains_through_the_pipeline(tmp_path, arch):
  losses = train(tmp_path, f"models/{arch}.tiny.gin")
  assert losses and np.all(np.isfinite(losses))


SIZES = ("small", "base", "large")
PAPER_CONFIGS = [(a, s) for a in ARCHS + XATTN for s in SIZES]
ALL = os.environ.get("CONV_T5_PAPER_CONFIGS") == "all"
DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "models.md")


def documented_counts():
  """{gin file: (total, encoder, decoder, shared) in millions} from
  docs/models.md's parameter table."""
  rows = re.findall(r"^\| `(models/[\w.]+\.gin)` \| ([\d.]+)M \| ([\d.]+)M "
                    r"\| ([\d.]+)M \| ([\d.]+)M \|$", open(DOCS).read(), re.M)
  return {f: tuple(float(x) for x in xs) for f, *xs in rows}


def test_the_documented_counts_are_found():
  assert len(documented_counts()) == 9


@pytest.mark.paper_configs
@pytest.mark.parametrize("arch,size", PAPER_CONFIGS)
def test_paper_config_builds_and_counts(arch, size):
  """Every paper-size config builds its graph; its parameter count is the
  docs' where docs/models.md lists it, and each part is a real count."""
  from conv_t5.experiments import params  # pylint: disable=g-import-not-at-top
  gin_file = f"models/{arch}.{size}.gin"
  got = params.count(gin_file)
  assert got["total"] == got["encoder"] + got["decoder"] + got["shared"]
  assert min(got["encoder"], got["decoder"], got["shared"]) > 0
  documented = documented_counts().get(gin_file)
  if documented:
    assert tuple(round(got[k] / 1e6, 1) for k in (
        "total", "encoder", "decoder", "shared")) == documented


# A training step: the small size of every architecture in CI; every size
# with CONV_T5_PAPER_CONFIGS=all (`make test-paper-configs-all`).
TRAINED = PAPER_CONFIGS if ALL else [(a, "small") for a in ARCHS + XATTN]


@pytest.mark.paper_configs
@pytest.mark.parametrize("arch,size", TRAINED)
def test_paper_config_trains_through_the_pipeline(tmp_path, arch, size):
  losses = train(tmp_path, f"models/{arch}.{size}.gin", steps=1)
  assert len(losses) == 1 and np.isfinite(losses[0])
