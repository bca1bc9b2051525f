"""Span corruption (T5's objective) on local text files named in gin.

    --gin_param="conv_t5.local_text_files.patterns = {'train': '/data/*.txt',
                                                      'validation': '/data/v.txt'}"
    --gin_param="MIXTURE_NAME = 'local_text_span_corruption'"

Each line of a file is one document.
"""

import functools

import gin
import seqio
from t5.data import preprocessors
import tensorflow as tf

from conv_t5 import errors
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
  ds = tf.data.Dataset.from_tensor_slices(sorted(files))
  if shuffle_files:
    ds = ds.shuffle(len(files), seed=seed)
  ds = ds.interleave(tf.data.TextLineDataset, cycle_length=1)
  ds = ds.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)
  return ds.map(lambda line: {"text": line})


SPAN_CORRUPTION_PREPROCESSORS = [
    functools.partial(preprocessors.rekey,
                      key_map={"inputs": None, "targets": "text"}),
    seqio.preprocessors.tokenize,
    seqio.CacheDatasetPlaceholder(),
    preprocessors.span_corruption,  # mean span 3, 15% noise, as T5
    seqio.preprocessors.append_eos_after_trim,
]

seqio.TaskRegistry.add(
    "local_text_span_corruption",
    source=seqio.FunctionDataSource(
        _local_text_dataset, splits=("train", "validation", "test")),
    preprocessors=SPAN_CORRUPTION_PREPROCESSORS,
    output_features=vocab.OUTPUT_FEATURES,
    metric_fns=[])
