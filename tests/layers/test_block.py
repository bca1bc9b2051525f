"""Properties every convolution block keeps (DESIGN.md, "Correctness").

Each test runs all three variants: lightweight, dynamic, dilated.
"""

import numpy as np
import pytest

from conv_t5 import errors
from conv_t5 import layers
import mtf_harness
import numpy_reference

VARIANTS = {
    "lightweight": lambda **kw: layers.LightweightConvolution(**kw),
    "dynamic": lambda **kw: layers.DynamicConvolution(**kw),
    "dilated": lambda **kw: layers.DilatedConvolution(**kw),
}
D = 8
PACKED = mtf_harness.PACKED


def make(variant, width=3, dilation=1, heads=2):
  return VARIANTS[variant](num_heads=heads, kernel_width=width,
                           dilation=dilation)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("autoregressive", [True, False])
@pytest.mark.parametrize("width,dilation", [(3, 1), (4, 2), (7, 1)])
def test_matches_numpy_implementation(variant, autoregressive, width,
                                      dilation):
  """Same weights (read back from the graph), same outputs as the equations
  (tests/numpy_reference.py), with two packed examples and padding."""
  x = mtf_harness.random_inputs(2, 11, D, seed=width)
  out, weights = mtf_harness.run_layer(make(variant, width, dilation), x,
                                       autoregressive, segment=PACKED)
  want = numpy_reference.block(x, mtf_harness.weights_in_layer(weights), variant, width,
                               dilation, autoregressive, PACKED)
  np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("width,dilation", [(3, 1), (4, 2), (1, 1)])
def test_stepwise_decoding_equals_whole_sequence(variant, width, dilation):
  """first_part + incremental steps == the teacher-forced (eval) call."""
  x = mtf_harness.random_inputs(2, 9, D)
  out, _ = mtf_harness.run_layer(make(variant, width, dilation), x,
                                 autoregressive=True, stepwise=True)
  np.testing.assert_allclose(out["steps"], out["full"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoding_after_a_known_prefix(variant):
  """With a partial sequence, first_part's state carries the prefix."""
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
  """Two examples packed in one row give what each gives alone."""
  x = mtf_harness.random_inputs(1, 12, D, seed=5)
  packed = np.array([[1] * 5 + [2] * 4 + [0] * 3])
  alone_a = np.array([[1] * 5 + [0] * 7])
  # Example B alone, moved to the start of its own row.
  x_b = np.zeros_like(x)
  x_b[:, :4] = x[:, 5:9]
  alone_b = np.array([[1] * 4 + [0] * 8])
  layer = make(variant, width=4, dilation=2)
  got = {}
  for name, (xs, seg) in {"packed": (x, packed), "a": (x, alone_a),
                          "b": (x_b, alone_b)}.items():
    out, _ = mtf_harness.run_layer(layer, xs, autoregressive, segment=seg)
    got[name] = out["full"]
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
  clean_out, _ = mtf_harness.run_layer(layer, x, False, segment=seg)
  noisy_out, _ = mtf_harness.run_layer(layer, noisy, False, segment=seg)
  np.testing.assert_allclose(noisy_out["full"][0, :6], clean_out["full"][0, :6],
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoder_is_causal_and_encoder_is_not(variant):
  """Changing position 6 changes decoder outputs from 6 on only; the centred
  encoder window also changes positions before it."""
  x = mtf_harness.random_inputs(1, 10, D, seed=9)
  changed = x.copy()
  changed[0, 6] += 1.0
  layer = make(variant, width=3, dilation=1)
  for autoregressive in (True, False):
    a, _ = mtf_harness.run_layer(layer, x, autoregressive)
    b, _ = mtf_harness.run_layer(layer, changed, autoregressive)
    moved = np.abs(a["full"] - b["full"]).max(axis=-1)[0] > 1e-6
    if autoregressive:
      assert not moved[:6].any() and moved[6]
    else:
      assert moved[5] and moved[6] and not moved[:5].any()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layout", ["heads:model", "d_head:model"])
def test_model_parallel_mesh_gives_the_same_outputs(variant, layout):
  """Heads (or channels per head) split over 2 CPU devices == one device."""
  x = mtf_harness.random_inputs(2, 9, D, seed=11)
  seg = np.array([[1] * 4 + [2] * 5, [1] * 7 + [0] * 2])
  layer = make(variant, width=3, dilation=2)
  one, w_one = mtf_harness.run_layer(layer, x, True, segment=seg,
                                     stepwise=True)
  two, w_two = mtf_harness.run_layer(layer, x, True, segment=seg,
                                     mesh_shape="model:2", layout=layout,
                                     stepwise=True)
  for name in w_one:
    np.testing.assert_array_equal(w_one[name], w_two[name])
  for name in ("full", "steps"):
    np.testing.assert_allclose(two[name], one[name], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kwargs,named", [
    ({"kernel_width": 0}, "kernel_width = 0"),
    ({"kernel_width": [3, 0]}, "kernel_width = [3, 0]"),
    ({"dilation": 0}, "dilation = 0"),
    ({"kernel_width": 2.5}, "kernel_width = 2.5"),
    ({"num_heads": 0}, "num_heads = 0"),
    ({"kernel_dropout": 1.0}, "kernel_dropout = 1.0"),
    ({"num_heads": 3, "channels": 8}, "num_heads = 3"),
])
def test_bad_hyper_parameters_fail_at_build(variant, kwargs, named):
  with pytest.raises(errors.ConfigError) as e:
    VARIANTS[variant](**kwargs)
  assert named in str(e.value)
  assert "must be" in str(e.value) or "choose" in str(e.value)


@pytest.mark.parametrize("variant", VARIANTS)
def test_heads_not_dividing_d_model_fail_when_the_model_is_built(variant):
  x = mtf_harness.random_inputs(1, 4, D)
  with pytest.raises(errors.ConfigError, match=r"num_heads = 3 does not divide "
                     r"the 8 channels.*divisors of 8"):
    mtf_harness.run_layer(make(variant, heads=3), x, False)
