"""Per-block schedules: one value, or one value per block of the stack."""

import types

import pytest

from conv_t5 import errors
from conv_t5 import layers
from conv_t5.experiments import params
from conv_t5.layers import schedule


def named(name):
  layer = layers.DilatedConvolution()
  layer.set_name(name)
  return layer


def context_with_blocks(n):
  stack = types.SimpleNamespace(
      layers=[named(f"block_{i:03d}/layer_{j:03d}") for i in range(n)
              for j in range(2)])
  return types.SimpleNamespace(model=types.SimpleNamespace(layer_stack=stack))


def test_block_index_comes_from_make_layer_stack_names():
  assert schedule.block_index(named("block_003/layer_000")) == 3
  assert schedule.block_index(named("block_012/feedforward")) == 12
  assert schedule.block_index(named("layer_007")) is None


def test_value_at_picks_the_blocks_value():
  context = context_with_blocks(3)
  layer = named("block_002/layer_000")
  assert schedule.value_at(layer, context, "kernel_width", 5) == 5
  assert schedule.value_at(layer, context, "kernel_width", [3, 5, 9]) == 9


def test_a_schedule_of_the_wrong_length_names_the_parameter():
  with pytest.raises(errors.ConfigError, match=r"DilatedConvolution"
                     r"\.kernel_width = \[3, 5\] has 2 values but the stack "
                     r"has 3 blocks"):
    schedule.value_at(named("block_000/layer_000"), context_with_blocks(3),
                      "kernel_width", [3, 5])


def test_a_schedule_needs_block_names():
  with pytest.raises(errors.ConfigError, match="block_scope = True"):
    schedule.value_at(named("layer_000"), context_with_blocks(2), "dilation",
                      [1, 2])


def test_dilated_model_gets_one_kernel_width_per_block():
  """conv_dilated.tiny.gin: kernel_width = [4, 7]; count the kernels' taps."""
  heads = 2
  counts = params.count("models/conv_dilated.tiny.gin", vocab_size=128)
  same = params.count("models/conv_dilated.tiny.gin", vocab_size=128,
                      bindings=["conv_t5.DilatedConvolution.kernel_width = 4"])
  # Block 1's kernels have 7 taps instead of 4, in the encoder and decoder.
  assert counts["total"] - same["total"] == 2 * heads * (7 - 4)
