"""FLOPs of one training step, counted two ways on the graph that is timed.

`mtf_flops` (analytic, from the Mesh-TF graph's shapes): every einsum of the
step (forward, backward, Adafactor; the one-hot embedding lookups included)
costs the size of the union of its operands' dims times 2 when it reduces a
dim (a multiply-add) or times the number of multiplications when it does not;
convolutions likewise. Other elementwise work (softmax, masks, norms) is not
in this number.

`tf_flops`: the FLOP statistics TensorFlow registers per op type, i.e. what
`tf.profiler` (float_operation) sums, over every op of the lowered TF graph.
TF 2.15 registers none for Einsum, the op every mtf.einsum lowers to, so this
module registers one (2 x the product of the equation's index sizes, or 1 x
for a single-operand einsum). This count includes elementwise ops.

Both count the ops inside the microbatch loop of a serialised step once per
microbatch (`loop_iterations`).
"""

import numpy as np


def _einsum_flops(graph, node):
  from tensorflow.python.framework import graph_util
  from tensorflow.python.framework import ops
  equation = node.attr["equation"].s.decode()
  lhs = equation.split("->")[0].split(",")
  sizes = {}
  for term, name in zip(lhs, node.input):
    shape = graph_util.tensor_shape_from_node_def_name(graph, name)
    shape.assert_is_fully_defined()
    for letter, size in zip(term, shape.as_list()):
      sizes[letter] = size
  product = int(np.prod(list(sizes.values()), dtype=np.float64))
  return ops.OpStats("flops", product * (2 if len(lhs) > 1 else 1))


_REGISTERED = []


def register_einsum_statistics():
  """Registers the Einsum FLOP statistic (once per process)."""
  from tensorflow.python.framework import ops
  from tensorflow.python.profiler.internal import flops_registry  # noqa: F401  pylint: disable=unused-import
  if not _REGISTERED:
    try:
      ops.RegisterStatistics("Einsum", "flops")(_einsum_flops)
    except KeyError:  # registered already (a later TF, or another module)
      pass
    _REGISTERED.append(True)


def _op_flops(op):
  import mesh_tensorflow as mtf
  if isinstance(op, mtf.EinsumOperation):
    dims = {d for t in op.inputs for d in t.shape.dims}
    size = int(np.prod([d.size for d in dims], dtype=np.float64))
    reduces = bool(dims - set(op.outputs[0].shape.dims))
    return size * (max(len(op.inputs) - 1, 1) + (1 if reduces else 0))
  name = type(op).__name__
  if name.startswith("Conv") and "Operation" in name:
    dims = {d for t in list(op.inputs) + list(op.outputs)
            for d in t.shape.dims}
    return 2 * int(np.prod([d.size for d in dims], dtype=np.float64))
  return 0


def mtf_flops(graph, loop_iterations=1):
  """Analytic matmul FLOPs of an mtf.Graph (see module docstring)."""
  import mesh_tensorflow as mtf
  total = 0
  for op in graph.operations:
    if isinstance(op, mtf.WhileLoopOperation):
      total += loop_iterations * sum(_op_flops(o) for o in op._body_ops)  # pylint: disable=protected-access
    else:
      total += _op_flops(op)
  return float(total)


def _in_while_loop(op):
  ctx = op._get_control_flow_context()  # pylint: disable=protected-access
  while ctx is not None:
    if ctx.IsWhileContext():
      return True
    ctx = ctx.outer_context
  return False


def tf_flops(tf_graph, loop_iterations=1):
  """Sum of TensorFlow's registered FLOP statistics over a tf.Graph."""
  from tensorflow.python.framework import ops
  register_einsum_statistics()
  total = 0
  functional = {op.type for op in tf_graph.get_operations()
                if op.type in ("While", "StatelessWhile")}
  if functional:
    raise ValueError(f"{functional} ops keep their body in a function this "
                     "count cannot see: build with tf.disable_v2_behavior() "
                     "(v1 control flow)")
  for op in tf_graph.get_operations():
    try:
      stats = ops.get_stats_for_node_def(tf_graph, op.node_def, "flops")
    except ValueError:  # incomplete shape: tf.profiler skips these too
      continue
    if stats and stats.value:
      total += int(stats.value) * (loop_iterations if _in_while_loop(op)
                                   else 1)
  return float(total)
