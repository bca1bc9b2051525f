"""The shared depthwise core against a direct numpy loop, over its whole range."""

import mesh_tensorflow as mtf
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5.layers import core
import mtf_harness
import numpy_reference

B, L, H, C = 2, 13, 2, 3


def run_banded(x, kernel, segment, dilation, causal, block_size):
  """core.banded_conv on numpy arrays; kernel [H, K] or [B, L, H, K]."""
  with tf.Graph().as_default():
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    batch, length = mtf.Dimension("batch", B), mtf.Dimension("length", L)
    heads, d_head = mtf.Dimension("heads", H), mtf.Dimension("d_head", C)
    width = mtf.Dimension(core.WIDTH_DIM, kernel.shape[-1])
    def imp(v, dims, dtype=tf.float32):
      return mtf.import_tf_tensor(mesh, tf.constant(v, dtype), mtf.Shape(dims))
    xm = imp(x, [batch, length, heads, d_head])
    kdims = [heads, width] if kernel.ndim == 2 else [batch, length, heads, width]
    km = imp(kernel, kdims)
    seg = None if segment is None else imp(segment, [batch, length], tf.int32)
    y = core.banded_conv(xm, km, length, seg, dilation, causal, block_size)
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    out = lowering.export_to_tf_tensor(y)
    with tf.Session() as sess:
      return sess.run(out)


def inputs(width, dynamic, seed=0):
  rng = np.random.RandomState(seed)
  x = rng.normal(size=(B, L, H, C)).astype(np.float32)
  kshape = (B, L, H, width) if dynamic else (H, width)
  return x, rng.normal(size=kshape).astype(np.float32)


PACKED = np.array([[1] * 4 + [2] * 6 + [3] * 2 + [0],
                   [1] * 1 + [2] * 9 + [0] * 3])


@pytest.mark.parametrize("width,dilation", [(1, 1), (2, 1), (3, 1), (4, 2),
                                            (7, 1), (5, 3), (3, 6)])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("dynamic", [False, True])
def test_banded_conv_equals_direct_loop(width, dilation, causal, dynamic):
  x, kernel = inputs(width, dynamic)
  got = run_banded(x, kernel, PACKED, dilation, causal, block_size=4)
  want = numpy_reference.depthwise(x, kernel, width, dilation, causal, PACKED)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block_size", [1, 3, 8, 64])
def test_result_does_not_depend_on_block_size(block_size):
  x, kernel = inputs(5, dynamic=False, seed=1)
  got = run_banded(x, kernel, None, 2, False, block_size)
  want = numpy_reference.depthwise(x, kernel, 5, 2, False, None)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_window_offsets():
  assert core.offsets(7, 1, causal=True) == [-6, -5, -4, -3, -2, -1, 0]
  assert core.offsets(7, 1, causal=False) == [-3, -2, -1, 0, 1, 2, 3]
  # Even widths follow TF's SAME padding: one more tap to the right.
  assert core.offsets(4, 1, causal=False) == [-1, 0, 1, 2]
  assert core.offsets(3, 4, causal=True) == [-8, -4, 0]
  assert core.state_size(3, 4) == 8 and core.state_size(1, 5) == 0
