"""num_heads, channels and block_size given as per-block lists, like
kernel_width and dilation: resolved for each block, or refused naming them."""

import gin
import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import config
from conv_t5 import errors

PREFIX = "conv_t5.LightweightConvolution"


@pytest.fixture(autouse=True)
def _clear_gin():
  """Leaves no binding behind for tests that build layers directly."""
  yield
  gin.clear_config()


def shapes_of(bindings):
  """{variable name: shape} of the tiny lightweight model (2 blocks, d_model
  32) built from gin with `bindings`, after a training-mode call."""
  config.parse(["models/conv_lightweight.tiny.gin", "cpu.gin"], bindings)
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


def kernel(shapes, stack, block):
  return shapes[f"{stack}/block_{block:03d}/layer_000/LightweightConvolution/"
                "kernel"]


def test_per_block_num_heads():
  shapes = shapes_of([f"{PREFIX}.num_heads = [1, 4]"])
  for stack in ("encoder", "decoder"):
    assert kernel(shapes, stack, 0) == [1, 7]
    assert kernel(shapes, stack, 1) == [4, 7]


def test_per_block_channels_and_num_heads():
  shapes = shapes_of([f"{PREFIX}.num_heads = [2, 4]",
                      f"{PREFIX}.channels = [8, 64]"])
  glu = {b: [s for n, s in shapes.items() if n.startswith(
      f"encoder/block_{b:03d}/layer_000/LightweightConvolution/glu")]
         for b in (0, 1)}
  # W_I and W_S: [d_model, heads, channels / heads].
  assert glu[0] and all(s == [32, 2, 4] for s in glu[0])
  assert glu[1] and all(s == [32, 4, 16] for s in glu[1])
  assert kernel(shapes, "encoder", 1) == [4, 7]


def test_per_block_block_size_builds():
  # block_size is a speed knob; a per-block list builds the model.
  shapes = shapes_of([f"{PREFIX}.block_size = [2, 16]"])
  assert kernel(shapes, "encoder", 0) == [2, 7]


@pytest.mark.parametrize("param, value", [
    ("num_heads", "[2, 2, 2]"), ("channels", "[32]"),
    ("block_size", "[4, 4, 4]")])
def test_per_block_list_of_the_wrong_length_names_the_parameter(param, value):
  with pytest.raises(errors.ConfigError,
                     match=rf"LightweightConvolution\.{param} = \[.*\] has "
                     r"\d values but the stack has 2 blocks"):
    shapes_of([f"{PREFIX}.{param} = {value}"])


def test_per_block_num_heads_that_does_not_divide_its_blocks_channels():
  with pytest.raises(errors.ConfigError,
                     match=r"num_heads = 3 does not divide the 32 channels .* "
                     r"in block 1"):
    shapes_of([f"{PREFIX}.num_heads = [2, 3]"])


def test_kernel_dropout_list_is_refused_naming_it():
  with pytest.raises(errors.ConfigError,
                     match=r"kernel_dropout = \[0\.1, 0\.2\]: must be in "
                     r"\[0, 1\) \(one value for every block\)"):
    shapes_of([f"{PREFIX}.kernel_dropout = [0.1, 0.2]"])
