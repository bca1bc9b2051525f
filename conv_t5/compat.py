"""The one place where this package adapts TensorFlow for mesh-tensorflow.

mesh-tensorflow 0.1.21 (its last release) calls
`tensorflow.python.framework.ops.register_tensor_conversion_function`, which
TF 2.13 moved to `tensorflow.python.framework.tensor_conversion_registry`
(tensorflow/mesh issues 392 and 396). On TF 2.13-2.15 `import mesh_tensorflow`
fails with AttributeError unless the old name is restored first. TF <= 2.12
still has it, so there the fix does nothing.
"""

import sys


def apply_mesh_tensorflow_fix():
  """Restores `ops.register_tensor_conversion_function` if TF removed it.

  Must run before the first `import mesh_tensorflow`; `import conv_t5` and the
  `conv_t5_mesh_transformer` entry point both call it first. Idempotent.

  Returns:
    True if the alias was added, False if TF already had it.
  """
  from tensorflow.python.framework import ops  # pylint: disable=g-import-not-at-top
  if hasattr(ops, "register_tensor_conversion_function"):
    return False
  if "mesh_tensorflow" in sys.modules:
    raise ImportError(
        "mesh_tensorflow was imported before conv_t5 could patch TensorFlow "
        f"{_tf_version()}; import conv_t5 (or conv_t5.compat) before "
        "mesh_tensorflow, or start from the conv_t5_mesh_transformer entry point.")
  from tensorflow.python.framework import tensor_conversion_registry  # pylint: disable=g-import-not-at-top
  ops.register_tensor_conversion_function = (
      tensor_conversion_registry.register_tensor_conversion_function)
  return True


def _tf_version():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.__version__
