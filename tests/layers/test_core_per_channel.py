"""The core's per-channel path (heads of one channel) against its banded path.

With one channel per head (num_heads = channels, as conv_t5.convert writes the
authors' checkpoints) the core sums K shifted copies of its input
(core.per_channel_conv) instead of the banded product (core.banded_conv). The
two must compute the same function: outputs, gradients w.r.t. the input and
the kernel, and, through the blocks, the decoding state (step by step equals
teacher forcing), for lightweight and dynamic kernels, causal and centred
windows, dilation, packed examples and padding.

Why not bitwise: both paths multiply the same products k_j * x[t + o_j] (the
banded matrix holds k_j exactly, its other entries are 0 and add exactly),
but sum them in another order (the matmul also fuses multiply and add), so
each result may differ by the rounding of an n-term float32 sum: at most
2 n u sum_i |term_i| with u = 2^-24 (Higham's bound, once per path). The
tests assert that bound, with sum_i |term_i| computed by the same graph on
|inputs| and n the number of terms: K + 1 for outputs and input gradients (a
halo's gradient adds one sum), batch x length for a shared (lightweight)
kernel's gradient, 1 for a per-position (dynamic) kernel's, which is exact.
At K = 7 the bound on outputs is 9.5e-7 of sum_i |term_i|. Seen on this
file's inputs: outputs and dynamic kernel gradients bitwise equal, input and
lightweight kernel gradients within 1.2e-7 of sum_i |term_i|.
"""

import mesh_tensorflow as mtf
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import layers
from conv_t5.layers import core
import mtf_harness

U = 2.0 ** -24
B, L, H = 2, 13, 4
PACKED = np.array([[1] * 4 + [2] * 6 + [3] * 2 + [0],
                   [1] * 1 + [2] * 9 + [0] * 3])


def assert_within_rounding(got, want, scale, terms):
  """|got - want| <= 2 * terms * u * scale elementwise (see the docstring)."""
  bound = 2 * terms * U * scale
  excess = np.abs(got.astype(np.float64) - want) - bound
  assert excess.max() <= 0, (
      f"difference over the rounding bound by {excess.max()} at "
      f"{np.unravel_index(excess.argmax(), excess.shape)}")


def core_paths(x, kernel, g, segment, dilation, causal, block_size=4):
  """Both paths' y, dL/dx, dL/dkernel (L = sum(y * g)), and the same from
  |x|, |kernel|, |g| through the per-channel path (the sums of |terms|)."""
  with tf.Graph().as_default():
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    batch, length = mtf.Dimension("batch", B), mtf.Dimension("length", L)
    heads, d_head = mtf.Dimension("heads", H), mtf.Dimension("d_head", 1)
    width = mtf.Dimension(core.WIDTH_DIM, kernel.shape[-1])
    def imp(v, dims, dtype=tf.float32):
      return mtf.import_tf_tensor(mesh, tf.constant(v, dtype), mtf.Shape(dims))
    xdims = [batch, length, heads, d_head]
    kdims = [heads, width] if kernel.ndim == 2 else [batch, length, heads,
                                                     width]
    seg = None if segment is None else imp(segment, [batch, length], tf.int32)
    outputs = {}
    for name, sign in (("banded", 1), ("per_channel", 1), ("scale", -1)):
      xv, kv, gv = ((x, kernel, g) if sign > 0 else
                    (np.abs(x), np.abs(kernel), np.abs(g)))
      xm, km, gm = imp(xv, xdims), imp(kv, kdims), imp(gv, xdims)
      if name == "banded":
        y = core.banded_conv(xm, km, length, seg, dilation, causal,
                             block_size)
      else:
        y = core.per_channel_conv(xm, km, length, seg, dilation, causal)
      dx, dk = mtf.gradients([mtf.reduce_sum(y * gm)], [xm, km])
      outputs[name] = (y, dx, dk)
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    fetch = {k: [lowering.export_to_tf_tensor(t) for t in v]
             for k, v in outputs.items()}
    with tf.Session() as sess:
      return sess.run(fetch)


def random_core_inputs(width, dynamic, seed=0):
  rng = np.random.RandomState(seed)
  x = rng.normal(size=(B, L, H, 1)).astype(np.float32)
  kshape = (B, L, H, width) if dynamic else (H, width)
  kernel = rng.normal(size=kshape).astype(np.float32)
  return x, kernel, rng.normal(size=(B, L, H, 1)).astype(np.float32)


