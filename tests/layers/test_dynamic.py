"""DynamicConvolution: kernels predicted per position, checked in numpy."""

import mesh_tensorflow as mtf
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import layers
from conv_t5.layers import core
import mtf_harness
import numpy_reference

B, L, D, H, K = 2, 6, 8, 2, 3
C = D // H


def kernels_of(layer, x1s):
  """The layer's kernel for each X1 in x1s ({name: [B, L, H, C]}), broadcast to
  [B, L, H, K] (a kernel without a length dim is the same at every position);
  and the layer's variables."""
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    run = mtf_harness.LayerRun(layer, B, L, D, autoregressive=False)
    heads = mtf.Dimension("heads", H)
    d_head = mtf.Dimension("d_head", C)
    width = mtf.Dimension(core.WIDTH_DIM, K)
    shape = mtf.Shape([run.batch_dim, run.length_dim, heads, width])
    for name, x1 in x1s.items():
      x1m = mtf.import_tf_tensor(
          run.mesh, tf.constant(x1),
          mtf.Shape([run.batch_dim, run.length_dim, heads, d_head]))
      context = run._context("eval")  # pylint: disable=protected-access
      with tf.variable_scope("layer", reuse=tf.AUTO_REUSE):
        kernel = layer.kernel(context, x1m, heads, width)
      run.outputs[name] = mtf.broadcast(kernel, shape)
    return run.run()


def assert_kernel_follows_x1_at_each_position(layer):
  """Changing X1 at one position s changes the kernel at s, in every row and
  head, and leaves the kernel at every other position exactly as it was."""
  rng = np.random.RandomState(0)
  x1 = rng.normal(size=(B, L, H, C)).astype(np.float32)
  x1s = {"base": x1}
  for s in range(L):
    moved = x1.copy()
    moved[:, s] = rng.normal(size=(B, H, C))
    x1s[f"moved_{s}"] = moved
  out, _ = kernels_of(layer, x1s)
  for s in range(L):
    diff = np.abs(out[f"moved_{s}"] - out["base"]).max(axis=-1)  # [B, L, H]
    assert (diff[:, s] > 1e-3).all(), (s, diff)
    others = [t for t in range(L) if t != s]
    np.testing.assert_array_equal(out[f"moved_{s}"][:, others],
                                  out["base"][:, others])
  return out, x1


def test_kernel_depends_on_x1_at_each_position():
  layer = layers.DynamicConvolution(num_heads=H, kernel_width=K)
  assert_kernel_follows_x1_at_each_position(layer)


def test_kernel_is_the_softmax_of_the_prediction_from_x1_at_that_position():
  """k[b, t, h, :] = softmax(W_K X1[b, t]), position by position."""
  layer = layers.DynamicConvolution(num_heads=H, kernel_width=K)
  x1 = np.random.RandomState(1).normal(size=(B, L, H, C)).astype(np.float32)
  out, weights = kernels_of(layer, {"x1": x1})
  w = mtf_harness.weights_in_layer(weights)["kernel_predictor/kernel"]
  want = numpy_reference.softmax(np.einsum("blhc,hcgk->blgk", x1, w))
  np.testing.assert_allclose(out["x1"], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [layers.LightweightConvolution,
                                 layers.DilatedConvolution])
def test_a_kernel_per_head_fails_the_position_check(cls):
  """The check above tells a dynamic kernel from one learned per head: the
  lightweight and dilated kernels do not move with X1."""
  with pytest.raises(AssertionError):
    assert_kernel_follows_x1_at_each_position(cls(num_heads=H, kernel_width=K))


def softmax_graph(softmax):
  """softmax over K of [B, L, H, K] logits, and the gradient of a loss of it,
  lowered to TF. Returns the float tensors of the kernel's shape that the
  backward pass reads from the forward pass, and the values [y, dlogits]."""
  rng = np.random.RandomState(0)
  logits = rng.randn(B, L, H, K).astype(np.float32) * 3
  weights = rng.randn(B, L, H, K).astype(np.float32)
  with tf.Graph().as_default():
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    dims = [mtf.Dimension("batch", B), mtf.Dimension("length", L),
            mtf.Dimension("heads", H), mtf.Dimension(core.WIDTH_DIM, K)]
    tl = tf.placeholder(tf.float32, logits.shape, name="logits_in")
    ml = mtf.import_tf_tensor(mesh, tl, mtf.Shape(dims))
    mw = mtf.import_tf_tensor(mesh, tf.constant(weights), mtf.Shape(dims))
    my = softmax(ml, reduced_dim=dims[-1])
    # dy = cos(y) * w exists only after the forward pass.
    dl, = mtf.gradients([mtf.reduce_sum(mtf.sin(my) * mw)], [ml])
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    ty = lowering.export_to_tf_tensor(my)
    tdl = lowering.export_to_tf_tensor(dl)

    forward = mtf_harness.tf_ancestors(ty.op) | {ty.op}
    kept = {t for op in tf.get_default_graph().get_operations()
            if op not in forward for t in op.inputs
            if t.op in forward and t.dtype == tf.float32 and
            t.shape.as_list() == list(logits.shape)}
    with tf.Session() as sess:
      values = sess.run([ty, tdl], {tl: logits})
  return kept, values


def test_per_channel_softmax_keeps_only_its_output_for_the_backward_pass():
  """dynamic.softmax_keeping_output: mtf.softmax's value and gradient, and
  the backward pass reads one kernel-sized tensor of the forward pass (its
  output), where mtf.softmax's own gradient reads two (the output and the
  exp inside its logsumexp)."""
  from conv_t5.layers import dynamic  # pylint: disable=g-import-not-at-top
  kept, (y, dl) = softmax_graph(dynamic.softmax_keeping_output)
  kept_ref, (y_ref, dl_ref) = softmax_graph(mtf.softmax)
  np.testing.assert_array_equal(y, y_ref)           # the same forward ops
  np.testing.assert_allclose(dl, dl_ref, rtol=1e-5, atol=1e-6)
  assert len(kept) == 1, kept
  assert len(kept_ref) == 2, kept_ref
