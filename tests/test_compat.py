"""conv_t5.compat: the TF 2.13+ fix for mesh-tensorflow, in one place, on every
TF version the constraints allow (simulated for the versions not installed)."""

import os
import subprocess
import sys
import types

import pytest

from conv_t5 import compat

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _registry():
  def register_tensor_conversion_function(*args, **kwargs):
    return args, kwargs
  return types.SimpleNamespace(
      register_tensor_conversion_function=register_tensor_conversion_function)


def test_tf_212_and_older_is_left_alone():
  """TF <= 2.12 still has ops.register_tensor_conversion_function."""
  original = object()
  ops = types.SimpleNamespace(register_tensor_conversion_function=original)
  assert compat.apply_mesh_tensorflow_fix(ops=ops, registry=_registry(),
                                          modules={}) is False
  assert ops.register_tensor_conversion_function is original


def test_tf_213_and_newer_gets_the_alias_once():
  """TF 2.13-2.15 moved it to tensor_conversion_registry: alias it back."""
  ops, registry = types.SimpleNamespace(), _registry()
  assert compat.apply_mesh_tensorflow_fix(ops=ops, registry=registry,
                                          modules={}) is True
  assert (ops.register_tensor_conversion_function is
          registry.register_tensor_conversion_function)
  # Idempotent: a second call (CLI after `import conv_t5`) changes nothing.
  assert compat.apply_mesh_tensorflow_fix(ops=ops, registry=_registry(),
                                          modules={}) is False
  assert (ops.register_tensor_conversion_function is
          registry.register_tensor_conversion_function)


def test_too_late_is_an_error_that_says_what_to_do():
  with pytest.raises(ImportError, match="import conv_t5 .* before"):
    compat.apply_mesh_tensorflow_fix(
        ops=types.SimpleNamespace(), registry=_registry(),
        modules={"mesh_tensorflow": object()})


def test_installed_tf_is_in_the_supported_range_and_fixed():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.framework import ops  # pylint: disable=g-import-not-at-top
  major, minor = (int(x) for x in tf.__version__.split(".")[:2])
  assert (2, 12) <= (major, minor) <= (2, 15), tf.__version__
  assert hasattr(ops, "register_tensor_conversion_function")  # conftest imported conv_t5


def _python(code):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  return subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, env=env, timeout=180, check=False)


def test_the_fix_is_what_makes_mesh_tensorflow_import_here():
  """On the installed TF the fix is needed (or, on <= 2.12, a no-op), and
  `import conv_t5` first is enough."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  bare = _python("import mesh_tensorflow")
  fixed = _python("import conv_t5, mesh_tensorflow; "
                  "print(mesh_tensorflow.__name__)")
  assert fixed.returncode == 0, fixed.stderr[-2000:]
  if tuple(int(x) for x in tf.__version__.split(".")[:2]) >= (2, 13):
    assert bare.returncode != 0
    assert "register_tensor_conversion_function" in bare.stderr
  else:  # pragma: no cover (not the pinned version)
    assert bare.returncode == 0


def test_import_conv_t5_leaves_tensorflow_unloaded_and_fixes_it_on_load():
  """The fix waits for TensorFlow: light parts of the package stay light, and
  TensorFlow imported later (directly, or by mesh-tensorflow) is fixed."""
  code = ("import sys, conv_t5\n"
          "assert 'tensorflow' not in sys.modules, 'conv_t5 imported TF'\n"
          "import tensorflow\n"
          "from tensorflow.python.framework import ops\n"
          "assert hasattr(ops, 'register_tensor_conversion_function')\n"
          "import mesh_tensorflow\n"
          "print('ok')\n")
  proc = _python(code)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.strip() == "ok"


def test_the_fix_lives_in_one_place():
  hits = []
  for folder in ("conv_t5", "tasks"):
    for root, _, files in os.walk(os.path.join(REPO, folder)):
      for name in files:
        if name.endswith(".py"):
          path = os.path.join(root, name)
          with open(path) as f:
            if "register_tensor_conversion_function" in f.read():
              hits.append(os.path.relpath(path, REPO))
  assert hits == [os.path.join("conv_t5", "compat.py")]