# (K, r): widths odd and even, dilated, and windows reaching past the
# sequence (3 x 7: offsets up to 14 > L = 13).
@pytest.mark.parametrize("width,dilation", [(1, 1), (2, 1), (7, 1), (4, 2),
                                            (5, 3), (3, 7)])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "centred"])
@pytest.mark.parametrize("dynamic", [False, True],
                         ids=["lightweight", "dynamic"])
@pytest.mark.parametrize("packed", [True, False], ids=["packed", "one"])
def test_per_channel_equals_banded(width, dilation, causal, dynamic, packed):
  x, kernel, g = random_core_inputs(width, dynamic)
  out = core_paths(x, kernel, g, PACKED if packed else None, dilation, causal)
  (y, dx, dk), (y0, dx0, dk0) = out["per_channel"], out["banded"]
  scale_y, scale_dx, scale_dk = out["scale"]
  assert_within_rounding(y, y0, scale_y, width + 1)
  assert_within_rounding(dx, dx0, scale_dx, width + 1)
  assert_within_rounding(dk, dk0, scale_dk, 1 if dynamic else B * L)
  assert np.abs(y0).max() > 0.5      # outputs of order 1, not all zeros


def test_packed_examples_and_padding_are_masked():
  """A packed example's outputs do not move when another example's (or the
  padding's) inputs change: the per-channel path masks as the banded one."""
  x, kernel, g = random_core_inputs(5, dynamic=True, seed=2)
  other = x.copy()
  other[0, 4:] += 10.0            # row 0: examples 2, 3 and the padding
  a = core_paths(x, kernel, g, PACKED, 1, False)["per_channel"][0]
  b = core_paths(other, kernel, g, PACKED, 1, False)["per_channel"][0]
  np.testing.assert_array_equal(a[0, :4], b[0, :4])
  np.testing.assert_array_equal(a[1], b[1])
  assert np.abs(a[0, 4:10] - b[0, 4:10]).min() > 0


@pytest.mark.parametrize("dynamic", [False, True],
                         ids=["lightweight", "dynamic"])
def test_backward_reads_x_only_after_dy(dynamic):
  """The backward pass's reads of x wait for dy: every TF op that reads x
  (through any path) and is not part of the forward pass has the forward
  output among its ancestors, so TF cannot run it during the forward pass and
  hold its result (say, K windows of x) until the backward pass."""
  x, kernel, _ = random_core_inputs(7, dynamic)
  with tf.Graph().as_default():
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    dims = [mtf.Dimension("batch", B), mtf.Dimension("length", L),
            mtf.Dimension("heads", H), mtf.Dimension("d_head", 1)]
    kdims = (dims[:3] if dynamic else dims[2:3]) + [
        mtf.Dimension(core.WIDTH_DIM, 7)]
    tx = tf.placeholder(tf.float32, x.shape, name="x_in")
    mx = mtf.import_tf_tensor(mesh, tx, mtf.Shape(dims))
    mk = mtf.import_tf_tensor(mesh, tf.constant(kernel, tf.float32),
                              mtf.Shape(kdims))
    seg = mtf.import_tf_tensor(mesh, tf.constant(PACKED, tf.int32),
                               mtf.Shape(dims[:2]))
    my = core.per_channel_conv(mx, mk, dims[1], seg, 1, True)
    # dy = cos(y) exists only after the forward pass.
    dx, _ = mtf.gradients([mtf.reduce_sum(mtf.sin(my))], [mx, mk])
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    ty = lowering.export_to_tf_tensor(my)
    lowering.export_to_tf_tensor(dx)

    forward = mtf_harness.tf_ancestors(ty.op) | {ty.op}
    readers = [op for op in tf.get_default_graph().get_operations()
               if tx.op in mtf_harness.tf_ancestors(op) and op not in forward]
    early = [op.name for op in readers
             if ty.op not in mtf_harness.tf_ancestors(op)]
  assert readers
  assert not early, f"ops that read x before dy exists: {early}"


def test_path_is_chosen_by_channels_per_head():
  """One channel per head: per-channel; more (the demo's 16): banded."""
  def op_names(d_head):
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    dims = [mtf.Dimension("batch", 2), mtf.Dimension("length", 8),
            mtf.Dimension("heads", 4), mtf.Dimension("d_head", d_head)]
    x = mtf.zeros(mesh, mtf.Shape(dims))
    kernel = mtf.zeros(mesh, mtf.Shape(
        [dims[2], mtf.Dimension(core.WIDTH_DIM, 3)]))
    core.depthwise_conv(eval_context(mesh, dims), x, kernel)
    return " ".join(op.name for op in graph.operations)
  with tf.Graph().as_default():
    assert "banded_matmul" in op_names(16)
    assert "unstack" not in op_names(16)
    assert "banded_matmul" not in op_names(1)
    assert "unstack" in op_names(1)


