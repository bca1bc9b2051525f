"""DynamicConvolution: kernels predicted per position, checked in numpy."""

import numpy as np

from conv_t5 import layers
import mtf_harness


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
