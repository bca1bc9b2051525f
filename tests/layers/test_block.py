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
@pytest.mark.parametrize("kwargs,message", [
    ({"kernel_width": 0},
     "kernel_width = 0: kernel widths must be integers >= 1."),
    ({"kernel_width": [3, 0]},
     "kernel_width = [3, 0]: kernel widths must be integers >= 1."),
    ({"dilation": 0}, "dilation = 0: dilation rates must be integers >= 1."),
    ({"kernel_width": 2.5},
     "kernel_width = 2.5: kernel widths must be integers >= 1."),
    ({"num_heads": 0}, "num_heads = 0: must be an integer >= 1."),
    ({"kernel_dropout": 1.0},
     "kernel_dropout = 1.0: must be in [0, 1) (one value for every block)."),
    ({"num_heads": 3, "channels": 8},
     "num_heads = 3 does not divide channels = 8: choose num_heads among the "
     "divisors of 8."),
])
def test_bad_hyper_parameters_fail_at_build(variant, kwargs, message):
  """The message's first line (gin adds "In call to configurable" notes)."""
  with pytest.raises(errors.ConfigError) as e:
    VARIANTS[variant](**kwargs)
  name = type(make(variant)).__name__
  assert str(e.value).splitlines()[0] == f"{name}.{message}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_heads_not_dividing_d_model_fail_when_the_model_is_built(variant):
  x = mtf_harness.random_inputs(1, 4, D)
  with pytest.raises(errors.ConfigError, match=r"num_heads = 3 does not divide "
                     r"the 8 channels.*divisors of 8"):
    mtf_harness.run_layer(make(variant, heads=3), x, False)


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoding_from_a_different_position_per_row(variant):
  """first_part with a per-row initial_position ([batch] tensor, as beam
  search and prefix decoding pass it), then incremental steps at a per-row
  position: each row's steps equal its teacher-forced outputs from its own
  start (row 0 from 2, row 1 from 6; dilation 2 so the state spans 4)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  starts = [2, 6]
  x = mtf_harness.random_inputs(2, 9, D, seed=13)
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    run = mtf_harness.LayerRun(make(variant, 3, 2), 2, 9, D, True)
    run.full("full", x)
    run.stepwise("steps", x, initial_position=starts)
    out, _ = run.run()
  for row, start in enumerate(starts):
    np.testing.assert_allclose(out["steps"][row, :9 - start],
                               out["full"][row, start:], rtol=1e-5,
                               atol=1e-5, err_msg=f"row {row}")


@pytest.mark.parametrize("variant", VARIANTS)
def test_channels_other_than_d_model(variant):
  """channels = 12 with d_model = 8 (X1 is [.., 2 heads, 6]): the equations
  with those shapes, and decoding equals the whole sequence."""
  x = mtf_harness.random_inputs(2, 11, D, seed=17)
  layer = VARIANTS[variant](num_heads=2, kernel_width=3, dilation=2,
                            channels=12)
  out, weights = mtf_harness.run_layer(layer, x, True, segment=PACKED)
  w = mtf_harness.weights_in_layer(weights)
  assert w["glu_0/kernel"].shape == (D, 2, 6)
  assert w["wo/kernel"].shape == (2, 6, D)
  want = numpy_reference.block(x, w, variant, 3, 2, True, PACKED)
  np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5)
  out, _ = mtf_harness.run_layer(layer, x, True, stepwise=True)
  np.testing.assert_allclose(out["steps"], out["full"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("causal", [True, False])
def test_explicit_causal_overrides_the_stack(variant, causal):
  """causal=True in an encoder and causal=False in a decoder: the window the
  setting names, not the stack's default (numpy equations, packed rows)."""
  x = mtf_harness.random_inputs(2, 11, D, seed=19)
  layer = VARIANTS[variant](num_heads=2, kernel_width=4, dilation=1,
                            causal=causal)
  out, weights = mtf_harness.run_layer(layer, x, not causal, segment=PACKED)
  want = numpy_reference.block(x, mtf_harness.weights_in_layer(weights),
                               variant, 4, 1, causal, PACKED)
  np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5)
  # Centred (non-causal) windows read ahead, so they cannot decode a step.
  if not causal:
    with pytest.raises(ValueError, match="incremental decoding needs a "
                       "causal convolution"):
      mtf_harness.run_layer(layer, x, True, stepwise=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_per_block_dilation_list(variant):
  """dilation = [1, 3] in a stack of two blocks: block 0 reads t-2..t, block 1
  t-6, t-3, t (numpy equations with each block's rate), and decoding keeps a
  state of each block's size."""
  import types  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  x = mtf_harness.random_inputs(2, 11, D, seed=23)
  blocks = []
  for i in range(2):
    layer = VARIANTS[variant](num_heads=2, kernel_width=3, dilation=[1, 3])
    layer.set_name(f"block_{i:03d}/layer_000")
    blocks.append(layer)
  for i, rate in enumerate([1, 3]):
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      run = mtf_harness.LayerRun(blocks[i], 2, 11, D, True)
      run.model.layer_stack = types.SimpleNamespace(layers=blocks)
      run.full("full", x, PACKED)
      run.stepwise("steps", x)
      out, weights = run.run()
    want = numpy_reference.block(x, mtf_harness.weights_in_layer(weights),
                                 variant, 3, rate, True, PACKED)
    np.testing.assert_allclose(out["full"], want, rtol=1e-4, atol=1e-5,
                               err_msg=f"block {i}")
    unpacked = numpy_reference.block(x, mtf_harness.weights_in_layer(weights),
                                     variant, 3, rate, True)
    np.testing.assert_allclose(out["steps"], unpacked, rtol=1e-4, atol=1e-5,
                               err_msg=f"block {i}")
