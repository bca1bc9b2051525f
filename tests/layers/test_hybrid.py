"""Hybrid stacks: a per-block choice of convolution variant or self-attention."""

import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import config
from conv_t5 import errors
from conv_t5.layers import hybrid


def test_unknown_variant_fails_at_build_naming_what_is_allowed():
  with pytest.raises(errors.ConfigError) as e:
    hybrid.Hybrid(schedule=["dilated", "convolution"])
  message = str(e.value)
  assert "unknown variant 'convolution'" in message
  assert "attention, dilated, dynamic, lightweight" in message


def variables_of(bindings, gin_file="models/conv_lightweight.tiny.gin"):
  """Names of the variables of a tiny model built from gin."""
  config.parse([gin_file, "cpu.gin"], bindings)
  with tf.Graph().as_default():
    model = transformer.make_bitransformer(
        input_vocab_size=32, output_vocab_size=32, layout="", mesh_shape="")
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    ids = mtf.ones(mesh, mtf.Shape([mtf.Dimension("batch", 1),
                                    mtf.Dimension("length", 6)]), tf.int32)
    model.call_simple(ids, ids, compute_loss=True, mode="train",
                      variable_dtype=mtf.VariableDType(tf.float32))
    return [v.name for v in graph.all_variables]


def test_schedule_puts_self_attention_where_it_says():
  names = variables_of([
      "encoder/transformer.make_layer_stack.layers = "
      "[@conv_t5.Hybrid, @transformer_layers.DenseReluDense]",
      "encoder/conv_t5.Hybrid.schedule = ['attention', 'dynamic']",
  ])
  def mixer(block):
    prefix = f"encoder/block_{block:03d}/layer_000/"
    return [n for n in names if n.startswith(prefix) and "rms_norm" not in n]
  block0, block1 = mixer(0), mixer(1)
  assert block0 and all("/Hybrid/SelfAttention/" in n for n in block0)
  assert block1 and all("/Hybrid/DynamicConvolution/" in n for n in block1)
  assert any(n.endswith("kernel_predictor/kernel") for n in block1)
  # The decoder is untouched: lightweight in every block.
  assert any(n.startswith("decoder/block_001/layer_000/LightweightConvolution/")
             for n in names)


@pytest.mark.parametrize("variant", ["lightweight", "dynamic", "dilated"])
def test_cross_attention_configs_put_attention_in_the_top_encoder_block(
    variant):
  names = variables_of([], f"models/conv_{variant}_xattn.tiny.gin")
  cls = {"lightweight": "Lightweight", "dynamic": "Dynamic",
         "dilated": "Dilated"}[variant] + "Convolution"
  assert any(n.startswith(f"encoder/block_000/layer_000/Hybrid/{cls}/")
             for n in names)
  assert any(n.startswith("encoder/block_001/layer_000/Hybrid/SelfAttention/")
             for n in names)
  assert not any("SelfAttention" in n for n in names
                 if n.startswith("decoder/"))


def test_attention_blocks_out_of_range_names_the_stack_depth():
  with pytest.raises(errors.ConfigError, match=r"attention_blocks = \[5\]: "
                     r"the stack has 2 blocks"):
    variables_of([
        "encoder/transformer.make_layer_stack.layers = "
        "[@conv_t5.Hybrid, @transformer_layers.DenseReluDense]",
        "encoder/conv_t5.Hybrid.schedule = 'dynamic'",
        "encoder/conv_t5.Hybrid.attention_blocks = [5]",
    ])


def variable_shapes_of(bindings, gin_file="models/conv_lightweight.tiny.gin"):
  """{variable name: shape as a list} of a tiny model built from gin."""
  config.parse([gin_file, "cpu.gin"], bindings)
  with tf.Graph().as_default():
    model = transformer.make_bitransformer(
        input_vocab_size=32, output_vocab_size=32, layout="", mesh_shape="")
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    ids = mtf.ones(mesh, mtf.Shape([mtf.Dimension("batch", 1),
                                    mtf.Dimension("length", 6)]), tf.int32)
    model.call_simple(ids, ids, compute_loss=True, mode="train",
                      variable_dtype=mtf.VariableDType(tf.float32))
    return {v.name: v.shape.to_integer_list for v in graph.all_variables}


def test_scoped_bindings_reach_the_hybrids_inner_layers():
  # The inner layers are built under make_layer_stack's "encoder" / "decoder"
  # gin scope, as a plain convolution stack's are.
  shapes = variable_shapes_of([
      "encoder/transformer.make_layer_stack.layers = "
      "[@conv_t5.Hybrid, @transformer_layers.DenseReluDense]",
      "decoder/transformer.make_layer_stack.layers = [@conv_t5.Hybrid, "
      "@transformer_layers.EncDecAttention, @transformer_layers.DenseReluDense]",
      "conv_t5.Hybrid.schedule = ['dilated', 'attention']",
      "encoder/conv_t5.DilatedConvolution.kernel_width = [3, 7]",
      "decoder/conv_t5.DilatedConvolution.kernel_width = 5",
      "encoder/conv_t5.DilatedConvolution.num_heads = 4",
      "decoder/SelfAttention.num_heads = 4",
  ])
  def shape(stack, block, cls, variable):
    return shapes[f"{stack}/block_{block:03d}/layer_000/Hybrid/{cls}/"
                  f"{variable}"]
  assert shape("encoder", 0, "DilatedConvolution", "kernel") == [4, 3]
  # (8 heads: the class default; only the encoder binds num_heads.)
  assert shape("decoder", 0, "DilatedConvolution", "kernel") == [8, 5]
  # SelfAttention's q: [d_model, heads x d_kv] (tiny: 32, 2 heads, d_kv 16).
  assert shape("encoder", 1, "SelfAttention", "q") == [32, 2 * 16]
  assert shape("decoder", 1, "SelfAttention", "q") == [32, 4 * 16]
