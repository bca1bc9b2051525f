"""Hybrid stacks: choose, block by block, a convolution variant or self-attention.

    encoder/conv_t5.Hybrid.schedule = ["dilated", "dilated", "dilated", "attention"]

gives a 4-block stack whose last block uses T5's SelfAttention (configured as
usual in gin, e.g. relative position buckets) and whose other blocks use the
dilated convolution (configured through conv_t5.DilatedConvolution; scoped
bindings such as `encoder/conv_t5.DilatedConvolution.kernel_width` apply). The
same stack, for any depth:

    encoder/conv_t5.Hybrid.schedule = "dilated"
    encoder/conv_t5.Hybrid.attention_blocks = [-1]

The paper's cross-attention study (RQ4) is built from such schedules
(gin/models/xattn.gin, conv_<variant>_xattn.<size>.gin).
"""

import gin
from mesh_tensorflow.transformer import transformer
from mesh_tensorflow.transformer import transformer_layers
import tensorflow.compat.v1 as tf

from conv_t5 import errors
from conv_t5.layers import dilated
from conv_t5.layers import dynamic
from conv_t5.layers import lightweight
from conv_t5.layers import schedule as schedules

VARIANTS = {
    "lightweight": lightweight.LightweightConvolution,
    "dynamic": dynamic.DynamicConvolution,
    "dilated": dilated.DilatedConvolution,
    "attention": transformer_layers.SelfAttention,
}


def layer_class(variant, owner="conv_t5.Hybrid.schedule"):
  """The TransformerLayer class for a variant name; ConfigError if unknown."""
  if variant not in VARIANTS:
    raise errors.ConfigError(
        f"{owner}: unknown variant {variant!r}; allowed: "
        f"{', '.join(sorted(VARIANTS))}.")
  return VARIANTS[variant]


@gin.configurable(module="conv_t5")
class Hybrid(transformer.TransformerLayer):
  """A mixing sublayer whose variant is a per-block schedule."""

  def __init__(self, schedule=gin.REQUIRED, attention_blocks=()):
    """Args:
      schedule: a variant name, or a list with one variant name per block.
      attention_blocks: blocks that use self-attention whatever the schedule
        says; negative indices count from the top (-1: the last block).
    """
    names = schedule if schedules.is_per_block(schedule) else [schedule]
    for name in names:
      layer_class(name)
    if any(isinstance(b, bool) or not isinstance(b, int)
           for b in attention_blocks):
      raise errors.ConfigError(
          f"conv_t5.Hybrid.attention_blocks = {attention_blocks!r}: must be "
          "a list of block indices (integers; negative counts from the top).")
    self.schedule = schedule
    self.attention_blocks = tuple(attention_blocks)
    variants = set(names) | ({"attention"} if self.attention_blocks else set())
    # Built here, not in call(): make_layer_stack constructs this layer inside
    # the stack's gin scope ("encoder", "decoder"), so scoped bindings such as
    # `decoder/conv_t5.DilatedConvolution.kernel_width = ...` reach the inner
    # layers as they reach a plain convolution stack's.
    self._layers = {name: layer_class(name)() for name in sorted(variants)}

  def set_name(self, name):
    """Names the inner layers too: their block index comes from the name."""
    super().set_name(name)
    for layer in self._layers.values():
      layer.set_name(name)

  def variant(self, context):
    """This block's variant name."""
    if self.attention_blocks:
      blocks = schedules.num_blocks(context)
      block = schedules.block_index(self)
      if blocks is None or block is None:
        raise errors.ConfigError(
            "conv_t5.Hybrid.attention_blocks needs block names "
            "(transformer.make_layer_stack.block_scope = True, the default).")
      wanted = {b % blocks for b in self.attention_blocks
                if -blocks <= b < blocks}
      if len(wanted) != len(self.attention_blocks):
        raise errors.ConfigError(
            f"conv_t5.Hybrid.attention_blocks = {list(self.attention_blocks)}"
            f": the stack has {blocks} blocks (indices -{blocks}..{blocks - 1}"
            ", each once).")
      if block in wanted:
        return "attention"
    return schedules.value_at(self, context, "schedule", self.schedule)

  def call(self, context, x, losses=None):
    """x: [batch..., (length,) d_model]; dispatches to this block's variant."""
    layer = self._layers[self.variant(context)]
    with tf.variable_scope(type(layer).__name__):
      return layer.call(context, x, losses=losses)
