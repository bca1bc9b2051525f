"""Where the package's gin configs and t5's own gin configs live on disk."""

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


def gin_search_path():
  """Search path for gin includes: this package first, then t5's configs."""
  return [gin_dir(), t5_gin_dir()]


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
