"""Per-layer schedules: a hyper-parameter given as one value or one per block.

`transformer.make_layer_stack` builds one layer object per block and names it
"block_007/layer_000" (its default block_scope=True). A schedule is either a
single value (every block) or a list with one value per block of the stack,
e.g. the dilated model's kernel widths [4, 4, 7, 7, 15, ...]; the block index
comes from the layer's name.
"""

import re

from conv_t5 import errors

_BLOCK = re.compile(r"(?:^|/)block_(\d+)(?:/|$)")


def block_index(layer):
  """The block a layer sits in, from the name make_layer_stack gave it.

  Args:
    layer: a TransformerLayer.
  Returns:
    an int, or None if the name carries no block index.
  """
  match = _BLOCK.search(layer.name or "")
  return int(match.group(1)) if match else None


def num_blocks(context):
  """Number of blocks in the stack that is being called."""
  stack = getattr(context.model, "layer_stack", None)
  indices = {block_index(l) for l in getattr(stack, "layers", [])}
  indices.discard(None)
  return max(indices) + 1 if indices else None


def is_per_block(value):
  return isinstance(value, (list, tuple))


def value_at(layer, context, param, value):
  """The value of a schedule for the block `layer` sits in.

  Args:
    layer: the TransformerLayer being called.
    context: its transformer.Context.
    param: the parameter's name, for messages ("kernel_width").
    value: a scalar, or a list/tuple with one value per block.
  Returns:
    the scalar for this block.
  Raises:
    errors.ConfigError: the list does not have one value per block, or the
      layer's name carries no block index.
  """
  if not is_per_block(value):
    return value
  owner = f"{type(layer).__name__}.{param}"
  block = block_index(layer)
  if block is None:
    raise errors.ConfigError(
        f"{owner} = {list(value)} is a per-block schedule, but layer "
        f"{layer.name!r} has no block index: keep "
        "transformer.make_layer_stack.block_scope = True (the default).")
  blocks = num_blocks(context) or block + 1
  if len(value) != blocks:
    raise errors.ConfigError(
        f"{owner} = {list(value)} has {len(value)} values but the stack has "
        f"{blocks} blocks: give one value per block (or a single value).")
  return value[block]
