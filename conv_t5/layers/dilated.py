"""Dilated convolution: a depthwise kernel whose taps are r positions apart.

    X2[t, h, c] = sum_j k[h, j] X1[t + r (j - left), h, c]      k: [heads, K]

The kernel is learned per head (shared by the channels of a head, as in the
lightweight block; num_heads = channels gives one kernel per channel) and is
not normalised unless `normalize` is set. Width K and rate r are per-layer
schedules (see gin/models/conv_dilated.*.gin and docs/models.md).
"""

import gin
import mesh_tensorflow as mtf

from conv_t5.layers import block


@gin.configurable(module="conv_t5")
class DilatedConvolution(block.ConvolutionBlock):
  """The paper's dilated convolution block (see module docstring)."""

  def __init__(self, num_heads=8, kernel_width=7, dilation=2,
               kernel_dropout=0.0, channels=None, causal=None, block_size=16,
               normalize=False, use_bias=False, zero_first_position=False):
    """Args as ConvolutionBlock, and normalize: softmax the kernel over its
    width, like lightweight (default False: a plain depthwise kernel)."""
    super().__init__(num_heads=num_heads, kernel_width=kernel_width,
                     dilation=dilation, kernel_dropout=kernel_dropout,
                     channels=channels, causal=causal, block_size=block_size,
                     use_bias=use_bias,
                     zero_first_position=zero_first_position)
    self.normalize = normalize

  def kernel(self, context, x1, heads_dim, width_dim):
    """Returns [ensemble..., heads, conv_width]."""
    del x1
    weights = block.learned_kernel(context, heads_dim, width_dim)
    if self.normalize:
      return mtf.softmax(weights, reduced_dim=width_dim)
    return weights
