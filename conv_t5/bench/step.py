"""One benchmark point: the t5 pipeline's training step for one model and shape.

The step is what `mesh_tensorflow.transformer.utils.tpu_estimator_model_fn`
builds in TRAIN mode, on a one-device CPU mesh: Bitransformer.call_simple
(loss, dropout on) on packed-format features, mtf.gradients, Adafactor
(`utils.run.optimizer` of defaults.gin) and the global-step increment; a batch
larger than `tokens_per_microbatch` tokens is serialised into microbatches
with mtf.serialize_training_step as the pipeline does (defaults.gin: 2048).

Fed: random token ids in [2, vocab) (fixed seed), one example per row filling
it (inputs_segmentation = 1, inputs_position = 0..L-1; the same for targets),
so every length-L position is a real token and every mask path runs.

    workload "A": inputs of length L, targets of 32 tokens (classification)
    workload "B": inputs and targets of length L

In a worker process (`serve`, see worker) it builds the step, then
answers the parent's commands: {"cmd": "steps", "n": k} -> {"times": [...]},
{"cmd": "finish"} -> peak memory, FLOP counts (see `flops`), last loss.
"""

import ctypes
import os
import resource
import time

import numpy as np

from conv_t5.bench import proc


def _peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _malloc_trim():
  try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
  except (OSError, AttributeError):
    pass


def target_length(workload, seq_len, short_targets=32):
  """Targets length: A, and decoding / scoring (D, S, see `decode`): the
  point's target_len; B: the inputs' length."""
  if workload in ("A", "D", "S"):
    return short_targets
  if workload == "B":
    return seq_len
  raise ValueError(f"unknown workload {workload!r}; allowed: A, B, D, S")


def features_np(point):
  """Random packed-format features, numpy int32 [batch, length]."""
  rng = np.random.RandomState(point.get("seed", 0))
  batch, vocab = point["batch"], point["vocab_size"]
  lengths = {"inputs": point["seq_len"],
             "targets": target_length(point["workload"], point["seq_len"],
                                      point["target_len"])}
  feats = {}
  for key, length in lengths.items():
    feats[key] = rng.randint(2, vocab, size=(batch, length)).astype(np.int32)
    feats[key + "_segmentation"] = np.ones((batch, length), np.int32)
    feats[key + "_position"] = np.tile(
        np.arange(length, dtype=np.int32), (batch, 1))
  return feats


def build_model(point):
  """Parses the model's gin configs and builds the Bitransformer."""
  from conv_t5.bench import models
  from conv_t5 import config
  from mesh_tensorflow.transformer import utils
  spec = models.spec(point["model"], point["size"])
  config.parse(spec.gin_files, spec.bindings + list(point.get("bindings", [])))
  return utils.build_model(
      model_type="bitransformer", input_vocab_size=point["vocab_size"],
      output_vocab_size=point["vocab_size"], layout_rules=None,
      mesh_shape=[])


