"""Where prepared data lives, chosen in gin or by environment variable."""

import os

import gin

DATA_DIR_ENV = "CONV_T5_DATA_DIR"


@gin.configurable(module="conv_t5")
def data_dir(path=None):
  """The directory holding the offline demo data and its vocabulary.

  Args:
    path: explicit directory; default: $CONV_T5_DATA_DIR, else
      ~/.cache/conv_t5/data. (`make` sets $CONV_T5_DATA_DIR to ./data.)
  Returns:
    an absolute path (it may not exist yet).
  """
  path = path or os.environ.get(DATA_DIR_ENV) or os.path.join(
      os.path.expanduser("~"), ".cache", "conv_t5", "data")
  return os.path.abspath(os.path.expanduser(path))


@gin.configurable(module="conv_t5")
def tfds_options(data_dir=None, download=False):
  """How the TFDS-backed tasks find their data.

  Args:
    data_dir: the TFDS data directory; default: TFDS's own ($TFDS_DATA_DIR or
      ~/tensorflow_datasets). t5's flag --t5_tfds_data_dir overrides both.
    download: False (default) reads only prepared data and fails at once with
      instructions when a dataset is missing; True lets TFDS download and
      prepare it on first use (needs the internet, can take hours for C4).
  Returns:
    (data_dir, download)
  """
  return data_dir, bool(download)
