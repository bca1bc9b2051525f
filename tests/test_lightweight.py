"""LightweightConvolution: the equations of Wu et al. (2019) in numpy."""

import numpy as np
import pytest

from conv_t5 import layers
import mtf_harness
import numpy_reference

PACKED = np.array([[1] * 4 + [2] * 5 + [0] * 2, [1] * 11])


def weights_in_layer(weights):
  return {k[len("layer/"):]: v for k, v in weights.items()}


@pytest.mark.parametrize("autoregressive", [True, False])
@pytest.mark.parametrize("width,dilation", [(3, 1), (4, 2), (7, 1)])
def test_matches_numpy_implementation(autoregressive, width, dilation):
  """Same weights (read back from the graph), same outputs as the equations."""
  x = mtf_harness.random_inputs(2, 11, 8, seed=width)
  layer = layers.LightweightConvolution(num_heads=2, kernel_width=width, dilation=dilation)
  out, weights = mtf_harness.run_layer(layer, x, autoregressive,
                                       segment=PACKED)
  want = numpy_reference.block(x, weights_in_layer(weights), "lightweight", width,
                               dilation, autoregressive, PACKED)
  np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5)


def test_kernel_dropout_only_in_training():
  """DropConnect changes the output in training (mode=train) and not in eval."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  x = mtf_harness.random_inputs(2, 11, 8)
  layer = layers.LightweightConvolution(num_heads=2, kernel_width=5,
                                        kernel_dropout=0.5)
  with tf.Graph().as_default():
    run = mtf_harness.LayerRun(layer, 2, 11, 8, False)
    run.full("eval", x, mode="eval")
    run.full("train", x, mode="train")
    out, weights = run.run()
  want = numpy_reference.block(x, weights_in_layer(weights), "lightweight", 5,
                               1, False)
  np.testing.assert_allclose(out["eval"], want, rtol=1e-4, atol=1e-5)
  assert np.abs(out["train"] - out["eval"]).max() > 1e-3
