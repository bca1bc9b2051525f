"""Hybrid stacks: choose, block by block, a convolution variant or self-attention.

    encoder/conv_t5.Hybrid.schedule = ["dilated"] * 11 + ["attention"]

gives a stack whose last block uses T5's SelfAttention (configured as usual in
gin, e.g. relative position buckets) and whose other blocks use the dilated
convolution (configured through conv_t5.DilatedConvolution). The paper's
cross-attention study (RQ4) is built from such schedules.
"""

import gin
from mesh_tensorflow.transformer import transformer
from mesh_tensorflow.transformer import transformer_layers
import tensorflow.compat.v1 as tf

from conv_t5 import dilated
from conv_t5 import dynamic
from conv_t5 import errors
from conv_t5 import lightweight
from conv_t5 import schedule as schedules

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

  def __init__(self, schedule=gin.REQUIRED):
    """schedule: a variant name, or a list with one variant name per block."""
    names = schedule if schedules.is_per_block(schedule) else [schedule]
    for name in names:
      layer_class(name)
    self.schedule = schedule
    self._layers = {}

  def call(self, context, x, losses=None):
    """x: [batch..., (length,) d_model]; dispatches to this block's variant."""
    variant = schedules.value_at(self, context, "schedule", self.schedule)
    if variant not in self._layers:
      layer = layer_class(variant)()
      layer.set_name(self.name)  # the block index travels with the name
      self._layers[variant] = layer
    layer = self._layers[variant]
    with tf.variable_scope(type(layer).__name__):
      return layer.call(context, x, losses=losses)
