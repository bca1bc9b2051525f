"""The block options the conversion uses keep DESIGN.md's invariants.

`use_bias` (biases in the GLU, the kernel predictor and W_O) and
`zero_first_position` (X1 = 0 at the first position of every example, in
every mode), on together, for all three variants: the block computes its
equations (numpy, with the biases and the zeroing written out), decodes step
by step as it scores whole sequences, keeps packed examples apart and padding
out, is causal in the decoder, gives the same outputs on a model-parallel
mesh, and refuses bad values. Off (the default), nothing changes: the other
block tests cover that.
"""

import numpy as np
import pytest

from conv_t5 import errors
from conv_t5 import layers
import mtf_harness
import numpy_reference as ref

VARIANTS = {
    "lightweight": layers.LightweightConvolution,
    "dynamic": layers.DynamicConvolution,
    "dilated": layers.DilatedConvolution,
}
D = 8


def make(variant, width=3, dilation=1, heads=2, **kw):
  kw.setdefault("use_bias", True)
  kw.setdefault("zero_first_position", True)
  return VARIANTS[variant](num_heads=heads, kernel_width=width,
                           dilation=dilation, **kw)


def randomize_biases(layer, x, autoregressive, segment=None, stepwise=False):
  """run_layer with every bias set to random values (they start at zero)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  batch, length, d_model = x.shape
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    run = mtf_harness.LayerRun(layer, batch, length, d_model, autoregressive)
    run.full("full", x, segment)
    if stepwise:
      run.stepwise("steps", x)
    impl = mtf_harness.mesh_impl()
    import mesh_tensorflow as mtf  # pylint: disable=g-import-not-at-top
    lowering = mtf.Lowering(run.graph, {run.mesh: impl}, autostack=False)
    fetch = {k: lowering.export_to_tf_tensor(v)
             for k, v in run.outputs.items() if v is not None}
    variables = {v.name: lowering.export_to_tf_tensor(v.outputs[0])
                 for v in run.graph.trainable_variables}
    masters = [v for v in tf.global_variables() if "_slice_" not in v.name]
    rng = np.random.RandomState(0)
    with tf.Session(config=mtf_harness.session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      for v in masters:
        if v.op.name.endswith("/bias"):
          v.load(rng.normal(size=v.shape.as_list()).astype(np.float32), sess)
      sess.run(lowering.copy_masters_to_slices())
      return sess.run((fetch, variables))


def numpy_block(x, w, variant, width, dilation, causal, segment):
  """The block's equations with biases and the first position zeroed."""
  w = {k[len("layer/"):]: v.astype(np.float64) for k, v in w.items()}
  x = x.astype(np.float64)
  x1 = ((np.einsum("bld,dhc->blhc", x, w["glu_0/kernel"]) + w["glu_0/bias"]) *
        ref.sigmoid(np.einsum("bld,dhc->blhc", x, w["glu_1/kernel"]) +
                    w["glu_1/bias"]))
  if variant == "dynamic":
    kernel = ref.softmax(np.einsum("blhc,hcgk->blgk", x1,
                                   w["kernel_predictor/kernel"]) +
                         w["kernel_predictor/bias"], axis=-1)
  elif variant == "lightweight":
    kernel = ref.softmax(w["kernel"], axis=-1)
  else:
    kernel = w["kernel"]
  before = np.pad(segment, [(0, 0), (1, 0)])[:, :-1]
  first = (segment != before) & (segment != 0)
  x1 = x1 * (~first)[:, :, None, None]
  x2 = ref.depthwise(x1, kernel, width, dilation, causal, segment)
  return np.einsum("blhc,hcd->bld", x2, w["wo/kernel"]) + w["wo/bias"]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("autoregressive", [True, False])
