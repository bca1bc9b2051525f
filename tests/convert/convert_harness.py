"""Test plumbing for the conversion tests: a tiny authors' model with random
weights saved as a checkpoint, and the computations compared before and after
conversion (teacher-forced logits, encoder output, step-by-step decoding,
greedy and beam decodes, packed rows), run in Mesh-TF graphs on the CPU."""

import os

import mesh_tensorflow as mtf
from mesh_tensorflow.transformer import transformer
import numpy as np
import tensorflow.compat.v1 as tf

from conv_t5 import config
import mtf_harness
import decoding_harness

VOCAB = 128
# The authors' config at a tiny size (their block has one kernel per channel,
# so d_model = 32 gives 32 kernels of width 9), one block per stack: the
# authors' layers build slowly (9 dense ops per dynamic layer), and the
# mapping is the same for every block.
TINY = ["d_model = 32", "num_layers = 1", "d_ff = 64", "num_heads = 2",
        "d_kv = 16"]
CONFIGS = {"lconv": "models/authors_lconv.base.gin",
           "dconv": "models/authors_dconv.base.gin"}
STEP = 7
# Random weights: T5's initial scale times SCALE, and biases (zero at init)
# drawn N(0, BIAS_STD^2), so that every converted variable matters.
SCALE, BIAS_STD = 2.0, 0.3
DTYPE = mtf.VariableDType(tf.float32, tf.float32, tf.float32)

# Unpacked batch: row 1 has padding in inputs and targets. Decoder inputs
# start with id 0, as always.
_rng = np.random.RandomState(0)
INPUTS = _rng.randint(2, VOCAB, size=(2, 10))
INPUTS[1, 6:] = 0
TARGETS = _rng.randint(2, VOCAB, size=(2, 10))
TARGETS[1, 7:] = 0
# Two examples packed in one row (T5's packing: segment ids and positions),
# and the same two examples as rows of their own.
_A_IN, _B_IN = [5, 9, 17, 33, 1], [44, 12, 7, 90, 61, 1]
_A_T, _B_T = [21, 8, 1], [13, 77, 30, 1]


def _row(parts, length):
  ids, seg, pos = [], [], []
  for i, p in enumerate(parts, 1):
    ids += p
    seg += [i] * len(p)
    pos += list(range(len(p)))
  pad = length - len(ids)
  return ids + [0] * pad, seg + [0] * pad, pos + [0] * pad


PACKED = {k: np.array([v]) for k, v in zip(
    ("inputs", "inputs_segmentation", "inputs_position"),
    _row([_A_IN, _B_IN], 14))}
PACKED.update({k: np.array([v]) for k, v in zip(
    ("targets", "targets_segmentation", "targets_position"),
    _row([_A_T, _B_T], 14))})
ALONE = {"inputs": np.array([_row([_A_IN], 14)[0], _row([_B_IN], 14)[0]]),
         "targets": np.array([_row([_A_T], 14)[0], _row([_B_T], 14)[0]])}


def real(targets):
  """Positions that hold a target token (logits elsewhere are unused)."""
  return targets != 0


def packed_vs_alone(out):
  """(packed logits, the same positions alone) for both examples."""
  packed, alone = out["packed"][0], out["alone"]
  a, b = len(_A_T), len(_B_T)
  return (np.concatenate([packed[:a], packed[a:a + b]]),
          np.concatenate([alone[0, :a], alone[1, :b]]))


def _imp(mesh, value, dims):
  return mtf.import_tf_tensor(mesh, tf.constant(value, tf.int32),
                              mtf.Shape(dims))


