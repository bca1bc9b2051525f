"""The one place where this package adapts TensorFlow for mesh-tensorflow.

mesh-tensorflow 0.1.21 (its last release) calls
`tensorflow.python.framework.ops.register_tensor_conversion_function`, which
TF 2.13 moved to `tensorflow.python.framework.tensor_conversion_registry`
(tensorflow/mesh issues 392 and 396). On TF 2.13-2.15 `import mesh_tensorflow`
fails with AttributeError unless the old name is restored first. TF <= 2.12
still has it, so there the fix does nothing. (TF >= 2.16 has no tf.estimator,
which mesh-tensorflow and t5 need, so setup.cfg stops at 2.15.)

`import conv_t5` applies the fix (`apply_when_tensorflow_loads`): at once if
TensorFlow is loaded already, otherwise the moment TensorFlow loads its
`ops` module, so that importing a light part of the package (say
`conv_t5.training.determinism` or the demo driver) does not import
TensorFlow. The `conv_t5_mesh_transformer` entry point imports conv_t5 before
t5 (whose own entry point imports mesh-tensorflow first and therefore cannot
be used on TF 2.13+).
"""

import importlib.abc
import sys

_FN = "register_tensor_conversion_function"
_OPS = "tensorflow.python.framework.ops"


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


def apply_when_tensorflow_loads(modules=None):
  """Applies the fix now if TensorFlow's ops module is loaded, else as soon
  as it loads (a finder on sys.meta_path that runs once).

  Raises:
    ImportError: as apply_mesh_tensorflow_fix, if mesh_tensorflow was
      imported before the fix.
  """
  modules = sys.modules if modules is None else modules
  if _OPS in modules or "mesh_tensorflow" in modules:
    apply_mesh_tensorflow_fix(modules=modules)
    return
  if not any(isinstance(f, _FixWhenOpsLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _FixWhenOpsLoads())


class _FixWhenOpsLoads(importlib.abc.MetaPathFinder):
  """Finds no module itself. When tensorflow.python.framework.ops is about to
  load, takes the spec the other finders give and wraps its loader so that
  the fix runs right after the module has executed (before anything, such as
  mesh_tensorflow, can call the missing function), then leaves sys.meta_path.
  """

  def find_spec(self, name, path, target=None):
    if name != _OPS:
      return None
    if self in sys.meta_path:
      sys.meta_path.remove(self)
    for finder in sys.meta_path:
      find = getattr(finder, "find_spec", None)
      spec = find(name, path, target) if find else None
      if spec is not None:
        if spec.loader is not None:
          spec.loader = _FixAfterExec(spec.loader)
        return spec
    return None


class _FixAfterExec(importlib.abc.Loader):
  """The ops module's own loader, plus the fix once the module has run."""

  def __init__(self, loader):
    self._loader = loader

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    self._loader.exec_module(module)
    # mesh_tensorflow may be importing right now (it imports TensorFlow
    # first), but cannot have used ops yet: no "too late" check here.
    apply_mesh_tensorflow_fix(ops=module, modules={})

  def __getattr__(self, name):  # get_source, get_filename, is_package, ...
    return getattr(self._loader, name)
