"""Where the package's gin configs, t5's and mesh-tensorflow's live on disk,
and the one function that puts them on gin's search path."""

import functools
import importlib.util
import os


@functools.lru_cache(maxsize=None)
def gin_dir():
  """The directory holding this package's gin configs (models/, objectives/...).

  Installed from a wheel it is conv_t5/gin; in a source checkout (editable
  install) it is the repository's top-level gin/ beside conv_t5/.
  """
  here = os.path.dirname(os.path.abspath(__file__))
  for candidate in (os.path.join(here, "gin"),
                    os.path.join(os.path.dirname(here), "gin")):
    if os.path.isdir(os.path.join(candidate, "models")):
      return candidate
  raise FileNotFoundError(
      f"conv_t5's gin directory is missing (looked beside {here}); reinstall "
      "the package (`make venv`, or `pip install --no-deps -e .`).")


@functools.lru_cache(maxsize=None)
def t5_gin_dir():
  """t5's own gin directory (t5/models/gin: models/t5.1.1.*.gin, dataset.gin...)."""
  spec = importlib.util.find_spec("t5.models")
  return os.path.join(list(spec.submodule_search_locations)[0], "gin")


def mesh_gin_dir():
  """mesh-tensorflow's gin directory (defaults.gin, layouts, ...)."""
  from mesh_tensorflow.transformer import utils  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(utils.__file__), "gin")


def gin_search_path():
  """Search path for gin includes: this package first, then t5's configs."""
  return [gin_dir(), t5_gin_dir()]


def add_gin_search_paths(with_mesh=False):
  """Puts gin_search_path() (then, with_mesh, mesh-tensorflow's gin
  directory) on gin's search path, each directory once.

  The one place the package does this: `import conv_t5.tasks` (so the t5 CLI
  finds `models/conv_dynamic.base.gin` by name), the CLI wrapper, the grid's
  profile parser and conv_t5.config (with_mesh, to find defaults.gin).
  """
  import gin  # pylint: disable=g-import-not-at-top
  dirs = gin_search_path() + ([mesh_gin_dir()] if with_mesh else [])
  for p in dirs:
    if p not in gin.config._LOCATION_PREFIXES:  # pylint: disable=protected-access
      gin.add_config_file_search_path(p)


def available_configs(prefix=""):
  """Relative paths of every gin file on the search path under `prefix`.

  Args:
    prefix: a sub-directory such as "models" or "" for all.
  Returns:
    a sorted list like ["models/conv_dynamic.base.gin", ...].
  """
  found = set()
  for root in gin_search_path():
    top = os.path.join(root, prefix)
    for dirpath, _, files in os.walk(top):
      for f in files:
        if f.endswith(".gin"):
          found.add(os.path.relpath(os.path.join(dirpath, f), root))
  return sorted(found)
