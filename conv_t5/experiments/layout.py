"""The paper's grid on disk: its architectures, initialisations and model dirs.

The one place these facts are written. The grid (stages, worker), the results
table, launch/paper_grid.py and the tests read them from here. Model dirs,
under <root> (<out_dir>/models for the demo, <bucket>/models for launch/):

    <root>/[seed_<s>/]<arch>/pretrain              span-corruption pre-training
    <root>/[seed_<s>/]<arch>/pretrained/<task>     fine-tuned from .../pretrain
    <root>/[seed_<s>/]<arch>/scratch/<task>        from random init

The seed level is there when a grid runs several seeds (the demo); a
single-seed run (launch/paper_grid.py) leaves it out.

The demo release (`make demo-pretrain`, experiments.release) keeps one
pre-training run per architecture and seed, under RELEASE_DIR:

    <release>/<arch>/seed_<s>/        weights, operative config, loss curve

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
# The comparisons of the paper's questions (experiments.verdicts): the control,
# the convolutions, and each convolution's cross-attention hybrid.
CONTROL = ARCHS[0]
CONVS = ARCHS[1:]
XATTN_OF = {f"{conv}_xattn": conv for conv in CONVS}
assert tuple(XATTN_OF) == XATTN_ARCHS
# How a fine-tuned model starts: from <arch>/pretrain, or from random init.
INITS = ("pretrained", "scratch")
PRETRAIN = "pretrain"
SEED_PREFIX = "seed_"
MODELS_SUBDIR = "models"
# The shipped demo release: package data of conv_t5 (conv_t5/release/).
RELEASE_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "release")


def models_root(out_dir):
  """<out_dir>/models: the <root> of a run's model dirs."""
  return os.path.join(out_dir, MODELS_SUBDIR)


def relative_dir(arch, init=None, task=None, seed=None):
  """[seed_<s>/]<arch>/pretrain (init None) or [seed_<s>/]<arch>/<init>/<task>."""
  if init is None:
    rel = os.path.join(arch, PRETRAIN)
  elif init not in INITS:
    raise ValueError(f"init must be one of {INITS}, not {init!r}")
  else:
    rel = os.path.join(arch, init, task)
  return rel if seed is None else os.path.join(f"{SEED_PREFIX}{seed}", rel)


def model_dir(root, arch, init=None, task=None, seed=None):
  """<root>/[seed_<s>/]<arch>/pretrain or .../<arch>/<init>/<task>."""
  return os.path.join(root, relative_dir(arch, init, task, seed))


def describe(path):
  """(arch, init, task) of a model dir laid out as .../<arch>/<init>/<task>,
  or None (a pre-training dir, or another layout)."""
  parts = path.rstrip("/").split("/")
  if len(parts) >= 3 and parts[-2] in INITS:
    return parts[-3], parts[-2], parts[-1]
  return None


def seed_of(path):
  """The seed of a model dir laid out as .../seed_<s>/<arch>/..., or None."""
  parts = path.rstrip("/").split("/")
  if len(parts) >= 4 and parts[-2] in INITS:
    candidate = parts[-4]
  elif len(parts) >= 3 and parts[-1] == PRETRAIN:
    candidate = parts[-3]
  else:
    return None
  if candidate.startswith(SEED_PREFIX) and candidate[len(SEED_PREFIX):].isdigit():
    return int(candidate[len(SEED_PREFIX):])
  return None


def release_run_dir(release_dir, arch, seed):
  """<release_dir>/<arch>/seed_<s>: one pre-training run of the release."""
  return os.path.join(release_dir, arch, f"{SEED_PREFIX}{seed}")
