"""The one place where this package adapts TensorFlow for mesh-tensorflow.

mesh-tensorflow 0.1.21 (its last release) calls
`tensorflow.python.framework.ops.register_tensor_conversion_function`, which
TF 2.13 moved to `tensorflow.python.framework.tensor_conversion_registry`
(tensorflow/mesh issues 392 and 396). On TF 2.13-2.15 `import mesh_tensorflow`
fails with AttributeError unless the old name is restored first. TF <= 2.12
still has it, so there the fix does nothing. (TF >= 2.16 has no tf.estimator,
which mesh-tensorflow and t5 need, so setup.cfg stops at 2.15.)

`import conv_t5` applies the fix; so does the `conv_t5_mesh_transformer` entry
point, before it imports t5 (whose own entry point imports mesh-tensorflow
first and therefore cannot be used on TF 2.13+).
"""

import sys

_FN = "register_tensor_conversion_function"


def apply_mesh_tensorflow_fix(ops=None, registry=None, modules=None):
  """Restores `ops.register_tensor_conversion_function` if TF removed it.

  Must run before the first `import mesh_tensorflow`; `import conv_t5` and the
  `conv_t5_mesh_transformer` entry point both call it first. Idempotent.

  Args:
    ops: the module to patch; default tensorflow.python.framework.ops.
    registry: where TF 2.13+ keeps the function; default
      tensorflow.python.framework.tensor_conversion_registry (imported only
      when the fix is needed).
    modules: the loaded-module table; default sys.modules.
    (The arguments exist so tests can simulate other TF versions.)
  Returns:
    True if the alias was added, False if TF already had it (TF <= 2.12, or
    the fix was applied before).
  Raises:
    ImportError: the fix is needed but mesh_tensorflow was imported already.
  """
  if ops is None:
    from tensorflow.python.framework import ops  # pylint: disable=g-import-not-at-top
  modules = sys.modules if modules is None else modules
  if hasattr(ops, _FN):
    return False
  if "mesh_tensorflow" in modules:
    raise ImportError(
        "mesh_tensorflow was imported before conv_t5 could patch TensorFlow "
        f"{_tf_version()}; import conv_t5 (or conv_t5.compat) before "
        "mesh_tensorflow, or start from the conv_t5_mesh_transformer entry "
        "point instead of t5_mesh_transformer.")
  if registry is None:
    from tensorflow.python.framework import tensor_conversion_registry as registry  # pylint: disable=g-import-not-at-top
  setattr(ops, _FN, getattr(registry, _FN))
  return True


def _tf_version():
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf.__version__
  except ImportError:  # pragma: no cover
    return "(unknown version)"
