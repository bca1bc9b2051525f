"""Vocabularies: one SentencePiece vocabulary whose model file is chosen in gin.

Every conv_t5 task uses `VOCABULARY`. Which model file it reads is decided when
it is first used, by the gin parameter `conv_t5.vocabulary_model.path`:

  "offline" (default)  the 8k model trained on the offline pre-training corpus
                       (built by `make data` into the data directory);
  "t5"                 T5's default 32k model, gs://t5-data/vocabs/cc_all.32000
                       (for TPU runs; needs GCS access);
  "seqio_test"         seqio's 26-piece test model (unit tests only);
  any other string     a path to a SentencePiece .model file (local or gs://).
"""

import os

import gin
import seqio

from conv_t5 import errors
from conv_t5.tasks import config

T5_DEFAULT_SPM = "gs://t5-data/vocabs/cc_all.32000/sentencepiece.model"
OFFLINE_SPM_NAME = os.path.join("spm", "conv_t5_8k.model")
EXTRA_IDS = 100  # sentinels for span corruption, as T5


class VocabularyNotBuiltError(errors.ConfigError, FileNotFoundError):
  """The offline vocabulary is not in the data directory (`make data`).

  A ConfigError, so the command line prints its message and exits with
  status 2; still a FileNotFoundError for callers that catch that.
  """


@gin.configurable(module="conv_t5")
def vocabulary_model(path="offline"):
  """Resolves the gin choice of SentencePiece model to a file path."""
  if path == "t5":
    return T5_DEFAULT_SPM
  if path == "seqio_test":
    from seqio import test_utils  # pylint: disable=g-import-not-at-top
    return os.path.join(test_utils.TEST_DATA_DIR, "sentencepiece",
                        "sentencepiece.model")
  if path == "offline":
    resolved = os.path.join(config.data_dir(), OFFLINE_SPM_NAME)
    if not os.path.exists(resolved):
      raise VocabularyNotBuiltError(
          f"The offline vocabulary {resolved} is not built yet. Build the demo "
          "data with `make data` (or `python -m conv_t5.tasks.demo_data "
          f"--data_dir={config.data_dir()}`), or choose another vocabulary "
          "with --gin_param=\"conv_t5.vocabulary_model.path = 't5'\".")
    return resolved
  return path


class ConfiguredVocabulary(seqio.SentencePieceVocabulary):
  """A SentencePieceVocabulary whose model file comes from gin at first use.

  The file is looked up again on each load, so a process that changes the gin
  binding (tests, notebooks) never keeps a stale model.
  """

  def __init__(self, extra_ids=EXTRA_IDS):
    self._loaded_from = None
    super().__init__(sentencepiece_model_file="", extra_ids=extra_ids)

  @property
  def _sentencepiece_model_file(self):
    return vocabulary_model()

  @_sentencepiece_model_file.setter
  def _sentencepiece_model_file(self, unused_value):
    pass

  def _model_context(self):
    path = self._sentencepiece_model_file
    if self._model is not None and self._loaded_from != path:
      self._model = None
    self._loaded_from = path
    return super()._model_context()

  def __getstate__(self):
    state = super().__getstate__()
    state.pop("_loaded_from", None)
    return state

  def __setstate__(self, state):
    super().__setstate__(state)
    self._loaded_from = None


VOCABULARY = ConfiguredVocabulary()

OUTPUT_FEATURES = {
    "inputs": seqio.Feature(vocabulary=VOCABULARY, add_eos=True, required=False),
    "targets": seqio.Feature(vocabulary=VOCABULARY, add_eos=True),
}
