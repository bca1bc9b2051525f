"""The paper's grid on disk: its architectures, initialisations and model dirs.

The one place these facts are written. The grid (stages, worker), the results
table, launch/paper_grid.py and the tests read them from here. Model dirs,
under <root> (<out_dir>/models for the demo, <bucket>/models for launch/):

    <root>/<arch>/pretrain              span-corruption pre-training
    <root>/<arch>/pretrained/<task>     fine-tuned from <root>/<arch>/pretrain
    <root>/<arch>/scratch/<task>        trained on the task from random init

Importable without TensorFlow: launch/paper_grid.py reads it to print and
run its commands.
"""

import os

# The paper's four architectures, in table order; each has model configs
# gin/models/<arch>.<size>.gin (size: tiny, small, base, large).
ARCHS = ("transformer", "conv_lightweight", "conv_dynamic", "conv_dilated")
# Convolutions whose decoder blocks add encoder-decoder attention (the
# cross-attention study, RQ4): gin/models/<arch>.<size>.gin as well.
XATTN_ARCHS = ("conv_lightweight_xattn", "conv_dynamic_xattn",
               "conv_dilated_xattn")
# How a fine-tuned model starts: from <arch>/pretrain, or from random init.
INITS = ("pretrained", "scratch")
PRETRAIN = "pretrain"
MODELS_SUBDIR = "models"


def models_root(out_dir):
  """<out_dir>/models: the <root> of a run's model dirs."""
  return os.path.join(out_dir, MODELS_SUBDIR)


def relative_dir(arch, init=None, task=None):
  """<arch>/pretrain (init None) or <arch>/<init>/<task>."""
  if init is None:
    return os.path.join(arch, PRETRAIN)
  if init not in INITS:
    raise ValueError(f"init must be one of {INITS}, not {init!r}")
  return os.path.join(arch, init, task)


def model_dir(root, arch, init=None, task=None):
  """<root>/<arch>/pretrain (init None) or <root>/<arch>/<init>/<task>."""
  return os.path.join(root, relative_dir(arch, init, task))


def describe(path):
  """(arch, init, task) of a model dir laid out as .../<arch>/<init>/<task>,
  or None (a pre-training dir, or another layout)."""
  parts = path.rstrip("/").split("/")
  if len(parts) >= 3 and parts[-2] in INITS:
    return parts[-3], parts[-2], parts[-1]
  return None
