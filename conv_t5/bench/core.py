"""Microbenchmark: our depthwise core vs TensorFlow's depthwise convolution.

For each shape (batch, length, channels, heads, width, causal) it times
forward + backward (gradients of sum(y * g) for a fixed random g, w.r.t. the
input and the kernel) of

  ours:      conv_t5.layers.core.banded_conv (per_channel_conv when heads =
             channels, as the core chooses), lowered by Mesh-TF, with segment
             ids (all ones: the masking runs, as in training on packed data);
             kernel [heads, K] shared by the channels of a head;
  primitive: tf.nn.depthwise_conv2d on [batch, 1, length, channels] with the
             same kernel repeated per channel ([1, K, channels, 1]); SAME
             padding (centred) or left padding + VALID (causal). It cannot
             mask packed examples.

The two alternate within each repetition after a warm-up; the median of the
repetitions is reported, with ratio = ours / primitive (lower is better).
Runs in a worker process of the benchmark (`serve`).
"""

import time

import numpy as np


def _ours(tf, shape, rng):
  import mesh_tensorflow as mtf
  from conv_t5.layers import core
  batch, length, channels, heads, width, causal = shape
  graph = mtf.Graph()
  mesh = mtf.Mesh(graph, "mesh")
  dims = [mtf.Dimension("batch", batch), mtf.Dimension("length", length),
          mtf.Dimension("heads", heads),
          mtf.Dimension("d_head", channels // heads)]
  width_dim = mtf.Dimension(core.WIDTH_DIM, width)
  x_var = tf.Variable(rng.normal(size=[d.size for d in dims]).astype("f4"))
  k_var = tf.Variable(rng.normal(size=[heads, width]).astype("f4"))
  g = tf.constant(rng.normal(size=[d.size for d in dims]).astype("f4"))
  x = mtf.import_tf_tensor(mesh, x_var.read_value(), mtf.Shape(dims))
  kernel = mtf.import_tf_tensor(mesh, k_var.read_value(),
                                mtf.Shape([dims[2], width_dim]))
  gm = mtf.import_tf_tensor(mesh, g, mtf.Shape(dims))
  segment = mtf.ones(mesh, mtf.Shape(dims[:2]), tf.int32)
  if heads == channels:     # one channel per head: the core's own choice
    y = core.per_channel_conv(x, kernel, dims[1], segment, 1, causal)
  else:
    y = core.banded_conv(x, kernel, dims[1], segment, 1, causal, 16)
  loss = mtf.reduce_sum(y * gm)
  dx, dk = mtf.gradients([loss], [x, kernel])
  y_sum = mtf.reduce_sum(y)
  impl = mtf.placement_mesh_impl.PlacementMeshImpl(
      mtf.convert_to_shape([]), mtf.convert_to_layout_rules(""), ["/cpu:0"])
  lowering = mtf.Lowering(graph, {mesh: impl})
  return _fetch(tf, lowering.export_to_tf_tensor(y_sum),
                lowering.export_to_tf_tensor(dx),
                lowering.export_to_tf_tensor(dk))


def _primitive(tf, shape, rng):
  batch, length, channels, heads, width, causal = shape
  x_var = tf.Variable(rng.normal(size=[batch, 1, length, channels])
                      .astype("f4"))
  k_var = tf.Variable(rng.normal(size=[heads, width]).astype("f4"))
  g = tf.constant(rng.normal(size=[batch, 1, length, channels]).astype("f4"))
  x, k = x_var.read_value(), k_var.read_value()
  # [heads, K] -> [1, K, channels, 1]: each head's kernel for its channels.
  filt = tf.reshape(tf.transpose(tf.repeat(k, channels // heads, axis=0)),
                    [1, width, channels, 1])
  if causal:
    xp = tf.pad(x, [[0, 0], [0, 0], [width - 1, 0], [0, 0]])
    y = tf.nn.depthwise_conv2d(xp, filt, [1, 1, 1, 1], "VALID")
  else:
    y = tf.nn.depthwise_conv2d(x, filt, [1, 1, 1, 1], "SAME")
  dx, dk = tf.gradients(tf.reduce_sum(y * g), [x, k])
  return _fetch(tf, tf.reduce_sum(y), dx, dk)


def _fetch(tf, y_sum, dx, dk):
  """One scalar that needs y (forward) and both gradients (backward).

  Fetching tf.group(dx, dk) instead lets TF skip the work (seen: 0.1 ms for
  a 4M-element convolution), and the gradients alone do not need y.
  """
  return y_sum + tf.reduce_sum(dx) + tf.reduce_sum(dk)


def _time(sess, op, min_s=0.3):
  """Seconds per run of op, running it until min_s has passed."""
  runs, start = 0, time.perf_counter()
  while True:
    sess.run(op)
    runs += 1
    elapsed = time.perf_counter() - start
    if elapsed >= min_s:
      return elapsed / runs


def run(shapes, reps=5, min_s=0.3):
  import tensorflow.compat.v1 as tf
  tf.disable_v2_behavior()
  results = []
  for shape in shapes:
    rng = np.random.RandomState(0)
    graph = tf.Graph()
    with graph.as_default():
      ops = {"ours": _ours(tf, shape, rng),
             "primitive": _primitive(tf, shape, rng)}
      init = tf.global_variables_initializer()
    with tf.Session(graph=graph) as sess:
      sess.run(init)
      for op in ops.values():  # warm-up
        sess.run(op)
        sess.run(op)
      times = {k: [] for k in ops}
      for r in range(reps):
        for name in (list(ops) if r % 2 == 0 else list(ops)[::-1]):
          times[name].append(_time(sess, ops[name], min_s))
    batch, length, channels, heads, width, causal = shape
    med = {k: float(np.median(v)) for k, v in times.items()}
    results.append({
        "batch": batch, "seq_len": length, "channels": channels,
        "heads": heads, "kernel_width": width, "causal": bool(causal),
        "ours_s": med["ours"], "primitive_s": med["primitive"],
        "ours_s_all": times["ours"], "primitive_s_all": times["primitive"],
        "ratio": med["ours"] / med["primitive"]})
  return results


def serve(conn, args):
  """Worker entry (see worker): runs everything, sends the results."""
  conn.send({"core": run([tuple(x) for x in args["shapes"]], args["reps"],
                         args["min_s"])})
