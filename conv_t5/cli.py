"""`conv_t5_mesh_transformer`: t5's `t5_mesh_transformer`, made to run on TF 2.13+.

The stock entry point imports mesh-tensorflow before any --module_import, so on
TF 2.13-2.15 it dies in `import mesh_tensorflow` (see conv_t5.compat). This
wrapper applies that fix, then runs t5's own `mesh_transformer_main.main`
unchanged, with every one of its flags. Around it, before or after t5's code
and without changing what it does:

  * conv_t5's and t5's gin directories are put on gin's search path, so
    `--gin_file=models/conv_dynamic.base.gin` works without a path;
  * gin/guards.gin is put first in --gin_file (after mesh-tensorflow's
    defaults.gin, before the user's files, which may override it): it binds
    `utils.run.train_model_fn = @conv_t5.train_model` (conv_t5.training:
    sequence-length check, architecture check before restoring model_dir, NaN
    stop, optional seed) and `utils.run.optimizer = @conv_t5.OrderedUpdates`
    (Adafactor whose updates wait for all gradients:
    conv_t5.training.ordered);
  * for `--use_model_api --mode=eval`, the eval summary directory that
    MtfModel.eval writes into is created if missing;
  * bad input exits with a message that names the problem and the fix instead
    of a traceback: status 2 for configuration and data errors (unknown gin
    file, task or mixture, conv_t5.errors.ConfigError and its subclasses, a
    malformed data line), status 1 for a NaN / Inf loss.

Usage is exactly t5's, e.g.:
  conv_t5_mesh_transformer --module_import=conv_t5.tasks \
    --model_dir=/tmp/m --gin_file=dataset.gin \
    --gin_file=models/conv_lightweight.tiny.gin --gin_file=cpu.gin ...
"""

import importlib
import os
import re
import sys

# TensorFlow is imported with this module, not first inside run(): TF's
# Python logging keeps writing to the sys.stderr of the moment it is
# imported, and a caller of run() may have redirected sys.stderr around the
# call (tests/cli_runner.py captures each command's error message that way,
# while the logs belong on fd 2). `import conv_t5` no longer imports it.
import tensorflow.compat.v1 as tf

import conv_t5  # noqa: F401  (the TF compatibility fix, before mesh / t5)
from conv_t5 import errors
from conv_t5 import paths

CONFIG_ERROR_STATUS = 2
TRAINING_ERROR_STATUS = 1
GUARDS_GIN = "guards.gin"


class _Exit(Exception):
  """Carries an exit status and message out of _checked_main."""

  def __init__(self, status, message):
    super().__init__(message)
    self.status = status
    self.message = message


def _prepend_guards(flags_):
  """Puts gin/guards.gin first among the user's gin files."""
  path = os.path.join(paths.gin_dir(), GUARDS_GIN)
  if path not in (flags_.gin_file or []):
    flags_.gin_file = [path] + list(flags_.gin_file or [])


def _prepare_model_api_eval(flags_):
  """MtfModel.eval writes into its summary dir without creating it."""
  if flags_.use_model_api and flags_.mode == "eval" and "://" not in flags_.model_dir:
    summary_dir = flags_.eval_summary_dir or os.path.join(
        flags_.model_dir, f"{flags_.eval_split}_eval")
    os.makedirs(summary_dir, exist_ok=True)


