"""Plain numpy implementations of the paper's block, for the property tests.

Written from the paper's equations and Wu et al. (2019), independently of the
Mesh-TF code: a direct loop over positions and taps.
"""

import numpy as np


def sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def softmax(z, axis=-1):
  z = z - z.max(axis=axis, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=axis, keepdims=True)


def tap_offsets(width, dilation, causal):
  left = width - 1 if causal else (width - 1) // 2
  return [dilation * (j - left) for j in range(width)]


def depthwise(x1, kernel, width, dilation, causal, segment=None):
  """x1 [B, L, H, C]; kernel [H, K] or [B, L, H, K]; segment [B, L] or None.

  y[b, t, h, c] = sum_j k[.., h, j] x1[b, t + o_j, h, c], over taps inside the
  sequence and inside the same packed example as t.
  """
  batch, length = x1.shape[:2]
  if segment is None:
    segment = np.ones((batch, length), np.int64)
  y = np.zeros_like(x1, dtype=np.float64)
  offs = tap_offsets(width, dilation, causal)
  for b in range(batch):
    for t in range(length):
      for j, o in enumerate(offs):
        s = t + o
        if 0 <= s < length and segment[b, s] == segment[b, t]:
          k = kernel[:, j] if kernel.ndim == 2 else kernel[b, t, :, j]
          y[b, t] += k[:, None] * x1[b, s]
  return y


def block(x, weights, variant, width, dilation, causal, segment=None,
          normalize=False):
  """The whole block: GLU, depthwise convolution, output projection.

  Args:
    x: [B, L, D]
    weights: the layer's variables by name within the layer's scope:
      glu_0/kernel [D, H, C],
      glu_1/kernel [D, H, C], wo/kernel [H, C, D], and kernel [H, K]
      (lightweight, dilated) or kernel_predictor/kernel [H, C, H, K] (dynamic).
    variant: "lightweight", "dynamic" or "dilated".
    width, dilation, causal: as the layer.
    segment: [B, L] example ids or None.
    normalize: softmax the dilated kernel.
  Returns:
    [B, L, D]
  """
  def w(name):
    return weights[name].astype(np.float64)
  x = x.astype(np.float64)
  x1 = (np.einsum("bld,dhc->blhc", x, w("glu_0/kernel")) *
        sigmoid(np.einsum("bld,dhc->blhc", x, w("glu_1/kernel"))))
  if variant == "lightweight":
    kernel = softmax(w("kernel"), axis=-1)
  elif variant == "dynamic":
    kernel = softmax(np.einsum("blhc,hcgk->blgk", x1,
                               w("kernel_predictor/kernel")), axis=-1)
  elif variant == "dilated":
    kernel = softmax(w("kernel"), -1) if normalize else w("kernel")
  else:
    raise ValueError(variant)
  x2 = depthwise(x1, kernel, width, dilation, causal, segment)
  return np.einsum("blhc,hcd->bld", x2, w("wo/kernel"))