def eval_context(mesh, dims):
  from mesh_tensorflow.transformer import transformer  # pylint: disable=g-import-not-at-top
  return transformer.Context(
      model=mtf_harness.fake_model(16, False), mesh=mesh,
      batch_dims=dims[:1], length_dim=dims[1],
      variable_dtype=mtf.VariableDType(tf.float32, tf.float32, tf.float32),
      mode="eval", sequence_id=None)


def layer_run(layer, x, segment, autoregressive, per_channel, monkeypatch,
              g, weights=None, stepwise=False):
  """The block's output, its gradients w.r.t. x and every variable (for
  sum(y * g)), and optionally its step-by-step decode, on the path asked."""
  batch, length, d_model = x.shape
  with monkeypatch.context() as m:
    if not per_channel:
      m.setattr(core, "uses_per_channel", lambda x: False)
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      run = mtf_harness.LayerRun(layer, batch, length, d_model,
                                 autoregressive)
      dims = [run.batch_dim, run.length_dim, run.model.model_dim]
      xm = run._import_x(x, dims)  # pylint: disable=protected-access
      seg = run._import(segment, dims[:2], tf.int32)  # pylint: disable=protected-access
      context = run._context("eval", sequence_id=seg)  # pylint: disable=protected-access
      y = run._call(context, xm)  # pylint: disable=protected-access
      variables = run.graph.trainable_variables
      grads = mtf.gradients([mtf.reduce_sum(y * run._import(g, dims))],  # pylint: disable=protected-access
                            [xm] + [v.outputs[0] for v in variables])
      run.outputs["y"] = y
      run.outputs["dx"] = grads[0]
      for v, grad in zip(variables, grads[1:]):
        run.outputs["d:" + v.name] = grad
      if stepwise:
        run.stepwise("steps", x)
        run.stepwise("after_prefix", x, initial_position=4)
      return run.run(weights=weights)


VARIANTS = {
    "lightweight": lambda **kw: layers.LightweightConvolution(**kw),
    "dynamic": lambda **kw: layers.DynamicConvolution(**kw),
}


@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("autoregressive", [True, False],
                         ids=["decoder", "encoder"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_block_with_one_channel_per_head(variant, autoregressive, dilation,
                                         monkeypatch):
  """The converted blocks' shape (num_heads = d_model, biases): outputs and
  gradients of both paths, on packed rows with padding; and the decoder's
  step-by-step decoding (from the start and after a known prefix) equals its
  teacher-forced output."""
  d_model, width = 8, 5
  x = mtf_harness.random_inputs(2, 11, d_model, seed=4)
  g = mtf_harness.random_inputs(2, 11, d_model, seed=5)
  def layer():
    return VARIANTS[variant](num_heads=d_model, kernel_width=width,
                             dilation=dilation, use_bias=True)
  out, weights = layer_run(layer(), x, mtf_harness.PACKED, autoregressive,
                           True, monkeypatch, g, stepwise=autoregressive)
  ref, ref_weights = layer_run(layer(), x, mtf_harness.PACKED,
                               autoregressive, False, monkeypatch, g,
                               weights=weights)
  for name, w in weights.items():
    np.testing.assert_array_equal(ref_weights[name], w)
  decoded = {"steps", "after_prefix"} if autoregressive else set()
  assert set(out) == set(ref) | decoded
  for key in ref:
    # The block's own sums (GLU, projections) are common to both paths and
    # carry the core's rounding differences on: about 1e-6 of the values.
    np.testing.assert_allclose(out[key], ref[key], rtol=2e-6,
                               atol=2e-6 * np.abs(ref[key]).max(),
                               err_msg=key)
  assert set(ref) == {"y", "dx"} | {"d:" + k for k in weights}
  if autoregressive:
    # Decoding: one example per row (sequence_id 1), against the teacher-
    # forced output of the same rows, on the per-channel path.
    ones = np.ones_like(mtf_harness.PACKED)
    full, _ = layer_run(layer(), x, ones, True, True, monkeypatch, g,
                        weights=weights)
    np.testing.assert_allclose(out["steps"], full["y"], rtol=2e-6,
                               atol=2e-6 * np.abs(full["y"]).max())
    np.testing.assert_allclose(out["after_prefix"], full["y"][:, 4:],
                               rtol=2e-6,
                               atol=2e-6 * np.abs(full["y"]).max())
