"""Dynamic convolution (Wu et al., 2019): the kernel at t is predicted from X1 at t.

    k[t, h, :] = softmax(W_K X1[t])     W_K: [heads, d_head] -> [heads, K]
    X2[t, h, c] = sum_j k[t, h, j] X1[t + o_j, h, c]

As in fairseq's DynamicConv1dTBC, the prediction reads the convolution's own
input (the GLU output), at the current position only, so decoding step by step
needs nothing beyond the lightweight state.

Heads of one channel (the converted authors' checkpoints) predict the kernel
tap by tap, with the taps as the kernel's outermost dim: [K, batch...,
(length,) heads] instead of [batch..., (length,) heads, K]. The same variables
and the same function (tests/layers/test_core_per_channel.py); there the
kernel is K times the size of X1 and the core's per-channel path reads it tap
by tap, and a softmax over an innermost dim of K = 7 and its unstacking cost
more than the predictor's matmuls save (measured against the authors' layer:
docs/performance.md). There the kernel's softmax keeps only its output for
the backward pass (softmax_keeping_output).
"""

import gin
import mesh_tensorflow as mtf
import tensorflow.compat.v1 as tf

from conv_t5.layers import block
from conv_t5.layers import core


@gin.configurable(module="conv_t5")
class DynamicConvolution(block.ConvolutionBlock):
  """The paper's dynamic convolution block (see module docstring)."""

  def kernel(self, context, x1, heads_dim, width_dim):
    """Returns [batch..., (length,) heads, conv_width] softmaxed over width
    ([conv_width, batch..., (length,) heads] for heads of one channel)."""
    # The predicted heads get a name of their own while X1's heads are summed
    # over (a tensor cannot carry "heads" twice), then take "heads" back.
    out_heads = mtf.Dimension("kernel_heads", heads_dim.size)
    if core.uses_per_channel(x1):
      logits = self._logits_by_tap(context, x1, heads_dim, out_heads,
                                   width_dim)
      softmax = softmax_keeping_output
    else:
      logits = mtf.layers.dense(
          x1, new_dims=[out_heads, width_dim],
          reduced_dims=[heads_dim, x1.shape.get_dim_by_name("d_head")],
          use_bias=self.use_bias, variable_dtype=context.variable_dtype,
          name="kernel_predictor", expert_dims=context.model.ensemble_dims)
      softmax = mtf.softmax
    logits = mtf.rename_dimension(logits, out_heads.name, heads_dim.name)
    return softmax(logits, reduced_dim=width_dim)

  def _logits_by_tap(self, context, x1, heads_dim, out_heads, width_dim):
    """What mtf.layers.dense computes above (its variables, initialisers and
    einsum), one tap at a time, stacked with the taps outermost."""
    reduced = [heads_dim, x1.shape.get_dim_by_name("d_head")]
    new = [out_heads, width_dim]
    ensemble = context.model.ensemble_dims
    w = mtf.layers.get_dense_kernel_weights(
        x1, new, reduced, ensemble, kernel_initializer=None,
        name="kernel_predictor", variable_dtype=context.variable_dtype)
    biases = None
    if self.use_bias:
      with tf.variable_scope("kernel_predictor"):
        biases = mtf.unstack(mtf.get_variable(
            x1.mesh, "bias", mtf.Shape(ensemble + new),
            initializer=tf.zeros_initializer(),
            dtype=context.variable_dtype), width_dim)
    shape = mtf.Shape([d for d in x1.shape.dims if d not in reduced] +
                      [out_heads])
    logits = []
    for j, w_j in enumerate(mtf.unstack(w, width_dim)):
      logit = mtf.layers.us_einsum([x1, w_j], output_shape=shape)
      logits.append(logit if biases is None else logit + biases[j])
    return mtf.stack(logits, width_dim.name, axis=0)


def softmax_keeping_output(logits, reduced_dim):
  """mtf.softmax(logits, reduced_dim) (the same ops forward), with its
  gradient from its output alone: dlogits = y * (dy - sum(dy * y)), the sum
  over reduced_dim.

  mtf.softmax's own gradient also keeps the exp inside its logsumexp, a
  second tensor of the kernel's size per layer from the forward pass to the
  backward (on the per-channel path, K x the size of X1). Used there only:
  the multi-channel path keeps mtf.softmax's gradient, so that runs trained
  before (the demo release) train again to the same bits.
  """
  def forward(x):
    return mtf.softmax(x, reduced_dim=reduced_dim)

  def backward(explicit_inputs, all_inputs, forward_operations, outputs,
               output_grads):
    del explicit_inputs, forward_operations
    y, dy = outputs[0], output_grads[0]
    dx = y * (dy - mtf.reduce_sum(dy * y, reduced_dim=reduced_dim))
    return [dx] + [None] * (len(all_inputs) - 1)

  return mtf.custom_gradient(forward, backward, [logits])