def _computations(model, mesh, which):
  """{name: mtf.Tensor} of the computations asked for."""
  b = mtf.Dimension("batch", INPUTS.shape[0])
  n = mtf.Dimension("length", INPUTS.shape[1])
  inputs = _imp(mesh, INPUTS, [b, n])
  targets = _imp(mesh, TARGETS, [b, n])
  out = {}
  if "logits" in which:
    out["logits"], _ = model.call_simple(
        inputs, targets, compute_loss=False, mode="eval", variable_dtype=DTYPE)
  if "encoded" in which:
    shared = model._shared_params(mesh, DTYPE)  # pylint: disable=protected-access
    out["encoded"], _ = model.encoder.call_simple(
        inputs=inputs, targets=None, compute_loss=False, mode="eval",
        variable_dtype=DTYPE, sequence_id=mtf.minimum(inputs, 1),
        shared_params=shared, layer_outputs=[])
  if "stepwise" in which:
    out["stepwise"] = decoding_harness.step_by_step_logits(
        model, inputs, targets, DTYPE)
  if "first_steps" in which:  # the first 3 decoding steps only
    out["first_steps"] = decoding_harness.step_by_step_logits(
        model, inputs, mtf.slice(targets, 0, 3, "length"), DTYPE)
  if "greedy" in which:
    greedy = model.decode(inputs, variable_dtype=DTYPE, temperature=0.0)
    out["greedy"] = greedy
    out["regreedy"], _ = model.call_simple(
        inputs, greedy, compute_loss=False, mode="eval", variable_dtype=DTYPE,
        decoder_sequence_id=mtf.ones(mesh, greedy.shape, tf.int32))
  if "beam" in which:
    out["beam"] = model.decode(inputs, variable_dtype=DTYPE, beam_size=2,
                               alpha=0.6)
    out["beam_ref"] = decoding_harness.full_recompute_beam_search(
        model, inputs, DTYPE, 2, 0.6)
  if "packed" in which:
    pb, pn = mtf.Dimension("batch", 1), mtf.Dimension("length", 14)
    p = {k: _imp(mesh, v, [pb, pn]) for k, v in PACKED.items()}
    out["packed"], _ = model.call_simple(
        p["inputs"], p["targets"], compute_loss=False, mode="eval",
        variable_dtype=DTYPE, encoder_sequence_id=p["inputs_segmentation"],
        decoder_sequence_id=p["targets_segmentation"],
        encoder_position=p["inputs_position"],
        decoder_position=p["targets_position"])
    ab = mtf.Dimension("batch", 2)
    out["alone"], _ = model.call_simple(
        _imp(mesh, ALONE["inputs"], [ab, pn]),
        _imp(mesh, ALONE["targets"], [ab, pn]), compute_loss=False,
        mode="eval", variable_dtype=DTYPE)
  return out


def run(gin_files, bindings, which, restore=None, save_dir=None, seed=1,
        extra_slots=False):
  """Builds the model of `gin_files`, runs the computations in `which`.

  Args:
    gin_files, bindings: the model config (cpu.gin and never_end are added).
    which: names among logits, encoded, stepwise, first_steps, greedy,
      beam, packed.
    restore: a checkpoint prefix to read the weights from (by name); None:
      random weights (seeded), scaled and with random biases.
    save_dir: write the weights there as model.ckpt-STEP (float32, with
      global_step; with extra_slots, also a fake Adafactor slot _slot_v for
      every variable, to check which slots the converter keeps).
  Returns:
    {name: numpy array}.
  """
  config.parse(list(gin_files) + ["cpu.gin"], list(bindings) + [
      "Unitransformer.sample_autoregressive.never_end = True"])
  with tf.Graph().as_default():
    tf.set_random_seed(seed)
    model = transformer.make_bitransformer(
        input_vocab_size=VOCAB, output_vocab_size=VOCAB, layout="",
        mesh_shape="")
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    with tf.variable_scope("", reuse=tf.AUTO_REUSE):
      outputs = _computations(model, mesh, which)
    lowering = mtf.Lowering(graph, {mesh: mtf_harness.mesh_impl()})
    fetch = {k: lowering.export_to_tf_tensor(v) for k, v in outputs.items()}
    masters = [v for v in tf.global_variables() if "_slice_" not in v.name]
    by_name = {v.op.name: v for v in masters}
    with tf.Session(config=session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      if restore:
        tf.train.Saver(by_name).restore(sess, restore)
      else:
        rng = np.random.RandomState(seed)
        for v in masters:
          value = sess.run(v) * SCALE
          if v.op.name.endswith("/bias"):
            value = rng.normal(0.0, BIAS_STD, value.shape)
          v.load(value.astype(np.float32), sess)
      sess.run(lowering.copy_masters_to_slices())
      result = sess.run(fetch)
      if save_dir:
        _save(sess, by_name, save_dir, extra_slots)
  return result


def session_config():
  """mtf_harness's, without Grappler's rewrites (measured: 4x faster start on
  these graphs of many small ops, same results)."""
  config_ = mtf_harness.session_config()
  config_.graph_options.rewrite_options.disable_meta_optimizer = True
  return config_


def _save(sess, by_name, save_dir, extra_slots):
  step = tf.Variable(STEP, dtype=tf.int64, name="global_step")
  sess.run(step.initializer)
  variables = dict(by_name, global_step=step)
  if extra_slots:
    for name, v in by_name.items():
      slot = tf.Variable(tf.ones(v.shape, v.dtype.base_dtype),
                         name=name + "_slot_v")
      sess.run(slot.initializer)
      variables[name + "_slot_v"] = slot
  tf.train.Saver(variables).save(sess, os.path.join(save_dir, "model.ckpt"),
                                 global_step=STEP)
