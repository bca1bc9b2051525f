"""conv_t5.training.ordered.OrderedUpdates: the wrapped optimizer's updates,
applied only after every gradient of the step (the race it removes is
measured end to end by tests/layers/test_model_parallel.py and
tests/training/test_determinism.py)."""

import mesh_tensorflow as mtf
from mesh_tensorflow import optimize
import numpy as np
import tensorflow.compat.v1 as tf

from conv_t5.training import ordered


def _step(optimizer_cls, mesh_shape="", layout=""):
  with tf.Graph().as_default():
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    batch, d = mtf.Dimension("batch", 4), mtf.Dimension("d", 2)
    x = mtf.import_tf_tensor(mesh, tf.constant(
        np.arange(8, dtype=np.float32).reshape(4, 2)), mtf.Shape([batch, d]))
    w1 = mtf.get_variable(mesh, "w1", mtf.Shape([d]),
                          initializer=tf.constant_initializer([1.0, -2.0]))
    w2 = mtf.get_variable(mesh, "w2", mtf.Shape([d]),
                          initializer=tf.constant_initializer([0.5, 3.0]))
    loss = mtf.reduce_sum(mtf.square(x * w1 * w2))
    variables = graph.trainable_variables
    grads = mtf.gradients([loss], [v.outputs[0] for v in variables])
    updates = optimizer_cls(learning_rate=0.01).apply_grads(grads, variables)
    impl = mtf.placement_mesh_impl.PlacementMeshImpl(
        mtf.convert_to_shape(mesh_shape), mtf.convert_to_layout_rules(layout),
        ["cpu:0"] * max(1, mtf.convert_to_shape(mesh_shape).size))
    lowering = mtf.Lowering(graph, {mesh: impl})
    update_op = tf.group([lowering.lowered_operation(u) for u in updates])
    values = [lowering.export_to_tf_tensor(v.outputs[0]) for v in variables]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(lowering.copy_masters_to_slices())
      sess.run(update_op)
      return sess.run(values), graph


def _sgd_by_hand(learning_rate=0.01):
  """One exact SGD step of _step's loss sum((x * w1 * w2)^2), in numpy."""
  x = np.arange(8, dtype=np.float64).reshape(4, 2)
  s = (x ** 2).sum(axis=0)
  w1, w2 = np.array([1.0, -2.0]), np.array([0.5, 3.0])
  return [w1 - learning_rate * 2 * s * w1 * w2 ** 2,
          w2 - learning_rate * 2 * s * w2 * w1 ** 2]


def test_same_update_as_the_wrapped_optimizer():
  # The reference is the update computed by hand: the unwrapped optimizer's
  # own step is racy on CPU (it failed a fresh-clone `make test` once: SGD
  # gave w1 = [1.03, -175.0] instead of [0.72, 28.24]), which is what the
  # wrapper removes.
  def wrapped(learning_rate):
    return ordered.OrderedUpdates(learning_rate, optimizer=optimize.SgdOptimizer)

  for _ in range(5):
    got, graph = _step(wrapped)
    for want, value in zip(_sgd_by_hand(), got):
      np.testing.assert_allclose(value, want, rtol=1e-6)
  # Each gradient passes through an identity that depends on all gradients.
  after_all = [op for op in graph.operations if isinstance(op, ordered._AfterAll)]  # pylint: disable=protected-access
  assert len(after_all) == 2


def test_on_a_split_batch_too():
  for _ in range(5):
    got, _ = _step(lambda learning_rate: ordered.OrderedUpdates(
        learning_rate, optimizer=optimize.SgdOptimizer), "batch:2", "batch:batch")
    for want, value in zip(_sgd_by_hand(), got):
      np.testing.assert_allclose(value, want, rtol=1e-6)


def test_default_is_adafactor():
  opt = ordered.OrderedUpdates(0.01)
  assert isinstance(opt._inner, optimize.AdafactorOptimizer)  # pylint: disable=protected-access
