"""bfloat16 activations (mesh-tensorflow's TPU default; gin/cpu.gin forces
float32 for CPU runs): every variant builds, trains a step, matches the float32
layer with the same weights within bfloat16's precision, and decodes step by
step as it computes the whole sequence."""

import mesh_tensorflow as mtf
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import layers
import mtf_harness

VARIANTS = {
    "lightweight": layers.LightweightConvolution,
    "dynamic": layers.DynamicConvolution,
    "dilated": layers.DilatedConvolution,
}
B, L, D = 2, 11, 8
# bfloat16 keeps 8 significant bits: one rounding is <= 2^-9 relative; the
# block rounds its input, the GLU, the kernel, the convolution and the output
# projection. Outputs here are O(1) and differ from float32 by ~0.005.
RTOL, ATOL = 0.02, 0.02


def make(variant):
  return VARIANTS[variant](num_heads=2, kernel_width=3, dilation=2)


def run(variant, dtype, autoregressive, weights=None, segment=mtf_harness.PACKED,
        stepwise=False, train=False):
  """The layer on random inputs with activations of `dtype`: outputs "full"
  (eval), "steps" (decoded step by step), "train" and "loss" (with one SGD
  step on the loss); and the variables (after that step)."""
  x = mtf_harness.random_inputs(B, L, D, seed=29)
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    r = mtf_harness.LayerRun(make(variant), B, L, D, autoregressive,
                             activation_dtype=dtype)
    r.full("full", x, segment)
    if stepwise:
      r.stepwise("steps", x)
    updates = []
    if train:
      r.full("train", x, segment, mode="train")
      y = mtf.cast(r.outputs["train"], tf.float32)
      loss = mtf.reduce_mean(mtf.square(y - 1.0))
      r.outputs["loss"] = loss
      variables = r.graph.trainable_variables
      grads = mtf.gradients([loss], [v.outputs[0] for v in variables])
      updates = mtf.optimize.SgdOptimizer(0.5).apply_grads(grads, variables)
    return r.run(weights=weights, updates=updates)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("autoregressive", [True, False])
def test_bfloat16_matches_float32(variant, autoregressive):
  f32, weights = run(variant, tf.float32, autoregressive)
  bf16, _ = run(variant, tf.bfloat16, autoregressive, weights=weights)
  assert np.abs(f32["full"]).max() > 0.3       # O(1) outputs, not ~0
  np.testing.assert_allclose(bf16["full"], f32["full"], rtol=RTOL, atol=ATOL)
  # Not float32 in disguise: bfloat16 rounding is visible.
  assert np.abs(bf16["full"] - f32["full"]).max() > 1e-4


def loss_of(out):
  return np.mean(np.square(out["full"] - 1.0))


@pytest.mark.parametrize("variant", VARIANTS)
def test_bfloat16_trains_a_step(variant):
  """One SGD step with bfloat16 activations from the same weights as a float32
  step: the same loss; every variable moves, in the float32 step's direction
  (gradients are sums with cancellations, so a single entry can differ by
  more than bfloat16's precision: compared by angle and norm); and the loss
  falls as much as after the float32 step."""
  initial = run(variant, tf.float32, True)[1]
  f32, w32 = run(variant, tf.float32, True, weights=initial, train=True)
  bf16, w16 = run(variant, tf.bfloat16, True, weights=initial, train=True)
  assert np.isfinite(bf16["loss"])
  np.testing.assert_allclose(bf16["loss"], f32["loss"], rtol=0.01)
  steps32, steps16 = [], []
  for name, start in initial.items():
    step32, step16 = (w32[name] - start).ravel(), (w16[name] - start).ravel()
    assert np.abs(step16).max() > 1e-4, name          # the step moved it
    cosine = step16 @ step32 / np.linalg.norm(step16) / np.linalg.norm(step32)
    assert cosine > 0.9, (name, cosine)
    steps32.append(step32)
    steps16.append(step16)
  step32, step16 = np.concatenate(steps32), np.concatenate(steps16)
  assert np.linalg.norm(step16 - step32) < 0.15 * np.linalg.norm(step32)
  after32 = loss_of(run(variant, tf.float32, True, weights=w32)[0])
  after16 = loss_of(run(variant, tf.float32, True, weights=w16)[0])
  assert after32 < f32["loss"]
  assert after16 < f32["loss"] - 0.9 * (f32["loss"] - after32), (
      f32["loss"], after32, after16)


@pytest.mark.parametrize("variant", VARIANTS)
def test_bfloat16_decoding_equals_the_whole_sequence(variant):
  """first_part + incremental steps in bfloat16 == the teacher-forced call
  in bfloat16 (one example per row), within bfloat16's precision."""
  out, _ = run(variant, tf.bfloat16, True, segment=None, stepwise=True)
  np.testing.assert_allclose(out["steps"], out["full"], rtol=RTOL, atol=ATOL)
