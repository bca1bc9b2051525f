"""The models `conv_t5.bench` compares, as gin files + bindings per size.

    transformer          T5 (t5.1.0 family): models/transformer.<size>.gin
    lightweight          ours: models/conv_lightweight.<size>.gin  (K = 7)
    dynamic              ours: models/conv_dynamic.<size>.gin      (K = 7)
    dilated              ours: models/conv_dilated.<size>.gin      (per-layer K, r = 2)
    authors_lightweight  the authors' Mesh-TF LocalConvAttnBlock, "lightweight_conv"
    authors_dynamic      the authors' Mesh-TF LocalConvAttnBlock, "dynamic_conv"
    converted_lightweight  ours as `conv_t5.convert` writes it for the
    converted_dynamic      authors' checkpoints: one channel per head
                           (num_heads = d_model), biases, no DropConnect,
                           decoder X1 zeroed at position 0 (K = 7)

The authors' peers follow their released config (google-research,
pretrained_conv/gin/lconv.gin: LocalConvAttnBlock in both stacks,
output_size = d_model, num_unique_depth_filters = 2) at the same config as
ours: the T5 size's d_model / layers / heads, and the same kernel width as our
lightweight and dynamic blocks, 7 (encoder taps -3..3, decoder -6..0; their
release uses 9: -4..4 and -8..0). The converted models are the
bindings of conv_t5/convert/gin_text.py's model.gin on our blocks at the same
config, so that each is timed beside the authors' layer it was converted
from; like the authors' layers they run at --authors_lengths only.
"""

import collections

ModelSpec = collections.namedtuple("ModelSpec", ["gin_files", "bindings", "label"])

_LAYERS = "mesh_tensorflow.transformer.transformer_layers"


def _authors(attention_type, width=7):
  half = (width - 1) // 2
  block = f"@{_LAYERS}.LocalConvAttnBlock"
  scope = f"{_LAYERS}.LocalConvAttnBlock"
  return [
      f"encoder/transformer.make_layer_stack.layers = "
      f"[{block}, @{_LAYERS}.DenseReluDense]",
      f"decoder/transformer.make_layer_stack.layers = "
      f"[{block}, @{_LAYERS}.EncDecAttention, @{_LAYERS}.DenseReluDense]",
      f"{scope}.output_size = %d_model",
      f"{scope}.num_unique_depth_filters = 2",
      f"{scope}.attention_type = '{attention_type}'",
      f"encoder/{scope}.min_relative_pos = {-half}",
      f"encoder/{scope}.max_relative_pos = {half}",
      f"decoder/{scope}.min_relative_pos = {-(width - 1)}",
      f"decoder/{scope}.max_relative_pos = 0",
  ]


def _converted(cls):
  """What conv_t5.convert binds for the authors' checkpoints (gin_text), at
  the kernel width of the other models."""
  scope = f"conv_t5.{cls}"
  return [f"{scope}.num_heads = %d_model", f"{scope}.use_bias = True",
          f"{scope}.kernel_dropout = 0.0",
          f"encoder/{scope}.zero_first_position = False",
          f"decoder/{scope}.zero_first_position = True"]


# In this order the benchmark admits workers into its memory-bound waves
# (group), so that each of our layers is timed beside the authors'
# layer it is compared with, and the first wave holds the Transformer.
_SPECS = {
    "transformer": ("models/transformer.{size}.gin", [],
                    "Transformer (T5)"),
    "lightweight": ("models/conv_lightweight.{size}.gin", [],
                    "lightweight (ours)"),
    "authors_lightweight": ("models/transformer.{size}.gin",
                            _authors("lightweight_conv"),
                            "lightweight (authors' Mesh-TF)"),
    "converted_lightweight": ("models/conv_lightweight.{size}.gin",
                              _converted("LightweightConvolution"),
                              "lightweight, converted (one channel per "
                              "head)"),
    "dynamic": ("models/conv_dynamic.{size}.gin", [], "dynamic (ours)"),
    "authors_dynamic": ("models/transformer.{size}.gin",
                        _authors("dynamic_conv"),
                        "dynamic (authors' Mesh-TF)"),
    "converted_dynamic": ("models/conv_dynamic.{size}.gin",
                          _converted("DynamicConvolution"),
                          "dynamic, converted (one channel per head)"),
    "dilated": ("models/conv_dilated.{size}.gin", [], "dilated (ours)"),
}

NAMES = list(_SPECS)
OURS = ["lightweight", "dynamic", "dilated"]
AUTHORS = {"lightweight": "authors_lightweight", "dynamic": "authors_dynamic"}
# The authors' checkpoints converted to our blocks -> the authors' layer.
CONVERTED = {"converted_lightweight": "authors_lightweight",
             "converted_dynamic": "authors_dynamic"}
# Run at --authors_lengths only.
AT_AUTHORS_LENGTHS = list(AUTHORS.values()) + list(CONVERTED)
CONVS = OURS + list(AUTHORS.values()) + list(CONVERTED)

# Plot styles (colour, marker, line): ours solid, the authors' dotted, the
# converted dashed, each in the colour of its variant.
STYLES = {"transformer": ("k", "o", "-"), "lightweight": ("C0", "s", "-"),
          "dynamic": ("C1", "^", "-"), "dilated": ("C2", "D", "-"),
          "authors_lightweight": ("C0", "s", ":"),
          "authors_dynamic": ("C1", "^", ":"),
          "converted_lightweight": ("C0", "v", "--"),
          "converted_dynamic": ("C1", "v", "--")}


def spec(name, size):
  """The ModelSpec of a model name at a size (tiny, small, base, large)."""
  if name not in _SPECS:
    raise ValueError(f"unknown model {name!r}; allowed: {', '.join(NAMES)}")
  gin_file, bindings, label = _SPECS[name]
  return ModelSpec([gin_file.format(size=size), "cpu.gin"], list(bindings),
                   label)


def label(name):
  return _SPECS[name][2] if name in _SPECS else name
