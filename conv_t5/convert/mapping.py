"""Which variable of the converted model comes from which of the authors'.

For each of the authors' LocalConvAttnBlock layers (scope S) and our block
(scope D, one kernel per channel: heads = d_model, d_head = 1), with d = d_model
and K taps:

  D/glu_i/kernel [d, d, 1]  = S/local_conv_inp_i/kernel [d, d]      (i = 0, 1)
  D/glu_i/bias   [d, 1]     = S/local_conv_inp_i/bias   [d]
  lightweight:
  D/kernel       [d, K]     = stack_j S/lightwt_depthwise_dense_j/kernel [d]
  dynamic:
  D/kernel_predictor/kernel [d, 1, d, K] = stack_j S/dyn_conv_depthwise_dense_j/kernel
  D/kernel_predictor/bias   [d, K]       = stack_j S/dyn_conv_depthwise_dense_j/bias
  pointwise projection folded into the output projection (exact: no
  nonlinearity between them, models.conv_settings checks it):
  D/wo/kernel [d, 1, d] = W_p W_O
  D/wo/bias   [d]       = (b_dw W_p + b_p) W_O + b_O
    W_p, b_p = S/separable_conv1d/pointwise_dense/{kernel,bias}
    b_dw     = S/separable_conv1d/depthwise_conv_hack/depthwise_dense_0/bias
    W_O, b_O = S/local_conv_attn_op_projection/{kernel,bias}

Products are computed in float64 and stored in the checkpoint's own dtype
(bfloat16 for mesh-tensorflow's default master_dtype).

Every other variable is copied by name, with its optimizer slot variables
(Adafactor's _slot_vr / _slot_vc / _slot_v, Adam's _slot_m) and global_step.
The slots of the converted block's variables are left out: there is no exact
value for the folded projection's, and the stacked kernels change the
per-variable update clipping and scale of Adafactor anyway; fine-tuning
starts them from zero, as t5 does for any slot an init checkpoint lacks.
"""

import dataclasses
from typing import Callable, Optional, Tuple

import numpy as np

from conv_t5.convert import gin_text
from conv_t5.convert import models
from conv_t5.convert import refusals

SLOT_SUFFIXES = ("_slot_vr", "_slot_vc", "_slot_v", "_slot_m")
_PW = "separable_conv1d/pointwise_dense/"
_DW_BIAS = "separable_conv1d/depthwise_conv_hack/depthwise_dense_0/bias"
_OUT = "local_conv_attn_op_projection/"


@dataclasses.dataclass
class Target:
  """One variable of the converted checkpoint."""
  name: str
  sources: Tuple[str, ...]
  compute: Optional[Callable] = None   # None: a copy of sources[0]


def _stack(*arrays):
  return np.stack(arrays, axis=-1)


def _wo_kernel(w_p, w_o):
  return (w_p @ w_o)[:, None, :]


def _wo_bias(b_dw, w_p, b_p, w_o, b_o):
  return (b_dw @ w_p + b_p) @ w_o + b_o


def conv_targets(layer, ours, width):
  """The Targets of one LocalConvAttnBlock (see the module docstring).

  Args:
    layer: a models.ConvLayer.
    ours: our layer's class name, e.g. "LightweightConvolution".
    width: K.
  """
  s = layer.scope
  d = s[:-len(models.AUTHORS_LAYER + "/")] + ours + "/"
  out = []
  for i in (0, 1):
    out.append(Target(f"{d}glu_{i}/kernel", (f"{s}local_conv_inp_{i}/kernel",),
                      lambda k: k[:, :, None]))
    out.append(Target(f"{d}glu_{i}/bias", (f"{s}local_conv_inp_{i}/bias",),
                      lambda b: b[:, None]))
  if layer.variant == "lightweight":
    out.append(Target(f"{d}kernel", tuple(
        f"{s}lightwt_depthwise_dense_{j}/kernel" for j in range(width)),
                      _stack))
  else:
    out.append(Target(f"{d}kernel_predictor/kernel", tuple(
        f"{s}dyn_conv_depthwise_dense_{j}/kernel" for j in range(width)),
                      lambda *k: _stack(*k)[:, None]))
    out.append(Target(f"{d}kernel_predictor/bias", tuple(
        f"{s}dyn_conv_depthwise_dense_{j}/bias" for j in range(width)),
                      _stack))
  out.append(Target(f"{d}wo/kernel", (f"{s}{_PW}kernel", f"{s}{_OUT}kernel"),
                    _wo_kernel))
  out.append(Target(f"{d}wo/bias", (
      f"{s}{_DW_BIAS}", f"{s}{_PW}kernel", f"{s}{_PW}bias", f"{s}{_OUT}kernel",
      f"{s}{_OUT}bias"), _wo_bias))
  return out


