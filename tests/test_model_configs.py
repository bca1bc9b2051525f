"""Every model config trains through the t5 pipeline (MtfModel / Estimator).

tiny: in `make test` (~12 s of CPU each). small, base and large take from
half a minute to several minutes each on a 2-core CPU (measured: base 2 min,
large 3 min for 2 steps); they run with `make test-paper-configs`
(CONV_T5_PAPER_CONFIGS=1). Their graphs are also built and their parameters
counted by `python -m conv_t5.params` (docs/models.md).
"""

import os

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


# Every architecture at every size; the cross-attention hybrids at small only
# (their layers are the convolutions' and mesh-tensorflow's attention, both
# trained at base and large above), which keeps `make test-paper-configs`
# near 15 minutes on 2 cores.
PAPER_CONFIGS = [(a, s) for a in ARCHS for s in ("small", "base", "large")] + [
    (a, "small") for a in XATTN]


@pytest.mark.paper_configs
@pytest.mark.parametrize("arch,size", PAPER_CONFIGS)
def test_larger_size_trains_through_the_pipeline(tmp_path, arch, size):
  losses = train(tmp_path, f"models/{arch}.{size}.gin", steps=1)
  assert losses and np.all(np.isfinite(losses))
