"""Span corruption (T5's objective) on local text files named in gin.

    --gin_param="conv_t5.local_text_files.patterns = {'train': '/data/*.txt',
                                                      'validation': '/data/v.txt'}"
    --gin_param="MIXTURE_NAME = 'local_text_span_corruption'"

Each line of a file is one document; blank lines are skipped; a line that is
not UTF-8 stops the run with its file and line number.
"""

import functools

import gin
import seqio
from t5.data import preprocessors

from conv_t5 import errors
from conv_t5.tasks import sources
from conv_t5.tasks import vocab


@gin.configurable(module="conv_t5")
def local_text_files(patterns=None):
  """Split -> file pattern of the local pre-training text (one doc per line)."""
  if not patterns:
    raise errors.ConfigError(
        "No local text files are configured for local_text_span_corruption: "
        "set --gin_param=\"conv_t5.local_text_files.patterns = "
        "{'train': '/path/to/*.txt'}\".")
  return dict(patterns)


def _local_text_dataset(split, shuffle_files=False, seed=None):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  patterns = local_text_files()
  if split not in patterns:
    raise errors.ConfigError(
        f"conv_t5.local_text_files.patterns has no {split!r} split "
        f"(it has {sorted(patterns)}); add one.")
  files = tf.io.gfile.glob(patterns[split])
  if not files:
    raise errors.ConfigError(
        f"conv_t5.local_text_files.patterns[{split!r}] = "
        f"{patterns[split]!r} matches no file.")
  return sources.text_line_dataset(files, shuffle_files=shuffle_files,
                                   seed=seed)


# T5's final pre-training objective (Raffel et al. 2019), as t5 registers it for
# C4: mean span 3, 15% noise (span_corruption's defaults).
SPAN_CORRUPTION_PREPROCESSORS = [
    functools.partial(preprocessors.rekey,
                      key_map={"inputs": None, "targets": "text"}),
    seqio.preprocessors.tokenize,
    seqio.CacheDatasetPlaceholder(),
    preprocessors.span_corruption,
    seqio.preprocessors.append_eos_after_trim,
]

seqio.TaskRegistry.add(
    "local_text_span_corruption",
    source=seqio.FunctionDataSource(
        _local_text_dataset, splits=("train", "validation", "test")),
    preprocessors=SPAN_CORRUPTION_PREPROCESSORS,
    output_features=vocab.OUTPUT_FEATURES,
    metric_fns=[])