@dataclasses.dataclass
class Plan:
  targets: list          # [Target], in name order
  dropped_slots: list    # slot variables of the converted blocks, left out


def make_plan(source, target, checkpoint_names, variant, width):
  """Every variable of the converted checkpoint, and where it comes from.

  Args:
    source: models.BuiltModel of the authors' config.
    target: models.BuiltModel of the converted config.
    checkpoint_names: the names in the authors' checkpoint.
    variant, width: from models.conv_settings.
  Returns:
    a Plan.
  Raises:
    refusals.ConversionError if the plan does not produce exactly the
    converted model's variables (a converter defect: it names them).
  """
  ours = gin_text.CLASSES[variant]
  names = set(checkpoint_names)
  targets, converted_scopes = [], []
  for layer in source.conv_layers:
    targets += conv_targets(layer, ours, width)
    converted_scopes.append(layer.scope)
  used = {s for t in targets for s in t.sources}
  unused = sorted(n for n in source.variables
                  if n.startswith(tuple(converted_scopes)) and n not in used)
  dropped = sorted(n for n in names if n.endswith(SLOT_SUFFIXES)
                   and n.startswith(tuple(converted_scopes)))
  for name in sorted(source.variables):
    if name.startswith(tuple(converted_scopes)):
      continue
    targets.append(Target(name, (name,)))
    targets += [Target(n, (n,)) for n in sorted(
        name + suffix for suffix in SLOT_SUFFIXES) if n in names]
  if "global_step" in names:
    targets.append(Target("global_step", ("global_step",)))
  produced = {t.name for t in targets}
  weights = {t.name for t in targets if t.name != "global_step"
             and not t.name.endswith(SLOT_SUFFIXES)}
  missing = sorted(set(target.variables) - produced)
  extra = sorted(weights - set(target.variables))
  if unused or missing or extra:
    raise refusals.ConversionError(
        "The conversion plan does not match the converted model (a defect of "
        "conv_t5.convert for this config; nothing was written): "
        f"authors' variables not used: {unused[:6]}; our variables not "
        f"produced: {missing[:6]}; produced but not in our model: "
        f"{extra[:6]}.")
  return Plan(sorted(targets, key=lambda t: t.name), dropped)


def values(plan, reader, target_shapes):
  """Yields (name, numpy value) for every Target, computed on demand.

  Computed values are derived in float64 and stored in the dtype of their
  first source; each weight's shape is checked against the converted model.
  """
  for t in plan.targets:
    if t.compute is None:
      value = reader.get(t.sources[0])
    else:
      arrays = [reader.get(n) for n in t.sources]
      value = t.compute(*[a.astype(np.float64) for a in arrays])
      value = value.astype(arrays[0].dtype)
    want = target_shapes.get(t.name)
    if want is not None and tuple(value.shape) != tuple(want):
      raise refusals.ConversionError(
          f"{t.name}: computed shape {value.shape}, but the converted model "
          f"has {want} (a defect of conv_t5.convert; nothing was written).")
    yield t.name, value
