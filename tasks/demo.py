"""The offline demo tasks, on the files `make data` builds (tasks/demo_data/).

  demo_span_corruption   span corruption (mean span 3, 15% noise, as T5) on
                         the demo pre-training corpus; train / validation
  demo_movie_sentiment   Rotten Tomatoes sentences (SST-2-like):
                         negative / positive; accuracy
  demo_tweet_sentiment   tweets (Sentiment140-like): negative / positive;
                         accuracy
  demo_topic             fortunes quotes by topic (AG-News-like): computers /
                         politics / science / work; accuracy
  demo_same_sentiment    two movie sentences: same sentiment or different
                         (the cross-attention study, RQ4); accuracy
  demo_finetune          mixture of the three single-sentence tasks,
                         proportional to train size
  demo_multitask         the three and demo_same_sentiment (the demo grid)
  demo_multitask_small   demo_topic and demo_same_sentiment (the quick grid)

The fine-tuning tasks have train / validation / test splits. Targets are label
words; at eval t5's string_label_to_class_id maps targets and predictions to
class ids (an unknown prediction to -1) and t5's accuracy compares them.
The files are looked up in conv_t5.data_dir() when a dataset is requested.
"""

import functools
import os

import seqio
from t5.data import postprocessors
from t5.evaluation import metrics
import tensorflow as tf

from conv_t5 import errors
from conv_t5.tasks import config
from conv_t5.tasks import demo_data
from conv_t5.tasks import local
from conv_t5.tasks import sources
from conv_t5.tasks import vocab

FINETUNE_TASKS = {f"demo_{name}": name for name in demo_data.FINETUNE_SETS}


def demo_file(name, split):
  """The path of a built demo split; a clear error if it is not built."""
  path = os.path.join(config.data_dir(), demo_data.split_path(name, split))
  if not os.path.exists(path):
    raise errors.ConfigError(
        f"The demo data is not built: {path} is missing. Build it with "
        f"`make data` or `python -m conv_t5.tasks.demo_data --data_dir="
        f"{config.data_dir()}` (or set conv_t5.data_dir.path / "
        f"${config.DATA_DIR_ENV} to where it was built).")
  return path


@seqio.map_over_dataset
def to_text(x, prefix):
  """{'label', 'text'} -> {'inputs': '<prefix> <text>', 'targets': label}."""
  return {"inputs": tf.strings.join([prefix, x["text"]], separator=" "),
          "targets": x["label"]}


for _task, _name in FINETUNE_TASKS.items():
  _prefix, _labels = demo_data.FINETUNE_SETS[_name][:2]
  seqio.TaskRegistry.add(
      _task,
      source=sources.TsvSource(
          functools.partial(demo_file, _name), demo_data.SPLITS,
          demo_data.TSV_COLUMNS, header=True, allowed={"label": _labels}),
      preprocessors=[
          functools.partial(to_text, prefix=_prefix),
          seqio.preprocessors.tokenize,
          seqio.CacheDatasetPlaceholder(),
          seqio.preprocessors.append_eos_after_trim,
      ],
      postprocess_fn=functools.partial(
          postprocessors.string_label_to_class_id, label_classes=list(_labels)),
      metric_fns=[metrics.accuracy],
      output_features=vocab.OUTPUT_FEATURES)

PAIR_TASKS = {f"demo_{name}": name for name in demo_data.PAIR_SETS}


@seqio.map_over_dataset
def pair_to_text(x, prefix):
  """{'label', 'first', 'second'} ->
  {'inputs': '<prefix> first: <first> second: <second>', 'targets': label}
  (the text tasks/demo_data/spm.pair_inputs measures)."""
  return {"inputs": tf.strings.join(
      [prefix, "first:", x["first"], "second:", x["second"]], separator=" "),
          "targets": x["label"]}


for _task, _name in PAIR_TASKS.items():
  _prefix, _labels = demo_data.PAIR_SETS[_name][:2]
  seqio.TaskRegistry.add(
      _task,
      source=sources.TsvSource(
          functools.partial(demo_file, _name), demo_data.SPLITS,
          demo_data.PAIR_TSV_COLUMNS, header=True,
          allowed={"label": _labels}),
      preprocessors=[
          functools.partial(pair_to_text, prefix=_prefix),
          seqio.preprocessors.tokenize,
          seqio.CacheDatasetPlaceholder(),
          seqio.preprocessors.append_eos_after_trim,
      ],
      postprocess_fn=functools.partial(
          postprocessors.string_label_to_class_id, label_classes=list(_labels)),
      metric_fns=[metrics.accuracy],
      output_features=vocab.OUTPUT_FEATURES)

seqio.MixtureRegistry.add(
    "demo_finetune", list(FINETUNE_TASKS),
    default_rate=seqio.mixing_rate_num_examples)

# What the demo grid fine-tunes on: the three single-sentence tasks and the
# pair task in one mixture, proportional to their training examples.
seqio.MixtureRegistry.add(
    "demo_multitask", list(FINETUNE_TASKS) + list(PAIR_TASKS),
    default_rate=seqio.mixing_rate_num_examples)
# The smallest mixture with both kinds of task, for `make demo-quick` and tests
# (its validation and test sets decode fastest).
seqio.MixtureRegistry.add(
    "demo_multitask_small", ["demo_topic"] + list(PAIR_TASKS),
    default_rate=seqio.mixing_rate_num_examples)


def _pretrain_dataset(split, shuffle_files=False, seed=None):
  return sources.text_line_dataset([demo_file("pretrain", split)],
                                   shuffle_files=shuffle_files, seed=seed)


seqio.TaskRegistry.add(
    "demo_span_corruption",
    source=seqio.FunctionDataSource(_pretrain_dataset,
                                    splits=("train", "validation")),
    preprocessors=local.SPAN_CORRUPTION_PREPROCESSORS,
    output_features=vocab.OUTPUT_FEATURES,
    metric_fns=[])
