"""LightweightConvolution: the equations of Wu et al. (2019) in numpy."""

import numpy as np

from conv_t5 import layers
import mtf_harness
import numpy_reference


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
  want = numpy_reference.block(x, mtf_harness.weights_in_layer(weights),
                               "lightweight", 5, 1, False)
  np.testing.assert_allclose(out["eval"], want, rtol=1e-4, atol=1e-5)
  assert np.abs(out["train"] - out["eval"]).max() > 1e-3
