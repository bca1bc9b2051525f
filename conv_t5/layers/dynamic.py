"""Dynamic convolution (Wu et al., 2019): the kernel at t is predicted from X1 at t.

    k[t, h, :] = softmax(W_K X1[t])     W_K: [heads, d_head] -> [heads, K]
    X2[t, h, c] = sum_j k[t, h, j] X1[t + o_j, h, c]

As in fairseq's DynamicConv1dTBC, the prediction reads the convolution's own
input (the GLU output), at the current position only, so decoding step by step
needs nothing beyond the lightweight state.
"""

import gin
import mesh_tensorflow as mtf

from conv_t5.layers import block


@gin.configurable(module="conv_t5")
class DynamicConvolution(block.ConvolutionBlock):
  """The paper's dynamic convolution block (see module docstring)."""

  def kernel(self, context, x1, heads_dim, width_dim):
    """Returns [batch..., (length,) heads, conv_width], softmaxed over width."""
    # The predicted heads get a name of their own while X1's heads are summed
    # over (a tensor cannot carry "heads" twice), then take "heads" back.
    out_heads = mtf.Dimension("kernel_heads", heads_dim.size)
    logits = mtf.layers.dense(
        x1, new_dims=[out_heads, width_dim],
        reduced_dims=[heads_dim, x1.shape.get_dim_by_name("d_head")],
        use_bias=self.use_bias, variable_dtype=context.variable_dtype,
        name="kernel_predictor", expert_dims=context.model.ensemble_dims)
    logits = mtf.rename_dimension(logits, out_heads.name, heads_dim.name)
    return mtf.softmax(logits, reduced_dim=width_dim)