def _checked_main(argv):
  """Runs t5's main; turns bad input into _Exit(status, message)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from t5.models import mesh_transformer_main  # pylint: disable=g-import-not-at-top
  flags_ = flags.FLAGS
  for module in flags_.module_import or []:
    try:
      importlib.import_module(module)
    except ModuleNotFoundError as e:
      raise _Exit(CONFIG_ERROR_STATUS,
                  f"--module_import={module}: cannot import it ({e}). "
                  "Use --module_import=conv_t5.tasks for this package's tasks.")
  paths.add_gin_search_paths()
  _prepend_guards(flags_)
  if flags_.use_model_api:
    import seqio  # pylint: disable=g-import-not-at-top
    name = flags_.mixture_or_task
    if (name not in seqio.TaskRegistry.names() and
        name not in seqio.MixtureRegistry.names()):
      raise _Exit(CONFIG_ERROR_STATUS, errors.unknown_task(name))
    _prepare_model_api_eval(flags_)
  try:
    try:
      mesh_transformer_main.main(argv)
    except Exception as e:  # pylint: disable=broad-except
      _exit_if_ours(e)
      raise
  except (IOError, OSError) as e:
    missing = _missing_gin_file(str(e))
    if missing is None:
      raise
    raise _Exit(CONFIG_ERROR_STATUS, errors.unknown_gin_file(missing))
  except tf.errors.InvalidArgumentError as e:
    message = _data_assertion(str(e))
    if message is None:
      raise
    raise _Exit(CONFIG_ERROR_STATUS, message)
  except ValueError as e:
    name = _missing_task(str(e))
    if name is None:
      raise
    raise _Exit(CONFIG_ERROR_STATUS, errors.unknown_task(name))


def _ours(exc):
  """The package's own error behind `exc`, or None.

  gin re-raises an error from a configurable as a proxy subclass of its class
  with notes appended (matched by isinstance, notes dropped by _clean); other
  layers may raise a new exception from it (its __cause__ / __context__).
  """
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    if isinstance(exc, (errors.NonFiniteLossError, errors.ConfigError)):
      return exc
    exc = exc.__cause__ or exc.__context__
  return None


def _exit_if_ours(exc):
  """Raises _Exit for a ConfigError (status 2) or NonFiniteLossError (1)."""
  found = _ours(exc)
  if isinstance(found, errors.NonFiniteLossError):
    raise _Exit(TRAINING_ERROR_STATUS, _clean(found)) from None
  if found is not None:
    raise _Exit(CONFIG_ERROR_STATUS, _clean(found)) from None


def _clean(exc):
  """The message of an exception, without gin's "In call to configurable" notes."""
  lines = [l for l in str(exc).splitlines()
           if not l.strip().startswith("In call to configurable")]
  return "\n".join(lines).strip()


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


_ASSERTION = re.compile(r"assertion failed: \[(.*?)\]\s*$", re.M)


def _data_assertion(message):
  """The text of a failed tf.debugging.Assert on the input data, if it is one
  of conv_t5's data checks (e.g. tasks/sources.py's malformed-line check)."""
  match = _ASSERTION.search(message)
  if not match or "malformed" not in match.group(1):
    return None
  return "Bad input data: " + match.group(1)


def _fail(status, message):
  sys.stderr.write("conv_t5_mesh_transformer: error: " + message + "\n")
  return status


def _prepare_process():
  from t5.models import mesh_transformer_main  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import  (defines the flags)
  from tensorflow.python.util import deprecation  # pylint: disable=g-import-not-at-top
  with deprecation.silence():  # its notice on every command, --help included
    tf.disable_v2_behavior()
  tf.logging.set_verbosity(tf.logging.INFO)


def _main_for_app(argv):
  try:
    _checked_main(argv)
  except _Exit as e:
    sys.exit(_fail(e.status, e.message))


def console_entry_point():
  """Mirrors t5's console_entry_point, with `_checked_main` around its main."""
  from absl import app  # pylint: disable=g-import-not-at-top
  _prepare_process()
  app.run(_main_for_app)


def run(argv):
  """Runs one command line in this process; returns its exit status.

  For drivers and tests that run several commands without paying the start-up
  (TF, t5, torch imports) each time. Flags and the gin config are reset first;
  `argv[0]` is the program name, as in sys.argv. Exceptions other than the
  handled bad-input ones propagate.
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  import gin  # pylint: disable=g-import-not-at-top
  _prepare_process()
  flags_ = flags.FLAGS
  flags_.unparse_flags()
  flags_(list(argv))
  gin.clear_config()
  try:
    _checked_main(list(argv))
  except _Exit as e:
    return _fail(e.status, e.message)
  return 0


if __name__ == "__main__":
  console_entry_point()
