"""DilatedConvolution: dilated taps and per-block schedules, checked in numpy."""

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
  layer = layers.DilatedConvolution(num_heads=2, kernel_width=width, dilation=dilation)
  out, weights = mtf_harness.run_layer(layer, x, autoregressive,
                                       segment=PACKED)
  want = numpy_reference.block(x, weights_in_layer(weights), "dilated", width,
                               dilation, autoregressive, PACKED)
  np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5)


def test_normalized_kernel_option():
  x = mtf_harness.random_inputs(2, 11, 8)
  layer = layers.DilatedConvolution(num_heads=2, kernel_width=3, dilation=3,
                                    normalize=True)
  out, weights = mtf_harness.run_layer(layer, x, True, segment=PACKED)
  want = numpy_reference.block(x, weights_in_layer(weights), "dilated", 3, 3,
                               True, PACKED, normalize=True)
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
