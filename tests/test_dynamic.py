"""DynamicConvolution: kernels predicted per position, checked in numpy."""

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
  layer = layers.DynamicConvolution(num_heads=2, kernel_width=width, dilation=dilation)
  out, weights = mtf_harness.run_layer(layer, x, autoregressive,
                                       segment=PACKED)
  want = numpy_reference.block(x, weights_in_layer(weights), "dynamic", width,
                               dilation, autoregressive, PACKED)
  np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5)


def test_kernel_depends_on_the_position():
  """The same input vector at two positions gets different kernels only
  through X1 at that position: a constant sequence behaves like one kernel."""
  x = np.tile(mtf_harness.random_inputs(1, 1, 8), (1, 9, 1))
  layer = layers.DynamicConvolution(num_heads=2, kernel_width=3)
  out, _ = mtf_harness.run_layer(layer, x, False)
  # Interior positions see identical windows, so identical outputs; the ends
  # see fewer taps.
  np.testing.assert_allclose(out["full"][0, 1:-1],
                             np.tile(out["full"][0, 1:2], (7, 1)), rtol=1e-5)
  assert np.abs(out["full"][0, 0] - out["full"][0, 1]).max() > 1e-6
