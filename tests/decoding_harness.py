"""Reference decoders for the decoding tests: the decoder fed one position at
a time (first_part + incremental), and a beam search that recomputes the whole
prefix at every step instead of using the decoding state. Used by
tests/layers/test_decoding.py and tests/convert/."""

from mesh_tensorflow import beam_search
import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import tensorflow.compat.v1 as tf


def step_by_step_logits(model, inputs, targets, dtype):
  """The decoder fed the teacher's tokens one position at a time."""
  mesh = inputs.mesh
  length_dim = targets.shape.dims[-1]
  batch_dims = targets.shape.dims[:-1]
  shared = model._shared_params(mesh, dtype)  # pylint: disable=protected-access
  enc_outputs = []
  enc_seq = mtf.minimum(inputs, 1)
  encoded, _ = model.encoder.call_simple(
      inputs=inputs, targets=None, compute_loss=False, mode="infer",
      variable_dtype=dtype, sequence_id=enc_seq, shared_params=shared,
      layer_outputs=enc_outputs)
  encoded = mtf.layers.rename_length_to_memory_length(encoded)
  enc_seq = mtf.layers.rename_length_to_memory_length(enc_seq)
  enc_inputs = mtf.layers.rename_length_to_memory_length(inputs)
  positions = mtf.range(mesh, length_dim, tf.int32)
  common = dict(model=model.decoder, mesh=mesh, batch_dims=batch_dims,
                length_dim=length_dim, variable_dtype=dtype, sequence_id=1,
                encoder_output=encoded, encoder_sequence_id=enc_seq,
                shared_params=shared, encoder_layer_outputs=enc_outputs,
                write_priority=positions, encoder_inputs=enc_inputs)
  zeros = mtf.zeros_like(targets)
  first = transformer.Context(
      mode="first_part", position=positions, position_is_default=True,
      new_states=[], initial_position=0, constant_states=[],
      read_priority=positions, inputs=zeros, **common)
  with tf.variable_scope(model.decoder.name):
    model.decoder._call_internal(first, transformer.autoregressive_inputs(zeros))  # pylint: disable=protected-access
  states = [mtf.zeros_like(s) for s in first.new_states]
  fed = transformer.autoregressive_inputs(targets)
  logits = []
  for t in range(length_dim.size):
    position = mtf.constant(mesh, t, dtype=tf.int32)
    token = mtf.gather(fed, t, length_dim)
    step = transformer.Context(
        mode="incremental", position=position, states=states, new_states=[],
        constant_states=first.constant_states, read_priority=position,
        inputs=token, **common)
    with tf.variable_scope(model.decoder.name, reuse=True):
      logits.append(model.decoder._call_internal(step, token))  # pylint: disable=protected-access
    states = step.new_states
  return mtf.stack(logits, length_dim.name, axis=len(batch_dims))


def full_recompute_beam_search(model, inputs, dtype, beam_size, alpha):
  """mtf's beam search whose logits come from re-running the whole prefix."""
  mesh = inputs.mesh
  shared = model._shared_params(mesh, dtype)  # pylint: disable=protected-access
  enc_seq = mtf.minimum(inputs, 1)
  encoded, _ = model.encoder.call_simple(
      inputs=inputs, targets=None, compute_loss=False, mode="infer",
      variable_dtype=dtype, sequence_id=enc_seq, shared_params=shared,
      layer_outputs=[])
  encoded = mtf.layers.rename_length_to_memory_length(encoded)
  enc_seq = mtf.layers.rename_length_to_memory_length(enc_seq)
  batch_dim, length_dim = inputs.shape.dims
  beam_dim = mtf.Dimension("beam", beam_size)
  ids0 = mtf.zeros(mesh, [batch_dim, beam_dim, length_dim], tf.int32)

  positions = mtf.range(mesh, length_dim, tf.int32)

  def logits_fn(step_num, ids, states):
    with tf.variable_scope(model.decoder.name, reuse=True):
      context = transformer.Context(
          model=model.decoder, mesh=mesh, batch_dims=[batch_dim, beam_dim],
          length_dim=length_dim, variable_dtype=dtype, mode="eval",
          sequence_id=1, encoder_output=encoded, encoder_sequence_id=enc_seq,
          shared_params=shared, encoder_layer_outputs=[],
          position=positions, position_is_default=True,
          read_priority=positions, write_priority=positions,
          encoder_inputs=inputs)
      logits = model.decoder._call_internal(  # pylint: disable=protected-access
          context, transformer.autoregressive_inputs(ids))
    return mtf.to_float(mtf.gather(logits, step_num, length_dim)), states

  input_length = mtf.reduce_sum(mtf.to_float(mtf.cast(inputs, tf.bool)),
                                reduced_dim=length_dim)
  decode_length = mtf.cast(mtf.reduce_max(input_length) * 1.5 + 10, tf.int32)
  beams, _ = beam_search.beam_search(
      logits_fn, ids0, alpha, states=[], decode_length=decode_length,
      use_tpu=True, dtype=tf.float32, mesh_shape=model.decoder.mesh_shape,
      layout=model.decoder.layout)
  return mtf.gather(beams, mtf.constant(mesh, 0, dtype=tf.int32), beam_dim)
