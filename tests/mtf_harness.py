"""Runs conv_t5 layers and the core in Mesh-TF graphs, for the property tests.

Everything here is test plumbing: build an mtf graph, lower it on a mesh of
CPU devices (one, or several virtual ones), run it in a TF1 session, return
numpy arrays.
"""

import types

import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()


def session_config(num_cpus=4):
  return tf.ConfigProto(device_count={"CPU": num_cpus},
                        inter_op_parallelism_threads=2,
                        intra_op_parallelism_threads=2)


def tf_ancestors(op):
  """Every TF op that op depends on, through inputs and control inputs."""
  seen, todo = set(), [op]
  while todo:
    o = todo.pop()
    for parent in [t.op for t in o.inputs] + list(o.control_inputs):
      if parent not in seen:
        seen.add(parent)
        todo.append(parent)
  return seen


def mesh_impl(mesh_shape="", layout="", num_devices=1):
  """A placement mesh implementation over CPU devices."""
  shape = mtf.convert_to_shape(mesh_shape)
  devices = ["/cpu:%d" % (i % 4) for i in range(max(shape.size, num_devices))]
  return mtf.placement_mesh_impl.PlacementMeshImpl(
      shape, mtf.convert_to_layout_rules(layout), devices[:shape.size or 1])


def fake_model(d_model, autoregressive):
  """The attributes of a Unitransformer that a layer reads from context.model."""
  return types.SimpleNamespace(
      model_dim=mtf.Dimension("d_model", d_model), ensemble_dims=[],
      ensemble_dim=None, fully_autoregressive=autoregressive,
      autoregressive=autoregressive, layer_stack=None)


class LayerRun:
  """One conv_t5 layer called in the modes of a Context, on one graph."""

  def __init__(self, layer, batch, length, d_model, autoregressive,
               mesh_shape="", layout="", activation_dtype=tf.float32):
    """activation_dtype: of the layer's inputs and activations (variables are
    float32 either way; tf.bfloat16 as on TPU)."""
    self.graph = mtf.Graph()
    self.mesh = mtf.Mesh(self.graph, "mesh")
    self.layer = layer
    self.batch_dim = mtf.Dimension("batch", batch)
    self.length_dim = mtf.Dimension("length", length)
    self.model = fake_model(d_model, autoregressive)
    self.outputs = {}
    self.mesh_shape, self.layout = mesh_shape, layout
    self.activation_dtype = activation_dtype

  def _import(self, value, dims, dtype=tf.float32):
    return mtf.import_tf_tensor(self.mesh, tf.constant(value, dtype=dtype),
                                mtf.Shape(dims))

  def _import_x(self, x, dims):
    return mtf.cast(self._import(x, dims), self.activation_dtype)

  def _context(self, mode, **kwargs):
    return transformer.Context(
        model=self.model, mesh=self.mesh, batch_dims=[self.batch_dim],
        length_dim=self.length_dim,
        variable_dtype=mtf.VariableDType(tf.float32, tf.float32,
                                         self.activation_dtype),
        mode=mode, **kwargs)

  def _call(self, context, x):
    with tf.variable_scope("layer", reuse=tf.AUTO_REUSE):
      return self.layer.call(context, x)

  def full(self, name, x, segment=None, mode="eval"):
    """Whole-sequence call: x [batch, length, d_model], segment [batch, length]."""
    xm = self._import_x(x, [self.batch_dim, self.length_dim,
                            self.model.model_dim])
    seg = None
    if segment is not None:
      seg = self._import(segment, [self.batch_dim, self.length_dim], tf.int32)
    self.outputs[name] = self._call(self._context(mode, sequence_id=seg), xm)

  def stepwise(self, name, x, initial_position=0):
    """first_part on x (its first `initial_position` steps are the known
    prefix), then one incremental call per remaining position.

    initial_position: an int, or one int per row (a list): row b's prefix is
    x[b, :initial_position[b]], passed to first_part as a [batch] tensor, and
    its step i reads x[b, initial_position[b] + i] at that position. Steps
    run until the row with the shortest prefix reaches the end; the outputs
    of a row past its end (its input is zeros there) mean nothing.
    """
    xm = self._import_x(x, [self.batch_dim, self.length_dim,
                            self.model.model_dim])
    per_row = not isinstance(initial_position, int)
    start = min(initial_position) if per_row else initial_position
    if per_row:
      initial = self._import(list(initial_position), [self.batch_dim],
                             tf.int32)
    else:
      initial = initial_position
    first = self._context("first_part", sequence_id=1, new_states=[],
                          initial_position=initial,
                          position=mtf.range(self.mesh, self.length_dim,
                                             tf.int32),
                          position_is_default=True)
    self._call(first, xm)
    states = first.new_states
    if not per_row and initial_position == 0:
      states = [mtf.zeros_like(s) for s in states]
    steps = []
    for i in range(self.length_dim.size - start):
      if per_row:
        position = initial + i                       # [batch]
        xt = mtf.gather(xm, position, self.length_dim,
                        output_shape=mtf.Shape(
                            [self.batch_dim, self.model.model_dim]))
      else:
        position = start + i
        xt = mtf.gather(xm, position, self.length_dim)
      inc = self._context("incremental", sequence_id=1, states=states,
                          new_states=[], position=position)
      steps.append(self._call(inc, xt))
      states = inc.new_states
    self.outputs[name] = mtf.stack(steps, self.length_dim.name,
                                   axis=1) if steps else None

  def run(self, weights=None, updates=()):
    """Lowers and runs; returns ({name: array}, {variable name: array}).

    Outputs are returned as float32. weights: optional {variable name: array}
    assigned to the variables first (e.g. those of another run). updates: mtf
    Operations (e.g. an optimizer's) run once after the outputs are fetched;
    the variables are read after them.
    """
    impl = mesh_impl(self.mesh_shape, self.layout)
    lowering = mtf.Lowering(self.graph, {self.mesh: impl}, autostack=False)
    fetch = {k: tf.cast(lowering.export_to_tf_tensor(v), tf.float32)
             for k, v in self.outputs.items() if v is not None}
    variables = {v.name: tf.cast(lowering.export_to_tf_tensor(v.outputs[0]),
                                 tf.float32)
                 for v in self.graph.trainable_variables}
    masters = {v.name: v.get_master()
               for v in self.graph.trainable_variables}
    assign = [tf.assign(masters[k], w) for k, w in (weights or {}).items()]
    update = tf.group([lowering.lowered_operation(op) for op in updates])
    with tf.Session(config=session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(assign)
      sess.run(lowering.copy_masters_to_slices())
      out = sess.run(fetch)
      sess.run(update)
      return out, sess.run(variables)


def run_layer(layer, x, autoregressive, segment=None, mesh_shape="",
              layout="", stepwise=False):
  """Convenience: one full call (and optionally the stepwise decode)."""
  batch, length, d_model = x.shape
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    run = LayerRun(layer, batch, length, d_model, autoregressive, mesh_shape,
                   layout)
    run.full("full", x, segment)
    if stepwise:
      run.stepwise("steps", x)
    return run.run()


# Two rows of 11 positions: two packed examples and padding; one example.
PACKED = np.array([[1] * 4 + [2] * 5 + [0] * 2, [1] * 11])


def weights_in_layer(weights):
  """run_layer's variables by name within the layer ("glu_0/kernel", ...)."""
  return {k[len("layer/"):]: v for k, v in weights.items()}


def random_inputs(batch, length, d_model, seed=0):
  return np.random.RandomState(seed).normal(
      size=(batch, length, d_model)).astype(np.float32)
