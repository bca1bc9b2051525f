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

Two options, off by default, exist for the authors' released checkpoints
(conv_t5.convert; docs/authors_checkpoints.md): `use_bias` adds biases to W_I,
W_S, W_O (and the dynamic kernel predictor); `zero_first_position` zeroes X1 at
the first position of every example, in every mode, after the kernel is
computed and before the convolution.
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


def not_first_position(context, x):
  """0 at the first position of every example, 1 elsewhere (x's dtype).

  Train / eval / first_part: from context.sequence_id when it is a Tensor
  (packed rows, or padding marked 0: an example starts where the id changes;
  padding is left as it is), else index 0 of the row. Incremental: the
  position of this step.

  Args:
    context: a transformer.Context.
    x: the tensor the mask will multiply (for its mesh and dtype).
  Returns:
    a Tensor that broadcasts against x, or a Python float.
  """
  if context.mode == "incremental":
    position = context.position
    if not isinstance(position, mtf.Tensor):
      return 0.0 if int(position) == 0 else 1.0
    return mtf.cast(mtf.not_equal(position, 0), x.dtype)
  segment = context.sequence_id
  if isinstance(segment, mtf.Tensor):
    before = mtf.shift(segment, 1, context.length_dim, wrap=False)
    return mtf.cast(mtf.logical_or(mtf.equal(segment, before),
                                   mtf.equal(segment, 0)), x.dtype)
  # One example per row (sequence_id None or 1): it starts at index 0.
  index = mtf.range(x.mesh, context.length_dim, tf.int32)
  return mtf.cast(mtf.not_equal(index, 0), x.dtype)


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
               block_size=16,
               use_bias=False,
               zero_first_position=False):
    """Records (and checks) the hyper-parameters; variables come in call().

    Args:
      num_heads: H, the number of kernels per position; each is shared by the
        channels / H channels of its head. One value or one per block.
      kernel_width: K >= 1, one value or a list with one value per block.
      dilation: r >= 1, one value or a list with one value per block.
      kernel_dropout: DropConnect rate on the (normalised) kernel in training.
      channels: width of X1 (default: d_model); one value or one per block.
      causal: None: causal in a decoder (autoregressive stack), centred in an
        encoder; True / False force it. A prefix language model (a decoder
        with input_full_attention) stays causal everywhere, its inputs
        included: a centred window would read the targets that follow.
      block_size: block length of the banded computation (speed only); one
        value or one per block.
      use_bias: biases in the GLU (W_I, W_S), the output projection W_O and,
        for the dynamic variant, the kernel predictor. The paper's equations
        have none; the authors' released layers have them (default False).
      zero_first_position: X1 = 0 at the first position of every example
        (position 0; in packed rows, where the example id changes), in every
        mode, so the convolution never reads it. The authors' decoder layers
        zero it in training only (they mask decoder input id 0), which their
        checkpoints were trained with; the kernel prediction still reads the
        unzeroed X1, as theirs does (default False).
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
    for name, value in (("use_bias", use_bias),
                        ("zero_first_position", zero_first_position)):
      if not isinstance(value, bool):
        raise errors.ConfigError(
            f"{owner}.{name} = {value!r}: must be True or False.")
    if (isinstance(kernel_dropout, bool) or
        not isinstance(kernel_dropout, (int, float)) or
        not 0.0 <= kernel_dropout < 1.0):
      raise errors.ConfigError(
          f"{owner}.kernel_dropout = {kernel_dropout!r}: must be in [0, 1) "
          "(one value for every block).")
    if (channels is not None and not schedule.is_per_block(channels) and
        not schedule.is_per_block(num_heads) and channels % num_heads):
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
    self.use_bias = use_bias
    self.zero_first_position = zero_first_position

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
    num_heads = schedule.value_at(self, context, "num_heads", self.num_heads)
    channels = (schedule.value_at(self, context, "channels", self.channels) or
                context.model.model_dim.size)
    if channels % num_heads:
      raise errors.ConfigError(
          f"{owner}.num_heads = {num_heads} does not divide the "
          f"{channels} channels (d_model unless {owner}.channels is set) in "
          f"block {schedule.block_index(self)}: choose num_heads among the "
          f"divisors of {channels}.")
    return (mtf.Dimension("heads", num_heads),
            mtf.Dimension("d_head", channels // num_heads))

  def call(self, context, x, losses=None):
    """x: [batch..., length, d_model] ([batch..., d_model] when incremental)."""
    del losses
    width = schedule.value_at(self, context, "kernel_width", self.kernel_width)
    dilation = schedule.value_at(self, context, "dilation", self.dilation)
    causal = (context.model.autoregressive if self.causal is None
              else self.causal)
    model_dim = context.model.model_dim
    heads_dim, d_head_dim = self.dims(context)
    ensemble = context.model.ensemble_dims
    x1 = mtf.layers.dense_product(
        x, reduced_dims=[model_dim], new_dims=[heads_dim, d_head_dim],
        activation_functions=["linear", "sigmoid"], use_bias=self.use_bias,
        variable_dtype=context.variable_dtype, name="glu",
        expert_dims=ensemble)
    kernel = self.kernel(context, x1, heads_dim,
                         mtf.Dimension(core.WIDTH_DIM, width))
    if self.zero_first_position:
      x1 *= not_first_position(context, x1)
    if context.train and self.kernel_dropout > 0.0:
      kernel = mtf.dropout(kernel, context.train,
                           keep_prob=1.0 - self.kernel_dropout)
    block_size = schedule.value_at(self, context, "block_size",
                                   self.block_size)
    x2 = core.depthwise_conv(context, x1, kernel, dilation=dilation,
                             causal=causal, block_size=block_size)
    return mtf.layers.dense(
        x2, new_dims=[model_dim], reduced_dims=[heads_dim, d_head_dim],
        use_bias=self.use_bias, variable_dtype=context.variable_dtype,
        name="wo",
        expert_dims=ensemble)
