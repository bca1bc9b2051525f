"""Weight updates that wait until every gradient of the step is computed.

mesh-tensorflow's training step (utils.tpu_estimator_model_fn) groups the
optimizer's assign ops with no ordering against the backward pass. On the
placement mesh (CPU / GPU, TF1 reference variables) an assign can therefore run
while another layer's backward pass has yet to read the same weight, which
then reads the *updated* value: gradients depend on thread timing. Measured on
CPU with the tiny lightweight-convolution model, one plain-SGD step from the
same checkpoint and batch: two one-device runs' weight updates differed by up
to 110% (of the largest update of a weight), one device vs a batch:2 mesh by
up to 96%; with this wrapper by 0 and 5e-6. With Adafactor (sign-like first
steps) the effect on losses was smaller, 3e-4..9e-4 relative by step 3 between
one device and a 2x2 mesh; with the wrapper 1e-7. The SIMD mesh (TPU) has no
control dependencies and compiles the step as one XLA program; there the
wrapper passes gradients through unchanged (whether TPU had the race was not
checked).

    utils.run.optimizer = @conv_t5.OrderedUpdates
    conv_t5.OrderedUpdates.optimizer = @optimize.AdafactorOptimizer   # default

wraps any mesh-tensorflow optimizer: each gradient passes through an identity
that depends on all gradients, so no assign starts before the last read.
"""

import gin
import mesh_tensorflow as mtf
from mesh_tensorflow import optimize
import tensorflow.compat.v1 as tf


class _AfterAll(mtf.ops.Depend):
  """mtf.depend, lowered as a plain pass-through where the mesh has no
  control dependencies (the SIMD / TPU mesh, whose XLA program is ordered)."""

  def lower(self, lowering):
    mesh_impl = lowering.mesh_impl(self)
    x = _laid_out(lowering.tensors[self.inputs[0]])
    if not mesh_impl.supports_control_dependencies:
      lowering.set_tensor_lowering(self.outputs[0], x)
      return
    deps = []
    for d in self._dependencies:
      deps.extend(_laid_out(lowering.tensors[d]).tensor_list)
    with tf.control_dependencies(deps):
      lowering.set_tensor_lowering(self.outputs[0],
                                   mesh_impl.slicewise(tf.identity, x))


def _laid_out(t):
  """A LaidOutTensor (a gradient may still be a lazy all-reduce sum, which
  caches its reduction, so forcing it here costs nothing extra)."""
  return t.to_laid_out_tensor() if hasattr(t, "to_laid_out_tensor") else t


@gin.configurable(module="conv_t5")
class OrderedUpdates(optimize.Optimizer):
  """A mesh-tensorflow optimizer whose updates start after all gradients."""

  def __init__(self, learning_rate, optimizer=optimize.AdafactorOptimizer):
    """Args: learning_rate: as mtf optimizers take it; optimizer: the
    mesh-tensorflow optimizer class that computes the updates."""
    self._inner = optimizer(learning_rate=learning_rate)

  def apply_grads(self, grads, variables):
    done = [g for g in grads if g is not None]
    ordered = [None if g is None else _AfterAll(g, done).outputs[0]
               for g in grads]
    return self._inner.apply_grads(ordered, variables)

  def apply_grad(self, grad, var):
    return self._inner.apply_grad(grad, var)
