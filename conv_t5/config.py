"""Parse gin configs the way `t5_mesh_transformer` does, from Python.

    from conv_t5 import config
    config.parse(["models/conv_dynamic.tiny.gin", "cpu.gin"],
                 ["utils.run.train_steps = 10"])

parses mesh-tensorflow's defaults.gin first (layer stacks, sublayers,
Adafactor, ...), then the files, found on the search path conv_t5 gin/, t5's
gin/, mesh-tensorflow's gin/ (or by absolute path), then the bindings.
"""

import os

import gin

import conv_t5  # noqa: F401  (TF compatibility fix before mesh_tensorflow)
from conv_t5 import errors
from conv_t5 import paths


def resolve(gin_file):
  """The absolute path of a gin file name; ConfigError listing what exists."""
  paths.add_gin_search_paths(with_mesh=True)
  candidates = [gin_file] + [
      os.path.join(p, gin_file) for p in gin.config._LOCATION_PREFIXES]  # pylint: disable=protected-access
  for c in candidates:
    if os.path.isfile(c):
      return c
  raise errors.ConfigError(errors.unknown_gin_file(gin_file))


def parse(gin_files, bindings=(), clear=True, finalize=False,
          skip_unknown=False):
  """Parses defaults.gin, then `gin_files`, then `bindings`.

  Args:
    gin_files: names relative to the search path, or paths.
    bindings: gin binding strings.
    clear: start from an empty gin config (gin.clear_config()).
    finalize: lock the config afterwards.
    skip_unknown: passed to gin.
  Raises:
    errors.ConfigError: a gin file is not found (the message lists configs).
  """
  import conv_t5.layers  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  if clear:
    gin.clear_config()
  files = [resolve("defaults.gin")] + [resolve(f) for f in gin_files]
  gin.parse_config_files_and_bindings(
      files, list(bindings), finalize_config=finalize,
      skip_unknown=skip_unknown)
