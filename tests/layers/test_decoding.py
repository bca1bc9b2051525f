"""Decoding equals teacher forcing, through a whole Bitransformer from gin.

For every variant (and a hybrid stack with a self-attention block, and an
ensemble of two models, whose variables carry the "ensemble" dim), a tiny
model built from the package's own gin config must give
  * the same logits step by step (first_part + incremental) as in one
    teacher-forced pass, the decoder inputs starting with id 0 as always;
  * greedy decodes that teacher forcing reproduces token by token;
  * the same beam-search (beam 2) result as a beam search that recomputes the
    whole prefix at every step instead of using the decoding state.
"""

import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5 import config
import decoding_harness
import mtf_harness

VOCAB = 128
BATCH, LENGTH = 2, 10
SCALE = 4.0
MODELS = {
    "lightweight": ["models/conv_lightweight.tiny.gin"],
    "dynamic": ["models/conv_dynamic.tiny.gin"],
    "dilated": ["models/conv_dilated.tiny.gin"],
    "hybrid": ["models/conv_dynamic.tiny.gin"],
    "ensemble": ["models/conv_dilated.tiny.gin"],
}
HYBRID = [
    "decoder/transformer.make_layer_stack.layers = [@conv_t5.Hybrid, "
    "@transformer_layers.EncDecAttention, @transformer_layers.DenseReluDense]",
    "decoder/conv_t5.Hybrid.schedule = ['dilated', 'attention']",
    "conv_t5.DilatedConvolution.kernel_width = 3",
]


def build(name):
  bindings = ["Unitransformer.sample_autoregressive.never_end = True",
              "conv_t5.DilatedConvolution.block_size = 4"]
  extra = {"hybrid": HYBRID, "ensemble": ["Unitransformer.ensemble = 2"]}
  config.parse(MODELS[name] + ["cpu.gin"], bindings + extra.get(name, []))
  return transformer.make_bitransformer(
      input_vocab_size=VOCAB, output_vocab_size=VOCAB, layout="",
      mesh_shape="")


@pytest.mark.parametrize("name", list(MODELS))
def test_decoding_equals_teacher_forcing(name):
  rng = np.random.RandomState(0)
  inputs_np = rng.randint(2, VOCAB, size=(BATCH, LENGTH))
  inputs_np[1, 6:] = 0                                     # padding
  targets_np = rng.randint(2, VOCAB, size=(BATCH, LENGTH))
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    model = build(name)
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    batch_dim = mtf.Dimension("batch", BATCH)
    length_dim = mtf.Dimension("length", LENGTH)
    dtype = mtf.VariableDType(tf.float32, tf.float32, tf.float32)

    def imp(v):
      return mtf.import_tf_tensor(mesh, tf.constant(v, tf.int32),
                                  mtf.Shape([batch_dim, length_dim]))
    inputs, targets = imp(inputs_np), imp(targets_np)
    ones = mtf.ones(mesh, targets.shape, tf.int32)
    with tf.variable_scope("", reuse=tf.AUTO_REUSE):
      teacher, _ = model.call_simple(inputs, targets, compute_loss=False,
                                     mode="eval", variable_dtype=dtype,
                                     decoder_sequence_id=ones)
      stepwise = decoding_harness.step_by_step_logits(model, inputs, targets, dtype)
      greedy = model.decode(inputs, variable_dtype=dtype, temperature=0.0)
      regreedy, _ = model.call_simple(inputs, greedy, compute_loss=False,
                                      mode="eval", variable_dtype=dtype,
                                      decoder_sequence_id=ones)
      beam = model.decode(inputs, variable_dtype=dtype, beam_size=2,
                          alpha=0.6)
      beam_ref = decoding_harness.full_recompute_beam_search(model, inputs, dtype, 2, 0.6)
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    fetch = {k: lowering.export_to_tf_tensor(v) for k, v in dict(
        teacher=teacher, stepwise=stepwise, greedy=greedy, regreedy=regreedy,
        beam=beam, beam_ref=beam_ref).items()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      # Random weights of T5's initial scale give nearly the same argmax at
      # every position; larger ones make decodes vary with the context.
      sess.run([v.assign(v * SCALE) for v in tf.global_variables()
                if "_slice_" not in v.name])
      sess.run(lowering.copy_masters_to_slices())
      out = sess.run(fetch)
  # Logits are O(10-50) with the scaled weights: float32 rounding differs
  # between the two computations by ~1e-5 relative.
  np.testing.assert_allclose(out["stepwise"], out["teacher"], rtol=1e-3,
                             atol=1e-3)
  # Greedy: teacher forcing on the decoded tokens predicts each of them
  # (EOS excluded, as never_end excludes it from the decode).
  regreedy = out["regreedy"][..., :VOCAB].copy()
  regreedy[..., 1] = -np.inf
  np.testing.assert_array_equal(regreedy.argmax(-1), out["greedy"])
  assert (out["greedy"] != 0).any()
  np.testing.assert_array_equal(out["beam"], out["beam_ref"])
  assert (out["beam"] != 0).any()


@pytest.mark.parametrize("name", ["lightweight", "dynamic", "dilated"])
def test_bfloat16_decoding_equals_teacher_forcing(name):
  """With bfloat16 activations (the TPU default), the decoder fed one position
  at a time gives the teacher-forced logits within bfloat16's precision."""
  rng = np.random.RandomState(1)
  inputs_np = rng.randint(2, VOCAB, size=(BATCH, LENGTH))
  targets_np = rng.randint(2, VOCAB, size=(BATCH, LENGTH))
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    model = build(name)
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    shape = mtf.Shape([mtf.Dimension("batch", BATCH),
                       mtf.Dimension("length", LENGTH)])
    dtype = mtf.VariableDType(tf.float32, tf.float32, tf.bfloat16)

    def imp(v):
      return mtf.import_tf_tensor(mesh, tf.constant(v, tf.int32), shape)
    inputs, targets = imp(inputs_np), imp(targets_np)
    with tf.variable_scope("", reuse=tf.AUTO_REUSE):
      teacher, _ = model.call_simple(
          inputs, targets, compute_loss=False, mode="eval",
          variable_dtype=dtype,
          decoder_sequence_id=mtf.ones(mesh, shape, tf.int32))
      stepwise = decoding_harness.step_by_step_logits(model, inputs, targets,
                                                      dtype)
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    fetch = {k: tf.cast(lowering.export_to_tf_tensor(v), tf.float32)
             for k, v in dict(teacher=teacher, stepwise=stepwise).items()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(lowering.copy_masters_to_slices())
      out = sess.run(fetch)
  scale = np.abs(out["teacher"]).max()
  assert scale > 1.0
  error = np.abs(out["stepwise"] - out["teacher"]).max()
  # Observed: 1-2 bfloat16 steps (0.03-0.06 at logits of ~5); a decoding
  # state that keeps the oldest inputs instead of the newest: 0.7.
  assert error < 0.04 * scale, (error, scale)
