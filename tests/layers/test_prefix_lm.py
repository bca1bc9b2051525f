"""A prefix language model (a decoder with input_full_attention) stays causal.

Mesh-TF's Unitransformer with input_full_attention lets the inputs part of
each sequence attend within itself; its `fully_autoregressive` is then False.
The convolutions must still not read the targets that follow a position, in
the inputs part either (they do not know where it ends), or training reads the
future and decoding cannot run (a centred convolution has no incremental
mode). Decoding from prompts of different lengths runs the per-row
initial_position path of the core's first_part mode.
"""

import gin
import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
from mesh_tensorflow.transformer import transformer_layers
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import config
from conv_t5.layers import dilated
from conv_t5.layers import dynamic
from conv_t5.layers import lightweight
import mtf_harness

VARIANTS = {
    "lightweight": lightweight.LightweightConvolution,
    "dynamic": dynamic.DynamicConvolution,
    "dilated": dilated.DilatedConvolution,
}
VOCAB, D_MODEL = 20, 16
# Inputs "5 6 7", EOS (1), then the targets; the second row changes the
# target at PERTURBED (and so the decoder input one position later).
TARGETS = np.array([[5, 6, 7, 1, 8, 9, 10, 11, 12, 13, 1, 0]] * 2)
PERTURBED = 6
TARGETS[1, PERTURBED] = 17


@pytest.fixture(autouse=True)
def _clear_gin():
  """Leaves no binding behind for tests that build layers directly."""
  yield
  gin.clear_config()


def prefix_lm_logits(cls):
  """Logits [2, length, vocab] of a 2-block prefix LM of `cls` convolutions."""
  config.parse([])  # mesh-tensorflow's defaults.gin: the LayerStack's sublayers
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    stack = transformer.make_layer_stack(
        layers=[[cls, {"num_heads": 2, "kernel_width": 5}],
                [transformer_layers.DenseReluDense, {"hidden_size": 16}]],
        num_layers=2)
    model = transformer.Unitransformer(
        layer_stack=stack, d_model=D_MODEL, input_vocab_size=VOCAB,
        output_vocab_size=VOCAB, autoregressive=True, max_length=16,
        input_full_attention=True, name="decoder")
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    dims = mtf.Shape([mtf.Dimension("batch", TARGETS.shape[0]),
                      mtf.Dimension("length", TARGETS.shape[1])])
    targets = mtf.import_tf_tensor(mesh, tf.constant(TARGETS, tf.int32), dims)
    logits, _ = model.call_simple(
        inputs=transformer.autoregressive_inputs(targets), targets=targets,
        compute_loss=False, mode="eval",
        variable_dtype=mtf.VariableDType(tf.float32))
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()},
                            autostack=False)
    out = lowering.export_to_tf_tensor(logits)
    with tf.Session(config=mtf_harness.session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(lowering.copy_masters_to_slices())
      return sess.run(out)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_prefix_lm_output_does_not_depend_on_later_targets(variant):
  logits = prefix_lm_logits(VARIANTS[variant])
  # Position t predicts target t from the decoder inputs 0..t; the second row's
  # inputs differ from position PERTURBED + 1 on.
  np.testing.assert_allclose(logits[0, :PERTURBED + 1],
                             logits[1, :PERTURBED + 1], rtol=0, atol=1e-6)
  assert np.abs(logits[0, PERTURBED + 1] - logits[1, PERTURBED + 1]).max() > 1e-4


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_prefix_lm_greedy_decoding_equals_teacher_forcing(variant):
  # Two rows whose prompts (inputs and EOS) have different lengths: the
  # decode starts at a different position in each.
  partial = np.zeros((2, 12), np.int32)
  partial[0, :4] = [5, 6, 7, 1]
  partial[1, :6] = [9, 4, 8, 3, 2, 1]
  config.parse([])
  with tf.Graph().as_default():
    tf.set_random_seed(5)
    stack = transformer.make_layer_stack(
        layers=[[VARIANTS[variant], {"num_heads": 2, "kernel_width": 3}],
                [transformer_layers.DenseReluDense, {"hidden_size": 16}]],
        num_layers=2)
    model = transformer.Unitransformer(
        layer_stack=stack, d_model=D_MODEL, input_vocab_size=VOCAB,
        output_vocab_size=VOCAB, autoregressive=True, max_length=16,
        input_full_attention=True, name="decoder")
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    dims = mtf.Shape([mtf.Dimension("batch", 2), mtf.Dimension("length", 12)])
    dtype = mtf.VariableDType(tf.float32)
    with tf.variable_scope("", reuse=tf.AUTO_REUSE):
      greedy = model.sample_autoregressive(
          mtf.import_tf_tensor(mesh, tf.constant(partial), dims),
          temperature=0.0, variable_dtype=dtype, never_end=True)
      teacher, _ = model.call_simple(
          inputs=transformer.autoregressive_inputs(greedy), targets=greedy,
          compute_loss=False, mode="eval", variable_dtype=dtype)
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()},
                            autostack=False)
    fetch = [lowering.export_to_tf_tensor(t) for t in (greedy, teacher)]
    with tf.Session(config=mtf_harness.session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      # Larger weights than T5's initial scale, so the argmax varies.
      sess.run([v.assign(v * 4.0) for v in tf.global_variables()
                if "_slice_" not in v.name])
      sess.run(lowering.copy_masters_to_slices())
      greedy_np, teacher_np = sess.run(fetch)
  teacher_np[..., 1] = -np.inf   # never_end: EOS is never decoded
  for row, start in ((0, 4), (1, 6)):
    np.testing.assert_array_equal(greedy_np[row, :start], partial[row, :start])
    np.testing.assert_array_equal(teacher_np[row, start:].argmax(-1),
                                  greedy_np[row, start:])
  assert len(set(greedy_np[:, 6:].ravel())) > 1
