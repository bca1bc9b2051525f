"""Builds a model from gin (as t5's command line would) and reads what the
conversion needs from it: its variables, and the settings of the authors'
convolution layers.

Nothing runs: the Bitransformer graph is built in Mesh TensorFlow, as
conv_t5.params does, and its variables are listed.
"""

import dataclasses
import os
import tempfile

import gin

import conv_t5  # noqa: F401  (TF compatibility fix before mesh_tensorflow)
from conv_t5 import config
from conv_t5.convert import refusals

AUTHORS_LAYER = "LocalConvAttnBlock"
# The layer stacks of the released configs; the converted model has the same
# with conv_t5's layer in place of LocalConvAttnBlock, and every variable of
# the other layers is copied by name.
STACKS = {"encoder": [AUTHORS_LAYER, "DenseReluDense"],
          "decoder": [AUTHORS_LAYER, "EncDecAttention", "DenseReluDense"]}


@dataclasses.dataclass
class ConvLayer:
  """One of the authors' LocalConvAttnBlock layers in a built model."""
  scope: str          # "encoder/block_003/layer_000/LocalConvAttnBlock/"
  stack: str          # "encoder" or "decoder"
  variant: str        # "lightweight" or "dynamic"
  min_relative_pos: int
  max_relative_pos: int
  activation: str

  @property
  def width(self):
    return self.max_relative_pos - self.min_relative_pos + 1


@dataclasses.dataclass
class BuiltModel:
  """What a gin config builds: variables {name: shape}, its conv layers and
  the class names of each stack's layers ({"encoder": [...], ...})."""
  variables: dict
  conv_layers: list
  stacks: dict
  d_model: int
  operative_config: str


def build(gin_files, bindings=(), vocab_size=32128):
  """Builds the Bitransformer of a gin config (defaults.gin first).

  Args:
    gin_files: gin file names (on the search path) or paths.
    bindings: gin binding strings.
    vocab_size: the (padded) vocabulary size of the checkpoint.
  Returns:
    a BuiltModel.
  Raises:
    errors.ConfigError: a gin file is not found, or the model is not a
      Bitransformer.
  """
  import mesh_tensorflow as mtf  # pylint: disable=g-import-not-at-top
  from mesh_tensorflow.transformer import transformer  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  # Unlocked: a caller (t5's main, in the same process) may have locked it.
  with gin.unlock_config():
    config.parse(list(gin_files), list(bindings))
  with tf.Graph().as_default():
    model = transformer.make_bitransformer(
        input_vocab_size=vocab_size, output_vocab_size=vocab_size,
        layout="", mesh_shape="")
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    ids = mtf.ones(mesh, mtf.Shape([mtf.Dimension("batch", 1),
                                    mtf.Dimension("length", 8)]), tf.int32)
    model.call_simple(ids, ids, compute_loss=True, mode="train",
                      variable_dtype=mtf.VariableDType(tf.float32))
    variables = {v.name: tuple(d.size for d in v.shape.dims)
                 for v in graph.all_variables}
  conv_layers, stacks = [], {}
  for stack in (model.encoder, model.decoder):
    names = []
    for layer in stack.layer_stack.layers:
      names.append(type(layer).__name__)
      if names[-1] == AUTHORS_LAYER:
        conv_layers.append(_conv_layer(stack.name, layer))
    # One block's layers (make_layer_stack repeats them num_layers times).
    stacks[stack.name] = names[:len(names) // max(1, _blocks(stack))]
  return BuiltModel(variables=variables, conv_layers=conv_layers,
                    stacks=stacks,
                    d_model=model.encoder.model_dim.size,
                    operative_config=gin.operative_config_str())


def _blocks(stack):
  return len({(l.name or "").split("/")[0] for l in stack.layer_stack.layers})


def _conv_layer(stack_name, layer):
  inner = layer.conv_local_attn_layer
  variant = ("lightweight" if type(inner).__name__.startswith("Lightweight")
             else "dynamic")
  return ConvLayer(
      scope=f"{stack_name}/{layer.name}/{AUTHORS_LAYER}/", stack=stack_name,
      variant=variant, min_relative_pos=inner._min_relative_pos,  # pylint: disable=protected-access
      max_relative_pos=inner._max_relative_pos,  # pylint: disable=protected-access
      activation=inner._activation)  # pylint: disable=protected-access


def build_text(gin_text, vocab_size):
  """Builds the model of a gin file given as text (parsed from a temp file,
  so that its includes resolve as they will from the written file)."""
  fd, path = tempfile.mkstemp(suffix=".gin", prefix="conv_t5_convert_")
  try:
    with os.fdopen(fd, "w") as f:
      f.write(gin_text)
    return build([path], (), vocab_size)
  finally:
    os.remove(path)


def conv_settings(model, model_gin):
  """The variant and width shared by a model's conv layers, checked.

  Our block computes the same function only if every LocalConvAttnBlock is of
  one variant with one width K, its window is centred in the encoder
  (-(K-1)//2 .. K-1-(K-1)//2, TF's SAME convention, which our core uses) and
  causal in the decoder (-(K-1) .. 0), and no activation follows the
  pointwise projection (else it cannot be folded into W_O).

  Returns:
    (variant, K).
  Raises:
    refusals.ConversionError naming the setting and what is allowed.
  """
  layers = model.conv_layers
  if layers and model.stacks != STACKS:
    raise refusals.ConversionError(
        f"{model_gin}: the layer stacks are {model.stacks}; the converter "
        f"knows the released ones, {STACKS}, and replaces {AUTHORS_LAYER} "
        "in them by conv_t5's layer.")
  if not layers:
    raise refusals.ConversionError(
        f"{model_gin} builds no {AUTHORS_LAYER} layer: only the authors' "
        "convolution models can be converted. Pass --model=models/"
        "authors_lconv.<size>.gin or models/authors_dconv.<size>.gin (or the "
        "config the checkpoint was trained with).")
  variants = sorted({l.variant for l in layers})
  widths = sorted({l.width for l in layers})
  if len(variants) > 1 or len(widths) > 1:
    raise refusals.ConversionError(
        f"{model_gin}: the {AUTHORS_LAYER} layers mix variants {variants} or "
        f"widths {widths}; the converter writes one conv_t5 layer class with "
        "one kernel_width, so every layer must share them.")
  width = widths[0]
  for l in layers:
    if l.stack == "decoder":
      want = (-(width - 1), 0)
      where = "causal in the decoder"
    else:
      left = (width - 1) // 2
      want = (-left, width - 1 - left)
      where = "centred in the encoder"
    if (l.min_relative_pos, l.max_relative_pos) != want:
      raise refusals.ConversionError(
          f"{model_gin}: {l.scope} has the window {l.min_relative_pos}.."
          f"{l.max_relative_pos}; conv_t5's convolution of width {width} is "
          f"{where} ({want[0]}..{want[1]}), so it cannot compute the same "
          "function. Only such windows (the released configs use -4..4 and "
          "-8..0) can be converted.")
    if l.activation not in (None, "linear"):
      raise refusals.ConversionError(
          f"{model_gin}: {AUTHORS_LAYER}.activation = {l.activation!r} "
          "follows the pointwise projection, which then cannot be folded "
          "into the output projection; only 'linear' (the default and the "
          "released setting) can be converted.")
  return variants[0], width
