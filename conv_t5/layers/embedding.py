"""A vocabulary embedding whose lookup is a gather, for the CPU.

mesh-tensorflow looks ids up as einsum(one_hot(ids, vocab), embedding)
(mtf.gather), which suits the TPU's matrix units but on a CPU costs
tokens x vocab x d_model multiply-adds forward and again for the gradient:
with the demo's 8k vocabulary and d_model 64 the encoder's input lookup alone
was a third of a pre-training step (measured with `python -m conv_t5.bench`'s
step harness and TF's step trace). GatherVocabEmbedding computes the same
rows with tf.gather and its gradient with tf.math.unsorted_segment_sum; the
variable is mesh-tensorflow's own (same name, shape and initializer), so
checkpoints move freely between it and transformer.VocabEmbedding. gin/cpu.gin
selects it:

    transformer.get_vocab_embedding_cls.cls = @conv_t5.GatherVocabEmbedding

Where the lookup cannot be a local gather (the vocabulary dim split over the
mesh, or an ensemble dim ahead of it) it falls back to mtf.gather.
"""

import gin
import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import tensorflow.compat.v1 as tf


def _vocab_is_split(vocab_dim, context):
  model = getattr(context, "model", None)
  layout, mesh_shape = (getattr(model, "layout", None),
                        getattr(model, "mesh_shape", None))
  if not layout or not mesh_shape:
    return False
  rules = mtf.convert_to_layout_rules(layout)
  return rules.tensor_dimension_to_mesh_axis(
      vocab_dim, mtf.convert_to_shape(mesh_shape)) is not None


def gather_rows(weights, ids, vocab_dim):
  """weights [vocab, d...] gathered at ids [b...]: [b..., d...].

  Equal to mtf.gather(weights, ids, vocab_dim); the gradient reaches the
  weights only (ids are integers).
  """
  rest = weights.shape.dims[1:]
  out_shape = mtf.Shape(ids.shape.dims + rest)

  def grad_fn(op, dy):
    w, i = op.inputs
    dw = mtf.slicewise(
        lambda d, j: tf.math.unsorted_segment_sum(d, j, vocab_dim.size),
        [dy, i], output_shape=w.shape, output_dtype=w.dtype,
        splittable_dims=rest)
    return [dw, None]
  return mtf.slicewise(lambda w, i: tf.gather(w, i), [weights, ids],
                       output_shape=out_shape, output_dtype=weights.dtype,
                       splittable_dims=out_shape.dims, grad_function=grad_fn)


@gin.configurable(module="conv_t5")
class GatherVocabEmbedding(transformer.VocabEmbedding):
  """transformer.VocabEmbedding whose ids_to_embedding is a gather."""

  def ids_to_embedding(self, ids, context):
    weights = self._embedding_weights
    if (weights.shape.dims[0] != self._vocab_dim
        or _vocab_is_split(self._vocab_dim, context)):
      return super().ids_to_embedding(ids, context)
    ret = gather_rows(weights, ids, self._vocab_dim)
    if self._scale_variable_like_classifier_weights:
      ret *= self._output_dim.size ** 0.5
    return ret
