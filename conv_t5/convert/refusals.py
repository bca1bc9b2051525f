"""Why a checkpoint cannot be converted, said once, with the fix.

Every refusal is a ConversionError (a conv_t5.errors.ConfigError: exit status
2 from the command line) raised before anything is written. The messages say
what the checkpoint looks like (read from its variable names and shapes), what
the configuration expected, and which config or flag would fit.
"""

import re

from conv_t5 import errors

# The authors' released models (docs/authors_checkpoints.md): the gin config
# of each, keyed by what the checkpoint shows.
# (variant, d_model, blocks per stack, d_ff) -> config
KNOWN = {
    ("lightweight", 512, 6, 2048): "models/authors_lconv.small.gin",
    ("lightweight", 768, 12, 3072): "models/authors_lconv.base.gin",
    ("lightweight", 1024, 24, 4096): "models/authors_lconv.large.gin",
    ("dynamic", 768, 12, 3072): "models/authors_dconv.base.gin",
    ("dynamic", 1024, 24, 4096): "models/authors_dconv.large.gin",
}
_SHOWN = 6


class ConversionError(errors.ConfigError):
  """The checkpoint or the configuration cannot be converted; nothing written."""


def _some(items):
  items = list(items)
  shown = ", ".join(str(i) for i in items[:_SHOWN])
  more = f" ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
  return shown + more


def describe(entries):
  """What a checkpoint holds, from its variable names and shapes.

  Args:
    entries: {name: shape (tuple of ints)} of a checkpoint.
  Returns:
    a dict: kind ("lightweight", "dynamic", "conv_t5", "transformer",
    "unknown"), d_model, vocab, blocks (encoder), d_ff, taps (None if unknown).
  """
  names = list(entries)
  info = {"kind": "unknown", "d_model": None, "vocab": None, "blocks": None,
          "d_ff": None, "taps": None}
  if any("/lightwt_depthwise_dense_" in n for n in names):
    info["kind"] = "lightweight"
  elif any("/dyn_conv_depthwise_dense_" in n for n in names):
    info["kind"] = "dynamic"
  elif any(re.search(r"/(Lightweight|Dynamic|Dilated)Convolution/", n)
           for n in names):
    info["kind"] = "conv_t5"
  elif any("/SelfAttention/" in n for n in names):
    info["kind"] = "transformer"
  emb = entries.get("shared/embedding")
  if emb is not None and len(emb) == 2:
    info["vocab"], info["d_model"] = emb
  blocks = {m.group(1) for n in names
            for m in [re.match(r"encoder/block_(\d+)/", n)] if m}
  info["blocks"] = len(blocks) or None
  for n, shape in entries.items():
    if n.endswith("DenseReluDense/wi/kernel") and len(shape) == 2:
      info["d_ff"] = shape[1]
      break
  taps = {m.group(1) for n in names for m in [re.match(
      r"encoder/block_000/layer_000/LocalConvAttnBlock/"
      r"(?:lightwt|dyn_conv)_depthwise_dense_(\d+)/kernel$", n)] if m}
  info["taps"] = len(taps) or None
  return info


def summary(info):
  """One line about a checkpoint's description, for messages."""
  if info["kind"] in ("lightweight", "dynamic"):
    what = f"the authors' {info['kind']}-convolution model (LocalConvAttnBlock)"
  elif info["kind"] == "conv_t5":
    what = "a model of conv_t5's own layers (already converted?)"
  elif info["kind"] == "transformer":
    what = "a Transformer (self-attention), not a convolution model"
  else:
    what = "no model this converter knows"
  sizes = ", ".join(f"{k} {info[k]}" for k in ("d_model", "blocks", "d_ff",
                                                 "taps", "vocab")
                    if info[k] is not None)
  return what + (f" ({sizes})" if sizes else "")


def suggestion(info):
  """The config that fits a checkpoint's description, as a sentence."""
  key = (info["kind"], info["d_model"], info["blocks"], info["d_ff"])
  if key in KNOWN:
    return f"It matches {KNOWN[key]}: pass --model={KNOWN[key]}."
  if info["kind"] in ("lightweight", "dynamic") and info["d_model"]:
    base = ("models/authors_lconv.base.gin" if info["kind"] == "lightweight"
            else "models/authors_dconv.base.gin")
    return (f"No released config has these sizes: pass --model={base} with "
            f"--gin_param='d_model = {info['d_model']}' --gin_param="
            f"'num_layers = {info['blocks']}' --gin_param='d_ff = "
            f"{info['d_ff']}' (and num_heads / d_kv of its encoder-decoder "
            "attention).")
  if info["kind"] == "conv_t5":
    return ("A conv_t5 checkpoint needs no conversion: fine-tune it with the "
            "model.gin written beside it.")
  return ("Only checkpoints of the authors' LocalConvAttnBlock models "
          "(gs://pretrainedconvs) can be converted.")


def mismatch(checkpoint, model_gin, missing, unexpected, reshaped, info):
  """The ConversionError for a checkpoint whose variables differ from the
  model that `model_gin` builds (another architecture, size, or a checkpoint
  that lacks variables)."""
  if reshaped:
    problem = "is of another size than"
  elif unexpected:
    problem = "is of another architecture than"
  else:
    problem = "lacks variables of"
  lines = [f"{checkpoint} {problem} the model {model_gin} builds; nothing "
           "was written.",
           f"  The checkpoint holds {summary(info)}."]
  if reshaped:
    lines.append(f"  {len(reshaped)} variables have other shapes (model vs "
                 "checkpoint): " + _some(f"{n} {m} vs {c}"
                                         for n, m, c in reshaped))
  if missing:
    lines.append(f"  {len(missing)} model variables are missing from the "
                 "checkpoint: " + _some(missing))
  if unexpected:
    lines.append(f"  {len(unexpected)} checkpoint variables are not in the "
                 "model: " + _some(unexpected))
  if missing and not (unexpected or reshaped):
    lines.append("  A checkpoint that lacks variables is incomplete (an "
                 "interrupted copy?) or was written by another config: copy "
                 "it again, or pass the config it was trained with.")
  lines.append("  " + suggestion(info))
  return ConversionError("\n".join(lines))
