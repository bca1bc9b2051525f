"""The paper's fine-tuning sets as text-to-text tasks (Tay et al. 2021, Sec. 4).

  task                 source (TFDS unless noted)              targets / metric
  civil_comments       civil_comments/CivilComments:1.2.4      toxic if toxicity >= 0.5;
                                                               F1, accuracy
  wikipedia_toxicity   wikipedia_toxicity_subtypes/EnglishSubtypes:0.3.1   as above
  imdb_reviews         imdb_reviews/plain_text:1.0.0           negative/positive; accuracy
  (SST-2: glue_sst2 in glue.py)
  sentiment140         sentiment140:1.0.0 (neutral tweets      negative/positive; accuracy
                       dropped)
  ag_news              ag_news_subset:1.0.0                    World/Sports/Business/
                                                               Sci/Tech; accuracy
  trec_coarse          trec:1.0.0, label-coarse                6 classes; accuracy
  trec_fine            trec:1.0.0, label-fine                  47 classes; accuracy
  cfq_<split>          cfq/<split>:1.2.0 (mcd1..3, random_split)    SPARQL; exact match
  cogs                 COGS TSV release, directory set in gin  logical form; exact match

Sets without a validation split hold out the last examples of train (TFDS
slicing, deterministic); `test` is always the official test split.
Classification targets are label words; at eval t5's string_label_to_class_id
turns them (and the predictions) into class ids, an unknown word into -1.
"""

import functools
import os

import gin
import seqio
from t5.data import postprocessors
from t5.evaluation import metrics
import tensorflow as tf
from tensorflow_datasets.datasets.trec import trec_dataset_builder as _trec

from conv_t5 import errors
from conv_t5.tasks import sources
from conv_t5.tasks import vocab

TOXICITY_LABELS = ("non-toxic", "toxic")
TOXICITY_THRESHOLD = 0.5
SENTIMENT_LABELS = ("negative", "positive")
AG_NEWS_LABELS = ("World", "Sports", "Business", "Sci/Tech")
CFQ_SPLITS = ("mcd1", "mcd2", "mcd3", "random_split")
COGS_FILES = {"train": "train.tsv", "validation": "dev.tsv",
              "test": "test.tsv", "gen": "gen.tsv"}
COGS_COLUMNS = ("sentence", "logical_form", "category")

_POST_TOKENIZE = [
    seqio.preprocessors.tokenize,
    seqio.CacheDatasetPlaceholder(),
    seqio.preprocessors.append_eos_after_trim,
]


def _held_out(n):
  """Splits for a TFDS set with train/test only: last n train -> validation."""
  return {"train": f"train[:-{n}]", "validation": f"train[-{n}:]",
          "test": "test"}


def _clean(text):
  text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
  return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


def _join(benchmark, fields):
  """'<benchmark> <name>: <text> <name>: <text>' as t5's GLUE tasks."""
  parts = [benchmark]
  for name, text in fields:
    parts += [name + ":", _clean(text)]
  return tf.strings.join(parts, separator=" ")


def _label_classes(labels):
  return functools.partial(postprocessors.string_label_to_class_id,
                           label_classes=list(labels))


@seqio.map_over_dataset
def toxicity(x, benchmark):
  """Civil Comments / Wikipedia toxicity: toxic iff the score >= 0.5."""
  toxic = tf.cast(x["toxicity"] >= TOXICITY_THRESHOLD, tf.int32)
  return {"inputs": _join(benchmark, [("comment", x["text"])]),
          "targets": tf.gather(TOXICITY_LABELS, toxic)}


@seqio.map_over_dataset
def classification(x, benchmark, text_features, label_feature, labels):
  """Text fields and a ClassLabel id -> '<benchmark> f: ...' and a label word.

  Args:
    x: an example.
    benchmark: the task prefix.
    text_features: ((shown name, feature key), ...).
    label_feature: the ClassLabel feature's key.
    labels: the label words, indexed by class id.
  """
  return {"inputs": _join(benchmark, [(n, x[k]) for n, k in text_features]),
          "targets": tf.gather(list(labels), x[label_feature])}


