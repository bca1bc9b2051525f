"""The authors' released checkpoints, converted into conv_t5's layers.

Tay et al. released lightweight- and dynamic-convolution checkpoints
(gs://pretrainedconvs) that run in mesh-tensorflow's LocalConvAttnBlock
(gin/models/authors_{lconv,dconv}.<size>.gin fine-tune them as released).
`python -m conv_t5.convert` (entry point `conv_t5_convert`) writes the same
model with conv_t5's LightweightConvolution / DynamicConvolution instead: one
kernel per channel, the authors' biases, the pointwise projection folded into
the output projection, every other variable copied by name; and the gin file
of that model. See docs/authors_checkpoints.md for what is computed and what
differs from running the checkpoint in the authors' layers.

Modules:
  cli          the command line
  run          convert(): checks, plan, write
  models       build a model from gin; the authors' layers' settings
  mapping      which converted variable comes from which of the authors'
  checkpoints  read the checkpoint (local or gs://); write and publish
  gin_text     the converted model's gin file
  refusals     ConversionError and its messages
  sizes        parameter counts of the released configs (the docs' table)
"""

import conv_t5  # noqa: F401  (TF compatibility fix before mesh_tensorflow)
from conv_t5.convert.refusals import ConversionError  # noqa: F401


def convert(*args, **kwargs):
  """conv_t5.convert.run.convert (imported on first use)."""
  from conv_t5.convert import run  # pylint: disable=g-import-not-at-top
  return run.convert(*args, **kwargs)
