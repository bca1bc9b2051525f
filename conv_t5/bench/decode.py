"""One decoding point: greedy decoding or teacher-forced scoring, as t5 runs them.

Both are built on a one-device CPU mesh from the model's gin files (as
`step` builds the training step), for a batch of B rows of Li random input
ids in [2, vocab) (fixed seed; no padding, so the encoder sees every
position) and T target positions:

    workload "D": greedy decoding, what t5's `tpu_estimator_model_fn` builds
      in PREDICT mode: Bitransformer.decode (beam_size 1, temperature 0):
      the encoder over B x Li ids, then Unitransformer.sample_autoregressive,
      a while loop of one incremental decoder step per target position.
      Exactly T tokens per row: `Bitransformer.decode.max_decode_length = T`
      sets the loop's length (t5's eval.gin binds the same parameter), and
      `Unitransformer.sample_autoregressive.never_end = True` adds -1e9 to
      the EOS logit at every step, so no row emits EOS and the loop ends only
      at position T (its EOS test still runs every step, as in t5). The
      worker checks every decode: each row's decoded length (the position of
      its first EOS, else T) must be T.
    workload "S": teacher-forced scoring, what t5 builds in "score" mode:
      Bitransformer.call_simple on inputs and B x T random target ids
      (forward only, no loss, no backward), the softmax cross-entropy of the
      targets, and each row's log-likelihood (the sum over its T positions).

One timed "step" is one session.run of the whole thing: a decode of B x T
tokens, or the scoring of B x T tokens. In a worker process (`serve`, see
worker) it answers the parent's commands as `step` does: {"cmd": "steps",
"n": k} -> {"times": [...]}, {"cmd": "finish"} -> peak memory, the decoded
lengths (D) or the mean negative log-likelihood per target token (S).
"""

import os
import time

import numpy as np

from conv_t5.bench import proc
from conv_t5.bench import step

EOS_ID = 1      # t5's SentencePiece EOS; decoding stops at it (never_end: not)
WORKLOADS = ("D", "S")


def decode_bindings(target_len):
  """The gin bindings that make a decode greedy and exactly T tokens long."""
  return [f"Bitransformer.decode.max_decode_length = {int(target_len)}",
          "Bitransformer.decode.beam_size = 1",
          "Bitransformer.decode.temperature = 0.0",
          "Unitransformer.sample_autoregressive.never_end = True"]


def decoded_lengths(ids, eos_id=EOS_ID):
  """Each row's decoded length as t5 reads it: up to its first EOS, else all.

  Args:
    ids: int array [batch, T] of decoded ids.
  Returns:
    int array [batch].
  """
  ids = np.asarray(ids)
  is_eos = ids == eos_id
  return np.where(is_eos.any(axis=1), is_eos.argmax(axis=1), ids.shape[1])


def build(point):
  """Builds the point's decode (D) or scoring (S) graph in the default graph.

  Returns:
    (tf output tensor, lowering): D: the decoded ids [batch, T], int32;
    S: each row's log-likelihood [batch], float32.
  """
  import mesh_tensorflow as mtf
  from mesh_tensorflow.transformer import utils
  import tensorflow.compat.v1 as tf

  workload = point["workload"]
  if workload not in WORKLOADS:
    raise ValueError(f"unknown workload {workload!r}; allowed: D, S")
  extra = decode_bindings(point["target_len"]) if workload == "D" else []
  model = step.build_model(
      dict(point, bindings=list(point.get("bindings", [])) + extra))
  graph = mtf.Graph()
  mesh = mtf.Mesh(graph, "mesh")
  mesh_impl = mtf.placement_mesh_impl.PlacementMeshImpl(
      mtf.convert_to_shape([]), mtf.convert_to_layout_rules(""), ["/cpu:0"])
  feats = step.features_np(point)
  batch_dim = mtf.Dimension("batch", point["batch"])

  def feed(key):
    # A variable, not a constant, as in `step` (no constant folding).
    fed = tf.Variable(feats[key], trainable=False, name="feature_" + key,
                      collections=[tf.GraphKeys.LOCAL_VARIABLES])
    length_dim = mtf.Dimension("length", feats[key].shape[1])
    return mtf.import_tf_tensor(mesh, fed.read_value(),
                                mtf.Shape([batch_dim, length_dim]))

  dtype = utils.get_variable_dtype()
  inputs = feed("inputs")
  if workload == "D":
    out = model.decode(inputs, variable_dtype=dtype)
  else:
    # utils.tpu_estimator_model_fn, mode "score", for a Bitransformer.
    targets = feed("targets")
    logits, _ = model.call_simple(inputs=inputs, targets=targets,
                                  compute_loss=False, mode="score",
                                  variable_dtype=dtype)
    logits = mtf.cast(logits, tf.float32)
    _, length_dim, vocab_dim = logits.shape.dims
    cross_entropy = mtf.layers.softmax_cross_entropy_with_logits(
        logits, targets, vocab_dim)
    cross_entropy *= mtf.cast(mtf.greater(targets, 0), cross_entropy.dtype)
    out = -mtf.reduce_sum(cross_entropy, reduced_dim=length_dim)
  out = mtf.anonymize(out)
  lowering = mtf.Lowering(graph, {mesh: mesh_impl}, autostack=True)
  return lowering.export_to_tf_tensor(out), lowering


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
      self.output, lowering = build(point)
      init = [tf.global_variables_initializer(),
              tf.local_variables_initializer(),
              lowering.copy_masters_to_slices()]
    self.build_s = time.perf_counter() - start
    self.sess = step.start_session(self.graph, init, point)
    self.rss_ready_mb = proc.rss_mb(os.getpid())
    self.lengths = []    # D: every row's decoded length, every run
    self.shapes = set()  # D: the decoded ids' shapes
    self.last = None

  def steps(self, n):
    times = []
    for _ in range(n):
      start = time.perf_counter()
      out = self.sess.run(self.output)
      times.append(time.perf_counter() - start)
      if self.point["workload"] == "D":
        self.shapes.add(tuple(int(x) for x in out.shape))
        self.lengths.extend(int(x) for x in decoded_lengths(out))
      self.last = out
    step._malloc_trim()  # pylint: disable=protected-access
    return times

  def finish(self):
    """Peak memory, and what the last run produced."""
    p = self.point
    out = {"peak_mem_mb": step._peak_rss_mb(),  # pylint: disable=protected-access
           "rss_ready_mb": self.rss_ready_mb, "build_s": self.build_s,
           "num_microbatches": 1, "loss": None}
    if p["workload"] == "D":
      out.update(decoded_len_min=min(self.lengths, default=None),
                 decoded_len_max=max(self.lengths, default=None),
                 decoded_shapes=sorted(self.shapes),
                 distinct_ids=(int(len(np.unique(self.last)))
                               if self.last is not None else None))
    elif self.last is not None:
      # Mean negative log-likelihood per target token.
      out["loss"] = float(-np.sum(self.last) / (p["batch"] * p["target_len"]))
    self.sess.close()
    return out


def serve(conn, point):
  """Worker loop (see worker): build, report, then answer commands."""
  worker = Worker(point)
  conn.send({"ready": True, "build_s": worker.build_s,
             "rss_ready_mb": worker.rss_ready_mb, "num_microbatches": 1})
  while True:
    cmd = conn.recv()
    if cmd["cmd"] == "steps":
      conn.send({"times": worker.steps(cmd["n"])})
    elif cmd["cmd"] == "finish":
      conn.send(worker.finish())
    else:
      return