def sentiment140(dataset):
  """Polarity 0 -> negative, 4 -> positive; neutral (2) tweets are dropped."""
  dataset = dataset.filter(
      lambda x: tf.logical_or(tf.equal(x["polarity"], 0),
                              tf.equal(x["polarity"], 4)))
  return dataset.map(
      lambda x: {"inputs": _join("sentiment140", [("tweet", x["text"])]),
                 "targets": tf.gather(SENTIMENT_LABELS, x["polarity"] // 4)},
      num_parallel_calls=tf.data.AUTOTUNE)


@seqio.map_over_dataset
def cfq(x):
  """Question -> SPARQL; braces become OB/CB (T5's vocabulary has none)."""
  query = tf.strings.regex_replace(x["query"], "{", " OB ")
  query = tf.strings.regex_replace(query, "}", " CB ")
  query = tf.strings.strip(tf.strings.regex_replace(query, r"\s+", " "))
  return {"inputs": _join("cfq", [("question", x["question"])]),
          "targets": query}


@seqio.map_over_dataset
def cogs(x):
  return {"inputs": _join("cogs", [("sentence", x["sentence"])]),
          "targets": x["logical_form"]}


def _add(name, source, preprocessor, metric_fns, postprocess_fn=None):
  seqio.TaskRegistry.add(
      name, source=source, preprocessors=[preprocessor] + _POST_TOKENIZE,
      postprocess_fn=postprocess_fn, metric_fns=metric_fns,
      output_features=vocab.OUTPUT_FEATURES)


_TOXICITY_METRICS = [metrics.f1_score_with_invalid, metrics.accuracy]

_add("civil_comments",
     sources.TfdsSource("civil_comments/CivilComments:1.2.4",
                        splits=("train", "validation", "test")),
     functools.partial(toxicity, benchmark="civil_comments"),
     _TOXICITY_METRICS, _label_classes(TOXICITY_LABELS))

_add("wikipedia_toxicity",
     sources.TfdsSource("wikipedia_toxicity_subtypes/EnglishSubtypes:0.3.1",
                        splits=_held_out(2000)),
     functools.partial(toxicity, benchmark="wikipedia_toxicity"),
     _TOXICITY_METRICS, _label_classes(TOXICITY_LABELS))

_add("imdb_reviews",
     sources.TfdsSource("imdb_reviews/plain_text:1.0.0", splits=_held_out(1000)),
     functools.partial(classification, benchmark="imdb",
                       text_features=[("review", "text")],
                       label_feature="label", labels=SENTIMENT_LABELS),
     [metrics.accuracy], _label_classes(SENTIMENT_LABELS))

_add("sentiment140",
     sources.TfdsSource("sentiment140:1.0.0", splits=_held_out(2000)),
     sentiment140, [metrics.accuracy], _label_classes(SENTIMENT_LABELS))

_add("ag_news",
     sources.TfdsSource("ag_news_subset:1.0.0", splits=_held_out(2000)),
     functools.partial(classification, benchmark="ag_news",
                       text_features=[("title", "title"),
                                      ("description", "description")],
                       label_feature="label", labels=AG_NEWS_LABELS),
     [metrics.accuracy], _label_classes(AG_NEWS_LABELS))


# TREC's label names in TFDS's class-id order (the builder's own constants).
TREC_LABELS = {"coarse": tuple(_trec._COARSE_LABELS),  # pylint: disable=protected-access
               "fine": tuple(_trec._FINE_LABELS)}  # pylint: disable=protected-access

for _granularity in ("coarse", "fine"):
  _labels = TREC_LABELS[_granularity]
  _add(f"trec_{_granularity}",
       sources.TfdsSource("trec:1.0.0", splits=_held_out(500)),
       functools.partial(classification, benchmark="trec",
                         text_features=[("question", "text")],
                         label_feature=f"label-{_granularity}", labels=_labels),
       [metrics.accuracy], _label_classes(_labels))

for _split in CFQ_SPLITS:
  _add(f"cfq_{_split}",
       sources.TfdsSource(f"cfq/{_split}:1.2.0",
                          splits=("train", "validation", "test")),
       cfq, [metrics.sequence_accuracy])


@gin.configurable(module="conv_t5")
def cogs_data(path=None):
  """The directory of the COGS release (train.tsv, dev.tsv, test.tsv, gen.tsv).

  Each line: sentence <TAB> logical form <TAB> distribution/generalisation type
  (github.com/najoungkim/COGS, folder data/). Set with
  --gin_param="conv_t5.cogs_data.path = '/path/to/COGS/data'".
  """
  if not path:
    raise errors.ConfigError(
        "The cogs task needs the COGS release: clone "
        "github.com/najoungkim/COGS and set --gin_param=\"conv_t5.cogs_data."
        "path = '/path/to/COGS/data'\" (the folder holding train.tsv).")
  return path


def cogs_file(split):
  path = os.path.join(cogs_data(), COGS_FILES[split])
  if not tf.io.gfile.exists(path):
    raise errors.ConfigError(
        f"COGS split {split!r} expects {path}, which does not exist; check "
        "conv_t5.cogs_data.path.")
  return path


_add("cogs",
     sources.TsvSource(cogs_file, tuple(COGS_FILES), COGS_COLUMNS, header=False),
     cogs, [metrics.sequence_accuracy])
