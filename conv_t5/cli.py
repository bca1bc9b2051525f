"""`conv_t5_mesh_transformer`: t5's `t5_mesh_transformer`, made to run on TF 2.13+.

The stock entry point imports mesh-tensorflow before any --module_import, so on
TF 2.13-2.15 it dies in `import mesh_tensorflow` (see conv_t5.compat). This
wrapper applies that fix, then runs t5's own `mesh_transformer_main.main`
unchanged, with every one of its flags. Two things are added around it, both
before or after t5's code and neither changing what it does:

  * conv_t5's and t5's gin directories are put on gin's search path, so
    `--gin_file=models/conv_dynamic.base.gin` works without a path;
  * an unknown gin file, task or mixture exits with status 2 and a message that
    lists what exists, instead of a traceback.

Usage is exactly t5's, e.g.:
  conv_t5_mesh_transformer --module_import=conv_t5.tasks \
    --model_dir=/tmp/m --gin_file=dataset.gin \
    --gin_file=models/conv_lightweight.tiny.gin --gin_file=cpu.gin ...
"""

import importlib
import sys

import conv_t5  # noqa: F401  (applies the TF compatibility fix first)
from conv_t5 import errors
from conv_t5 import paths


def _add_gin_search_paths():
  import gin  # pylint: disable=g-import-not-at-top
  for p in paths.gin_search_path():
    gin.add_config_file_search_path(p)


def _checked_main(argv):
  """Runs t5's main; turns unknown names into a message and exit status 2."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from t5.models import mesh_transformer_main  # pylint: disable=g-import-not-at-top
  flags_ = flags.FLAGS
  for module in flags_.module_import or []:
    try:
      importlib.import_module(module)
    except ModuleNotFoundError as e:
      _fail(f"--module_import={module}: cannot import it ({e}). "
            "Use --module_import=conv_t5.tasks for this package's tasks.")
  _add_gin_search_paths()
  if flags_.use_model_api:
    import seqio  # pylint: disable=g-import-not-at-top
    name = flags_.mixture_or_task
    if (name not in seqio.TaskRegistry.names() and
        name not in seqio.MixtureRegistry.names()):
      _fail(errors.unknown_task(name))
  try:
    mesh_transformer_main.main(argv)
  except (IOError, OSError) as e:
    missing = _missing_gin_file(str(e))
    if missing is None:
      raise
    _fail(errors.unknown_gin_file(missing))
  except ValueError as e:
    name = _missing_task(str(e))
    if name is None:
      raise
    _fail(errors.unknown_task(name))


def _missing_gin_file(message):
  head = "Unable to open file: "
  if head not in message:
    return None
  return message.split(head, 1)[1].split(". Searched config paths", 1)[0]


def _missing_task(message):
  head = "No Task or Mixture found with name '"
  if head not in message:
    return None
  return message.split(head, 1)[1].split("'", 1)[0]


def _fail(message):
  sys.stderr.write("conv_t5_mesh_transformer: error: " + message + "\n")
  sys.exit(2)


def console_entry_point():
  """Mirrors t5's console_entry_point, with `_checked_main` around its main."""
  from absl import app  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from t5.models import mesh_transformer_main  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  tf.disable_v2_behavior()
  tf.logging.set_verbosity(tf.logging.INFO)
  app.run(_checked_main)


if __name__ == "__main__":
  console_entry_point()
