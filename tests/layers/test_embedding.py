"""conv_t5.GatherVocabEmbedding: the same rows and gradients as
mesh-tensorflow's one-hot lookup, the same variable, chosen by cpu.gin, and
mtf.gather where the vocabulary is split over the mesh."""

import types

import gin
import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import numpy as np
import tensorflow.compat.v1 as tf

from conv_t5 import config
from conv_t5.layers import embedding
import mtf_harness

VOCAB, D_MODEL = 50, 6


def lookups(cls, mesh_shape="", layout=""):
  """(embeddings, gradient of sum(embeddings * w)) for fixed ids."""
  ids = np.array([[3, 7, 7, 0, 49], [1, 2, 3, 4, 3]], np.int32)
  w = np.random.RandomState(0).normal(size=(2, 5, D_MODEL)).astype(np.float32)
  with tf.Graph().as_default():
    tf.set_random_seed(3)
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    batch, length = mtf.Dimension("batch", 2), mtf.Dimension("length", 5)
    vocab, d = mtf.Dimension("vocab", VOCAB), mtf.Dimension("d_model", D_MODEL)
    emb = cls(mesh, vocab, d, mtf.VariableDType(tf.float32, tf.float32,
                                                tf.float32),
              "embedding", ensemble_dim=None)
    model = types.SimpleNamespace(layout=layout, mesh_shape=mesh_shape)
    ids_m = mtf.import_tf_tensor(mesh, tf.constant(ids), [batch, length])
    out = emb.ids_to_embedding(ids_m, types.SimpleNamespace(model=model))
    w_m = mtf.import_tf_tensor(mesh, tf.constant(w), [batch, length, d])
    loss = mtf.reduce_sum(out * w_m)
    (grad,) = mtf.gradients([loss], [emb._embedding_weights])  # pylint: disable=protected-access
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl(
        mesh_shape, layout)})
    fetch = [lowering.export_to_tf_tensor(t) for t in (out, grad)]
    with tf.Session(config=mtf_harness.session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(lowering.copy_masters_to_slices())
      rows, dw = sess.run(fetch)
      ops = {op.type for op in tf.get_default_graph().get_operations()}
      variables = [(v.name, str(v.shape)) for v in graph.all_variables]
  return rows, dw, ops, variables


def test_same_rows_and_gradient_as_the_one_hot_lookup():
  rows, dw, ops, variables = lookups(embedding.GatherVocabEmbedding)
  ref_rows, ref_dw, ref_ops, ref_variables = lookups(transformer.VocabEmbedding)
  assert variables == ref_variables == [
      ("embedding", "Shape[vocab=50, d_model=6]")]  # checkpoints carry over
  np.testing.assert_array_equal(rows, ref_rows)  # a gather is exact
  np.testing.assert_allclose(dw, ref_dw, rtol=1e-6, atol=1e-6)
  assert np.abs(ref_dw).sum() > 0
  assert "GatherV2" in ops and "OneHot" not in ops
  assert "OneHot" in ref_ops


def test_a_vocabulary_split_over_the_mesh_falls_back_to_mtf_gather():
  rows, _, ops, _ = lookups(embedding.GatherVocabEmbedding,
                            mesh_shape="model:2", layout="vocab:model")
  ref_rows, _, _, _ = lookups(transformer.VocabEmbedding, mesh_shape="model:2",
                              layout="vocab:model")
  np.testing.assert_array_equal(rows, ref_rows)
  assert "OneHot" in ops


def test_cpu_gin_selects_it_and_the_variable_is_unchanged():
  config.parse(["models/transformer.tiny.gin", "cpu.gin"])
  try:
    assert transformer.get_vocab_embedding_cls() is (
        embedding.GatherVocabEmbedding)
  finally:
    gin.clear_config()
  assert issubclass(embedding.GatherVocabEmbedding, transformer.VocabEmbedding)


def test_scaled_like_the_classifier_weights():
  """scale_variable_like_classifier_weights multiplies the rows by
  sqrt(d_model), as mesh-tensorflow's lookup does."""
  with tf.Graph().as_default():
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    vocab, d = mtf.Dimension("vocab", 4), mtf.Dimension("d_model", 9)
    dtype = mtf.VariableDType(tf.float32, tf.float32, tf.float32)
    results = []
    for klass in (embedding.GatherVocabEmbedding, transformer.VocabEmbedding):
      with tf.variable_scope(klass.__name__):
        emb = klass(mesh, vocab, d, dtype, "embedding", ensemble_dim=None,
                    scale_variable_like_classifier_weights=True)
        ids = mtf.constant(mesh, 2, mtf.Shape([mtf.Dimension("b", 1)]),
                           tf.int32)
        results.append((emb, emb.ids_to_embedding(ids, None)))
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    fetch = [lowering.export_to_tf_tensor(r) for _, r in results]
    weights = [lowering.export_to_tf_tensor(e._embedding_weights)  # pylint: disable=protected-access
               for e, _ in results]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(lowering.copy_masters_to_slices())
      (a, b), (wa, wb) = sess.run((fetch, weights))
  np.testing.assert_allclose(a[0], wa[2] * 3.0, rtol=1e-6)
  np.testing.assert_allclose(b[0], wb[2] * 3.0, rtol=1e-6)