def test_matches_the_equations_with_biases_and_zeroing(variant,
                                                       autoregressive):
  x = mtf_harness.random_inputs(2, 11, D, seed=2)
  segment = mtf_harness.PACKED
  out, weights = randomize_biases(make(variant, 3, 2 if variant == "dilated"
                                       else 1), x, autoregressive, segment)
  assert "layer/wo/bias" in weights and "layer/glu_1/bias" in weights
  want = numpy_block(x, weights, variant, 3,
                     2 if variant == "dilated" else 1, autoregressive, segment)
  real = segment != 0
  np.testing.assert_allclose(out["full"][real], want[real], rtol=1e-4,
                             atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_stepwise_decoding_equals_whole_sequence(variant):
  x = mtf_harness.random_inputs(2, 9, D, seed=4)
  out, _ = randomize_biases(make(variant, 4), x, True, stepwise=True)
  np.testing.assert_allclose(out["steps"], out["full"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoding_after_a_known_prefix(variant):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  x = mtf_harness.random_inputs(2, 9, D, seed=3)
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    run = mtf_harness.LayerRun(make(variant, 3, 2), 2, 9, D, True)
    run.full("full", x)
    run.stepwise("steps", x, initial_position=4)
    out, _ = run.run()
  np.testing.assert_allclose(out["steps"], out["full"][:, 4:], rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("autoregressive", [True, False])
def test_packed_examples_do_not_see_each_other(variant, autoregressive):
  x = mtf_harness.random_inputs(1, 12, D, seed=5)
  packed = np.array([[1] * 5 + [2] * 4 + [0] * 3])
  x_b = np.zeros_like(x)
  x_b[:, :4] = x[:, 5:9]
  layer = make(variant, width=4, dilation=2)
  got = {}
  for name, (xs, seg) in {"packed": (x, packed),
                          "a": (x, np.array([[1] * 5 + [0] * 7])),
                          "b": (x_b, np.array([[1] * 4 + [0] * 8]))}.items():
    got[name] = randomize_biases(layer, xs, autoregressive, seg)[0]["full"]
  np.testing.assert_allclose(got["packed"][:, :5], got["a"][:, :5],
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got["packed"][:, 5:9], got["b"][:, :4],
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_never_reaches_a_real_position(variant):
  x = mtf_harness.random_inputs(2, 10, D, seed=7)
  seg = np.array([[1] * 6 + [0] * 4, [1] * 10])
  noisy = x.copy()
  noisy[0, 6:] = 1e3 * np.random.RandomState(0).normal(size=(4, D))
  layer = make(variant, width=5)
  clean, _ = randomize_biases(layer, x, False, seg)
  dirty, _ = randomize_biases(layer, noisy, False, seg)
  np.testing.assert_allclose(dirty["full"][0, :6], clean["full"][0, :6],
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["lightweight", "dilated"])
def test_the_convolution_never_reads_the_first_position(variant):
  """With a kernel that does not depend on the input, changing x at position
  0 of an example changes no output of the decoder (dynamic: its kernel at
  position 0 still reads X1 there, as the authors' does)."""
  x = mtf_harness.random_inputs(1, 10, D, seed=9)
  seg = np.array([[1] * 4 + [2] * 6])
  changed = x.copy()
  changed[0, 0] += 1.0
  changed[0, 4] += 1.0   # the first position of the second example
  layer = make(variant, width=3)
  a, _ = randomize_biases(layer, x, True, seg)
  b, _ = randomize_biases(layer, changed, True, seg)
  np.testing.assert_allclose(a["full"], b["full"], rtol=1e-6, atol=1e-6)
  off = make(variant, width=3, zero_first_position=False)
  a, _ = randomize_biases(off, x, True, seg)
  b, _ = randomize_biases(off, changed, True, seg)
  assert np.abs(a["full"] - b["full"]).max() > 1e-3


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoder_is_causal(variant):
  x = mtf_harness.random_inputs(1, 10, D, seed=9)
  changed = x.copy()
  changed[0, 6] += 1.0
  layer = make(variant, width=3)
  a, _ = randomize_biases(layer, x, True)
  b, _ = randomize_biases(layer, changed, True)
  moved = np.abs(a["full"] - b["full"]).max(axis=-1)[0] > 1e-6
  assert not moved[:6].any() and moved[6]


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_parallel_mesh_gives_the_same_outputs(variant):
  """Heads split over 2 CPU devices == one device; the biases carry the
  heads dim (or d_model) and shard with the default layout."""
  x = mtf_harness.random_inputs(2, 9, D, seed=11)
  seg = np.array([[1] * 4 + [2] * 5, [1] * 7 + [0] * 2])
  layer = make(variant, width=3, dilation=2)
  one, w_one = mtf_harness.run_layer(layer, x, True, segment=seg,
                                     stepwise=True)
  two, _ = mtf_harness.run_layer(layer, x, True, segment=seg,
                                 mesh_shape="model:2", layout="heads:model",
                                 stepwise=True)
  assert "layer/glu_0/bias" in w_one
  for name in ("full", "steps"):
    np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("param", ["use_bias", "zero_first_position"])
def test_bad_values_fail_at_build(param):
  with pytest.raises(errors.ConfigError,
                     match=rf"{param} = 'yes': must be True or False"):
    layers.LightweightConvolution(**{param: "yes"})
