"""The paper's convolution block, shared by the three variants.

    X1 = (W_I x) * sigmoid(W_S x)        gated linear unit      [.., heads, d_head]
    X2 = Conv(X1)                        depthwise over length  [.., heads, d_head]
    y  = W_O X2                                                  [.., d_model]

Residual connection and normalisation around the block come from the Mesh-TF
LayerStack, as for every T5 sublayer. Subclasses only say where the kernel
comes from (`kernel`): learned per head (lightweight), predicted from X1 at each
position (dynamic), or learned per head and dilated (dilated). The convolution
itself is `conv_t5.layers.core.depthwise_conv`: centred in the encoder,
causal in the decoder, masked between packed examples, with a decoding state.
"""

import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import tensorflow.compat.v1 as tf

from conv_t5 import errors
from conv_t5.layers import core
from conv_t5.layers import schedule


def _check_int(owner, param, value, minimum, allowed):
  values = value if schedule.is_per_block(value) else [value]
  if not values or any(isinstance(v, bool) or not isinstance(v, int) or
                       v < minimum for v in values):
    raise errors.ConfigError(
        f"{owner}.{param} = {value!r}: {allowed}.")


def learned_kernel(context, heads_dim, width_dim):
  """A kernel variable per head: [ensemble..., heads, conv_width].

  Initialised N(0, 1/K), so that an unnormalised kernel keeps the scale of its
  input and a softmaxed one starts near a uniform average.
  """
  return mtf.get_variable(
      context.mesh, "kernel",
      mtf.Shape(context.model.ensemble_dims + [heads_dim, width_dim]),
      initializer=tf.random_normal_initializer(stddev=width_dim.size**-0.5),
      dtype=context.variable_dtype)


class ConvolutionBlock(transformer.TransformerLayer):
  """GLU -> depthwise convolution over length -> output projection.

  Not used directly: LightweightConvolution, DynamicConvolution and
  DilatedConvolution choose the kernel.
  """

  def __init__(self,
               num_heads=8,
               kernel_width=7,
               dilation=1,
               kernel_dropout=0.0,
               channels=None,
               causal=None,
               block_size=16):
    """Records (and checks) the hyper-parameters; variables come in call().

    Args:
      num_heads: H, the number of kernels per position; each is shared by the
        channels / H channels of its head.
      kernel_width: K >= 1, one value or a list with one value per block.
      dilation: r >= 1, one value or a list with one value per block.
      kernel_dropout: DropConnect rate on the (normalised) kernel in training.
      channels: width of X1 (default: d_model).
      causal: None: causal in a decoder (autoregressive stack), centred in an
        encoder; True / False force it.
      block_size: block length of the banded computation (speed only).
    Raises:
      errors.ConfigError: for a bad value, naming it and what is allowed.
    """
    owner = type(self).__name__
    _check_int(owner, "num_heads", num_heads, 1, "must be an integer >= 1")
    _check_int(owner, "kernel_width", kernel_width, 1,
               "kernel widths must be integers >= 1")
    _check_int(owner, "dilation", dilation, 1,
               "dilation rates must be integers >= 1")
    _check_int(owner, "block_size", block_size, 1, "must be an integer >= 1")
    if channels is not None:
      _check_int(owner, "channels", channels, 1, "must be an integer >= 1")
    if not 0.0 <= kernel_dropout < 1.0:
      raise errors.ConfigError(
          f"{owner}.kernel_dropout = {kernel_dropout!r}: must be in [0, 1).")
    if channels is not None and channels % num_heads:
      raise errors.ConfigError(
          f"{owner}.num_heads = {num_heads} does not divide channels = "
          f"{channels}: choose num_heads among the divisors of {channels}.")
    self.num_heads = num_heads
    self.kernel_width = kernel_width
    self.dilation = dilation
    self.kernel_dropout = kernel_dropout
    self.channels = channels
    self.causal = causal
    self.block_size = block_size

  def kernel(self, context, x1, heads_dim, width_dim):
    """The convolution kernel.

    Args:
      context: a transformer.Context.
      x1: the GLU output, [batch..., length, heads, d_head] ([batch..., heads,
        d_head] in incremental mode).
      heads_dim: the "heads" Dimension.
      width_dim: the "conv_width" Dimension (K).
    Returns:
      a Tensor with width_dim and a subset of x1's dims except d_head.
    """
    raise NotImplementedError

  def dims(self, context):
    """(heads, d_head) Dimensions of X1 for this model."""
    owner = type(self).__name__
    channels = self.channels or context.model.model_dim.size
    if channels % self.num_heads:
      raise errors.ConfigError(
          f"{owner}.num_heads = {self.num_heads} does not divide the "
          f"{channels} channels (d_model unless {owner}.channels is set): "
          f"choose num_heads among the divisors of {channels}.")
    return (mtf.Dimension("heads", self.num_heads),
            mtf.Dimension("d_head", channels // self.num_heads))

  def call(self, context, x, losses=None):
    """x: [batch..., length, d_model] ([batch..., d_model] when incremental)."""
    del losses
    width = schedule.value_at(self, context, "kernel_width", self.kernel_width)
    dilation = schedule.value_at(self, context, "dilation", self.dilation)
    causal = (context.model.fully_autoregressive if self.causal is None
              else self.causal)
    model_dim = context.model.model_dim
    heads_dim, d_head_dim = self.dims(context)
    ensemble = context.model.ensemble_dims
    x1 = mtf.layers.dense_product(
        x, reduced_dims=[model_dim], new_dims=[heads_dim, d_head_dim],
        activation_functions=["linear", "sigmoid"], use_bias=False,
        variable_dtype=context.variable_dtype, name="glu",
        expert_dims=ensemble)
    kernel = self.kernel(context, x1, heads_dim,
                         mtf.Dimension(core.WIDTH_DIM, width))
    if context.train and self.kernel_dropout > 0.0:
      kernel = mtf.dropout(kernel, context.train,
                           keep_prob=1.0 - self.kernel_dropout)
    x2 = core.depthwise_conv(context, x1, kernel, dilation=dilation,
                             causal=causal, block_size=self.block_size)
    return mtf.layers.dense(
        x2, new_dims=[model_dim], reduced_dims=[heads_dim, d_head_dim],
        use_bias=False, variable_dtype=context.variable_dtype, name="wo",
        expert_dims=ensemble)
