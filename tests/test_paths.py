"""conv_t5.paths: where the gin files are, and the one function that puts them
on gin's search path."""

import os

import gin

from conv_t5 import paths


def test_gin_search_paths_are_added_once_in_order():
  paths.add_gin_search_paths()
  paths.add_gin_search_paths(with_mesh=True)
  prefixes = gin.config._LOCATION_PREFIXES  # pylint: disable=protected-access
  ours = paths.gin_search_path() + [paths.mesh_gin_dir()]
  assert all(prefixes.count(p) == 1 for p in ours)
  assert [p for p in prefixes if p in ours] == ours


def test_the_package_and_t5_gin_dirs():
  assert os.path.isfile(os.path.join(paths.gin_dir(), "models",
                                     "conv_dynamic.base.gin"))
  assert os.path.isfile(os.path.join(paths.t5_gin_dir(), "dataset.gin"))
  assert os.path.isfile(os.path.join(paths.mesh_gin_dir(), "defaults.gin"))
  assert "models/conv_dilated.tiny.gin" in paths.available_configs("models")
