"""Lightweight convolution (Wu et al., 2019): one softmax-normalised kernel per head.

    k[h, :] = softmax(W[h, :])          W: [heads, K], learned
    X2[t, h, c] = sum_j k[h, j] X1[t + o_j, h, c]

Each of the H kernels is shared by the channels / H channels of its head.
DropConnect on k in training: `kernel_dropout` (Wu et al. use 0.1).
"""

import gin
import mesh_tensorflow as mtf

from conv_t5.layers import block


@gin.configurable(module="conv_t5")
class LightweightConvolution(block.ConvolutionBlock):
  """The paper's lightweight convolution block (see module docstring)."""

  def kernel(self, context, x1, heads_dim, width_dim):
    """Returns [ensemble..., heads, conv_width], softmax-normalised over width."""
    del x1
    return mtf.softmax(block.learned_kernel(context, heads_dim, width_dim),
                       reduced_dim=width_dim)
