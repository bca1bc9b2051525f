"""The gin file of a converted model: the authors' config with conv_t5's block
in place of mesh-tensorflow's LocalConvAttnBlock.

The file includes the authors' config it was converted from (sizes, position
embeddings, dropout, model parallelism: all unchanged), repeats the extra
bindings the conversion was given, and then replaces the layer stacks. Fine-tune
the converted checkpoint with --gin_file=<output_dir>/model.gin.
"""

import os

from conv_t5 import paths

CLASSES = {"lightweight": "LightweightConvolution",
           "dynamic": "DynamicConvolution"}
MODEL_GIN = "model.gin"


def include_path(model_gin):
  """How model.gin names the source config: as given if it is on conv_t5's
  gin search path (e.g. models/authors_lconv.base.gin), else absolute."""
  if "://" in model_gin or os.path.isabs(model_gin):
    return model_gin
  paths.add_gin_search_paths(with_mesh=True)
  if os.path.isfile(model_gin) and not _on_search_path(model_gin):
    return os.path.abspath(model_gin)
  return model_gin


def _on_search_path(name):
  import gin  # pylint: disable=g-import-not-at-top
  return any(os.path.isfile(os.path.join(p, name))
             for p in gin.config._LOCATION_PREFIXES)  # pylint: disable=protected-access


def converted_gin(model_gin, bindings, variant, width, d_model,
                  checkpoint=None):
  """The text of model.gin.

  Args:
    model_gin: the authors' config the checkpoint was built with.
    bindings: extra gin bindings given for it (written after the include).
    variant: "lightweight" or "dynamic".
    width: K, the kernel width (9 in the released configs).
    d_model: the model width: one kernel per channel (num_heads = d_model).
    checkpoint: the source checkpoint, for the header.
  Returns:
    the gin file as a string.
  """
  cls = CLASSES[variant]
  lines = [
      "# -*-Python-*-",
      "# Written by `python -m conv_t5.convert`: the authors' model below, with",
      f"# conv_t5.{cls} in place of mesh-tensorflow's LocalConvAttnBlock,",
      "# computing the function the authors' layers compute in training on",
      "# unpacked examples (docs/authors_checkpoints.md says what differs).",
  ]
  if checkpoint:
    lines.append(f"# Converted from {checkpoint}.")
  lines += ["", f"include '{include_path(model_gin)}'"]
  if bindings:
    lines += ["", "# Bindings the conversion was given for the source config."]
    lines += list(bindings)
  lines += [
      "",
      "import conv_t5.layers",
      "",
      "encoder/transformer.make_layer_stack.layers = [",
      f"    @conv_t5.{cls},",
      "    @transformer_layers.DenseReluDense,",
      "]",
      "decoder/transformer.make_layer_stack.layers = [",
      f"    @conv_t5.{cls},",
      "    @transformer_layers.EncDecAttention,",
      "    @transformer_layers.DenseReluDense,",
      "]",
      "",
      "# One kernel per channel: LocalConvAttnBlock never passes",
      "# num_unique_depth_filters on, so the authors' layers have d_model kernels.",
      f"conv_t5.{cls}.num_heads = {d_model}",
      f"conv_t5.{cls}.channels = None",
      f"conv_t5.{cls}.kernel_width = {width}",
      f"conv_t5.{cls}.dilation = 1",
      "# The authors' layers have no DropConnect on the kernel.",
      f"conv_t5.{cls}.kernel_dropout = 0.0",
      "# Biases of the GLU, the output projection (into which the pointwise",
      "# projection and both its biases are folded) and the kernel predictor.",
      f"conv_t5.{cls}.use_bias = True",
      "# The authors' decoder layers zero X1 where the decoder input id is 0,",
      "# i.e. at the first position of every example, in training; conv_t5's",
      "# block does it in every mode, so that decoding agrees with training.",
      f"encoder/conv_t5.{cls}.zero_first_position = False",
      f"decoder/conv_t5.{cls}.zero_first_position = True",
      "",
  ]
  return "\n".join(lines)
