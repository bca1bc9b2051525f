"""DilatedConvolution: dilated taps and per-block schedules, checked in numpy."""

import numpy as np

from conv_t5 import layers
import mtf_harness
import numpy_reference


def test_normalized_kernel_option():
  x = mtf_harness.random_inputs(2, 11, 8)
  layer = layers.DilatedConvolution(num_heads=2, kernel_width=3, dilation=3,
                                    normalize=True)
  out, weights = mtf_harness.run_layer(layer, x, True,
                                       segment=mtf_harness.PACKED)
  want = numpy_reference.block(x, mtf_harness.weights_in_layer(weights),
                               "dilated", 3, 3, True, mtf_harness.PACKED,
                               normalize=True)
  np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5)


def test_taps_are_dilation_apart():
  """Decoder output at t moves with x at t, t - r, t - 2r only."""
  x = mtf_harness.random_inputs(1, 12, 8)
  layer = layers.DilatedConvolution(num_heads=2, kernel_width=3, dilation=3)
  base, _ = mtf_harness.run_layer(layer, x, True)
  seen = []
  for s in range(12):
    moved = x.copy()
    moved[0, s] += 1.0
    out, _ = mtf_harness.run_layer(layer, moved, True)
    if np.abs(out["full"][0, 9] - base["full"][0, 9]).max() > 1e-6:
      seen.append(s)
  assert seen == [3, 6, 9]