def build_train_step(point, serialize=True):
  """Builds the training step in the default tf.Graph.

  Args:
    point: dict with model, size, workload, seq_len, batch, vocab_size,
      target_len, tokens_per_microbatch (None: defaults.gin's).
    serialize: False builds one undivided batch (for counting FLOPs).
  Returns:
    (train_op, tf loss, lowering, num_microbatches); the lowering's graph is
    the mtf.Graph.
  """
  import mesh_tensorflow as mtf
  from mesh_tensorflow.transformer import utils
  import tensorflow.compat.v1 as tf

  model = build_model(point)
  graph = mtf.Graph()
  mesh = mtf.Mesh(graph, "mesh")
  mesh_impl = mtf.placement_mesh_impl.PlacementMeshImpl(
      mtf.convert_to_shape([]), mtf.convert_to_layout_rules(""), ["/cpu:0"])
  feats = features_np(point)
  batch_dim = mtf.Dimension("batch", point["batch"])
  mtf_features = {}
  for key, value in feats.items():
    # A variable, not a constant: Grappler would fold one_hot(constant ids)
    # into a [batch, length, vocab] constant and skip the embedding lookup.
    fed = tf.Variable(value, trainable=False, name="feature_" + key,
                      collections=[tf.GraphKeys.LOCAL_VARIABLES])
    length_dim = mtf.Dimension("length", value.shape[1])
    mtf_features[key] = mtf.import_tf_tensor(
        mesh, fed.read_value(), mtf.Shape([batch_dim, length_dim]))
  lengths = {k: feats[k].shape[1] for k in ("inputs", "targets")}
  kwargs = {}
  if point.get("tokens_per_microbatch") is not None:
    kwargs["tokens_per_microbatch_per_replica"] = (
        point["tokens_per_microbatch"] or None)
  num_micro = (utils.serialize_num_microbatches(batch_dim, lengths, [], "",
                                                **kwargs)
               if serialize else 1)
  dtype = utils.get_variable_dtype()

  def logits_and_loss(f, num_microbatches=1):
    return model.call_simple(
        inputs=f["inputs"], targets=f["targets"], compute_loss=True,
        mode=tf.estimator.ModeKeys.TRAIN, variable_dtype=dtype,
        num_microbatches=num_microbatches,
        encoder_sequence_id=f["inputs_segmentation"],
        decoder_sequence_id=f["targets_segmentation"],
        encoder_position=f["inputs_position"],
        decoder_position=f["targets_position"])

  global_step = tf.train.get_or_create_global_step()
  if num_micro > 1:
    def serialized_fn(f):
      return {"loss": logits_and_loss(f, num_micro)[1]}
    var_grads, outputs = mtf.serialize_training_step(
        mtf_features, serialized_fn, batch_dim, num_micro)
    loss = outputs["loss"]
  else:
    loss = logits_and_loss(mtf_features)[1]
    var_grads = mtf.gradients(
        [loss], [v.outputs[0] for v in graph.trainable_variables])
  optimizer = mtf.optimize.AdafactorOptimizer(learning_rate=1e-3)
  update_ops = optimizer.apply_grads(var_grads, graph.trainable_variables)
  lowering = mtf.Lowering(graph, {mesh: mesh_impl}, autostack=True)
  tf_loss = tf.cast(lowering.export_to_tf_tensor(loss), tf.float32)
  tf_updates = [lowering.lowered_operation(op) for op in update_ops]
  tf_updates.append(tf.assign_add(global_step, 1))
  return tf.group(tf_updates), tf_loss, lowering, num_micro


def start_session(graph, init, point):
  """A session on `graph` with the point's thread counts, its variables
  initialised (init: the global and local initialisers, then mtf's
  copy_masters_to_slices)."""
  import tensorflow.compat.v1 as tf
  sess = tf.Session(graph=graph, config=tf.ConfigProto(
      intra_op_parallelism_threads=point.get("threads", 0),
      inter_op_parallelism_threads=point.get("threads", 0)))
  sess.run(init[:2])
  sess.run(init[2])
  return sess


class Worker:
  """Holds one point's graph and session between the parent's commands."""

  def __init__(self, point):
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()
    self.point = point
    start = time.perf_counter()
    self.graph = tf.Graph()
    with self.graph.as_default():
      tf.set_random_seed(1)
      self.train_op, self.loss, lowering, self.num_micro = build_train_step(
          point)
      init = [tf.global_variables_initializer(),
              tf.local_variables_initializer(),
              lowering.copy_masters_to_slices()]
    self.build_s = time.perf_counter() - start
    from conv_t5.bench import flops
    start = time.perf_counter()
    self.flops = {
        "flops_per_step": flops.mtf_flops(lowering.graph,
                                                self.num_micro),
        "flops_tf": flops.tf_flops(self.graph, self.num_micro)}
    self.flops_count_s = time.perf_counter() - start
    self.sess = start_session(self.graph, init, point)
    self.rss_ready_mb = proc.rss_mb(os.getpid())
    self.last_loss = None

  def steps(self, n):
    times = []
    for _ in range(n):
      start = time.perf_counter()
      _, loss = self.sess.run([self.train_op, self.loss])
      times.append(time.perf_counter() - start)
      self.last_loss = float(loss)
    _malloc_trim()  # hand freed step buffers back while idle (peak unchanged)
    return times

  def finish(self):
    """Peak memory of the process, the FLOP counts and the last loss."""
    out = {"peak_mem_mb": _peak_rss_mb(), "rss_ready_mb": self.rss_ready_mb,
           "loss": self.last_loss, "num_microbatches": self.num_micro,
           "build_s": self.build_s, "flops_count_s": self.flops_count_s}
    out.update(self.flops)
    self.sess.close()
    return out


def serve(conn, point):
  """Worker loop (see worker): build, report, then answer commands."""
  worker = Worker(point)
  conn.send({"ready": True, "build_s": worker.build_s,
             "rss_ready_mb": worker.rss_ready_mb,
             "num_microbatches": worker.num_micro})
  while True:
    cmd = conn.recv()
    if cmd["cmd"] == "steps":
      conn.send({"times": worker.steps(cmd["n"])})
    elif cmd["cmd"] == "finish":
      conn.send(worker.finish())
    else:
      return
