"""The two-sequence demo set of RQ4 (tasks/demo_data/pairs.py): balanced over
the four polarity combinations, a sentence used once, no text shared with
movie_sentiment or the pre-training corpus, inputs longer than the demo
convolutions' receptive field; and its task (tasks/demo.py). Its files are in
the recorded checksums with the rest (test_tasks_demo_data.py)."""

import collections
import json
import re

import gin
import pytest
import seqio
import tensorflow_datasets as tfds

from conv_t5 import config
from conv_t5.experiments import spec as spec_lib
from conv_t5.tasks import demo_data
from conv_t5.tasks.demo_data import archives
from conv_t5.tasks.demo_data import finetune_sets
from conv_t5.tasks.demo_data import outputs
from conv_t5.tasks.demo_data import pairs
from test_tasks_demo_data import build_for_tests
from test_tasks_demo_data import raw_dir_for_tests

NAME = "same_sentiment"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  return build_for_tests(tmp_path_factory)


@pytest.fixture(scope="module")
def polarity(tmp_path_factory):
  """{movie sentence: negative|positive}, from VADER's ratings."""
  found = archives.fetch(raw_dir_for_tests(tmp_path_factory))
  rows = archives.read_vader(found["vader"])["movies"]
  return {t: label for label, t in finetune_sets.sentiment_items(rows)}


def read_pairs(path):
  with open(path, encoding="utf-8") as f:
    lines = f.read().split("\n")
  assert lines[0] == "label\tfirst\tsecond" and lines[-1] == ""
  return [tuple(line.split("\t")) for line in lines[1:-1]]


def test_splits_are_balanced_over_the_four_polarity_combinations(built,
                                                                 polarity):
  _, (same, different), n_val, n_test, cap = outputs.PAIR_SETS[NAME]
  with open(built["stats"]) as f:
    stats = json.load(f)[NAME]
  for split in demo_data.SPLITS:
    rows = read_pairs(built[NAME][split])
    combos = collections.Counter(
        (label, polarity[a], polarity[b]) for label, a, b in rows)
    c = {"validation": n_val, "test": n_test}.get(split, len(rows) // 2)
    assert combos == {
        (same, "positive", "positive"): c // 2,
        (same, "negative", "negative"): c // 2,
        (different, "positive", "negative"): c // 2,
        (different, "negative", "positive"): c // 2}, split
    assert stats["examples"][split] == len(rows) == 2 * c
  assert 0 < stats["examples"]["train"] <= 2 * cap


def test_every_sentence_is_used_once_and_never_by_movie_sentiment(built):
  sentences = [s for split in demo_data.SPLITS
               for _, a, b in read_pairs(built[NAME][split]) for s in (a, b)]
  assert len(set(sentences)) == len(sentences)
  movie = {t for split in demo_data.SPLITS
           for _, t in (line.split("\t") for line in open(
               built["movie_sentiment"][split], encoding="utf-8")
               .read().splitlines()[1:])}
  assert not movie & set(sentences)
  assert all(pairs.MIN_WORDS <= len(s.split()) <= pairs.MAX_WORDS
             for s in sentences)


def test_no_text_is_shared_with_the_pretraining_corpus(built):
  def ngrams(text, n=8):
    w = re.findall(r"\w+", text.lower())
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}
  forbidden = set()
  for split in demo_data.SPLITS:
    for _, a, b in read_pairs(built[NAME][split]):
      forbidden |= ngrams(a) | ngrams(b)
  assert len(forbidden) > 10000
  for split in ("train", "validation"):
    with open(built["pretrain"][split], encoding="utf-8") as f:
      for doc in f.read().splitlines():
        assert not forbidden & ngrams(doc), doc[:80]


def _receptive_field(arch):
  """Positions one encoder output can see in the demo's model of `arch`:
  1 + sum over encoder blocks of r (K - 1)."""
  spec = spec_lib.spec_from_gin(["demo/default.gin"])
  config.parse([spec.model_gin.format(arch=arch), *spec.model_overrides,
                "cpu.gin"])
  layer = {"conv_lightweight": "LightweightConvolution",
           "conv_dynamic": "DynamicConvolution",
           "conv_dilated": "DilatedConvolution"}[arch]
  blocks = gin.query_parameter("%num_layers")
  widths = gin.query_parameter(f"conv_t5.{layer}.kernel_width")
  rates = gin.query_parameter(f"conv_t5.{layer}.dilation")
  widths = widths if isinstance(widths, (list, tuple)) else [widths] * blocks
  rates = rates if isinstance(rates, (list, tuple)) else [rates] * blocks
  gin.clear_config()
  return 1 + sum(r * (k - 1) for k, r in zip(widths, rates))


def test_every_input_is_longer_than_the_receptive_field_and_fits(built):
  fields = {a: _receptive_field(a) for a in
            ("conv_lightweight", "conv_dynamic", "conv_dilated")}
  assert fields == {"conv_lightweight": 13, "conv_dynamic": 13,
                    "conv_dilated": 19}
  with open(built["stats"]) as f:
    tokens = json.load(f)[NAME]["inputs_tokens"]
  assert tokens["min"] > max(fields.values())
  spec = spec_lib.spec_from_gin(["demo/default.gin"])
  assert tokens["max"] <= spec.finetune_sequence_length["inputs"]


def test_the_task_feeds_the_files_as_text(built, monkeypatch):
  monkeypatch.setenv("CONV_T5_DATA_DIR", built["data_dir"])
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  rows = read_pairs(built[NAME]["test"])
  task = seqio.get_mixture_or_task(f"demo_{NAME}")
  assert tuple(task.splits) == demo_data.SPLITS
  ds = task.get_dataset({"inputs": 128, "targets": 4}, split="test",
                        shuffle=False)
  got = [(ex["targets_pretokenized"].decode(),
          ex["inputs_pretokenized"].decode()) for ex in tfds.as_numpy(ds)]
  prefix = outputs.PAIR_SETS[NAME][0]
  assert got == [(label, f"{prefix} first: {a} second: {b}")
                 for label, a, b in rows]
  mixture = seqio.get_mixture_or_task("demo_multitask")
  assert sorted(t.name for t in mixture.tasks) == sorted(
      ["demo_movie_sentiment", "demo_tweet_sentiment", "demo_topic",
       f"demo_{NAME}"])
  small = seqio.get_mixture_or_task("demo_multitask_small")
  assert sorted(t.name for t in small.tasks) == ["demo_same_sentiment",
                                                 "demo_topic"]
