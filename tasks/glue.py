"""GLUE, SQuAD v1.1 and MultiNLI against the TFDS versions installed here.

The tasks are t5's (same preprocessors, postprocessors and metrics), under
plain names that do not clash with t5's own registrations:

  glue_<config>      every GLUE config (glue/<config>:2.0.0); mixture `glue`
  squad_v11          SQuAD v1.1 (squad/v1.1:3.0.0), t5's `squad` format/metric
  mnli_matched       MultiNLI (multi_nli:1.1.0), validation = dev matched
  mnli_mismatched    MultiNLI (multi_nli:1.1.0), validation = dev mismatched

t5 itself pins glue/*:1.0.0 and c4/en:2.2.0, which current TFDS refuses to
generate. SQuAD and MultiNLI are the paper's failure-mode study (RQ4).
"""

import functools

import seqio
from t5.data import glue_utils
from t5.data import postprocessors
from t5.data import preprocessors
from t5.evaluation import metrics
import tensorflow_datasets as tfds

from conv_t5.tasks import sources
from conv_t5.tasks import vocab

GLUE_VERSION = "2.0.0"
SQUAD = "squad/v1.1:3.0.0"
MULTI_NLI = "multi_nli:1.1.0"
MNLI_LABELS = ("entailment", "neutral", "contradiction")

_GLUE_SPLITS = {
    "mnli": ("train", "validation_matched", "validation_mismatched",
             "test_matched", "test_mismatched"),
    "mnli_matched": ("validation", "test"),
    "mnli_mismatched": ("validation", "test"),
    "ax": ("test",),
}
_DEFAULT_SPLITS = ("train", "validation", "test")

_POST_TOKENIZE = [
    seqio.preprocessors.tokenize,
    seqio.CacheDatasetPlaceholder(),
    seqio.preprocessors.append_eos_after_trim,
]


def glue_task_name(config_name):
  return "glue_" + config_name.replace(".", "_")


for _b in tfds.text.glue.Glue.builder_configs.values():
  seqio.TaskRegistry.add(
      glue_task_name(_b.name),
      source=sources.TfdsSource(
          f"glue/{_b.name}:{GLUE_VERSION}",
          splits=_GLUE_SPLITS.get(_b.name, _DEFAULT_SPLITS)),
      preprocessors=[glue_utils.get_glue_text_preprocessor(_b)] + _POST_TOKENIZE,
      postprocess_fn=glue_utils.get_glue_postprocess_fn(_b),
      metric_fns=glue_utils.get_glue_metric(_b.name),
      output_features=vocab.OUTPUT_FEATURES)

# Proportional to the training-set sizes, as t5's glue_v002_proportional (which
# leaves out WNLI: T5 trains on WSC/DPR instead); eval-only tasks weigh 0.
GLUE_WEIGHTS = {
    glue_task_name(name[len("glue_"):-len("_v002")]): weight
    for name, weight in glue_utils.get_glue_weight_mapping().items()
}
seqio.MixtureRegistry.add("glue", list(GLUE_WEIGHTS.items()))

seqio.TaskRegistry.add(
    "squad_v11",
    source=sources.TfdsSource(SQUAD, splits=("train", "validation")),
    preprocessors=[preprocessors.squad] + _POST_TOKENIZE,
    postprocess_fn=postprocessors.qa,
    metric_fns=[metrics.squad],
    output_features=vocab.OUTPUT_FEATURES)


# t5's GLUE format, "mnli hypothesis: ... premise: ..." -> label name; the
# multi_nli features have no `idx`.
_MNLI_PREPROCESSOR = functools.partial(
    preprocessors.glue, benchmark_name="mnli", label_names=MNLI_LABELS,
    id_key=None)


for _name, _dev in (("mnli_matched", "validation_matched"),
                    ("mnli_mismatched", "validation_mismatched")):
  seqio.TaskRegistry.add(
      _name,
      source=sources.TfdsSource(
          MULTI_NLI, splits={"train": "train", "validation": _dev}),
      preprocessors=[_MNLI_PREPROCESSOR] + _POST_TOKENIZE,
      postprocess_fn=glue_utils.get_glue_postprocess_fn(
          tfds.text.glue.Glue.builder_configs["mnli"]),
      metric_fns=[metrics.accuracy],
      output_features=vocab.OUTPUT_FEATURES)
