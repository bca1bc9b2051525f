"""The two-sequence demo set of the cross-attention study (RQ4):
same_sentiment, "do these two movie sentences carry the same sentiment?".

Built from VADER's rated Rotten Tomatoes sentences that movie_sentiment does
not use (the pre-training corpus excludes every VADER movie sentence, so the
set shares no text with it). The answer depends on relating the two
sentences: each one's polarity alone says nothing about the label. Every
sentence has MIN_WORDS..MAX_WORDS words, so an input (two sentences and the
prefix) is longer than the receptive field of the demo's convolution
encoders (tests/tasks/test_tasks_demo_data.py checks it against the configs)
and fits the grid's fine-tuning length. A sentence is used at most once in
the whole set; each split is balanced over the four polarity combinations
(positive/positive and negative/negative: "same"; positive/negative and
negative/positive: "different"), so neither label nor either position's
polarity predicts the other; seeded.
"""

import random

from conv_t5.tasks.demo_data import finetune_sets
from conv_t5.tasks.demo_data import outputs

MIN_WORDS = 10
MAX_WORDS = 30


def _pool(vader, used):
  """{polarity: [text]} of the rated movie sentences not in `used`."""
  rows = finetune_sets.sentiment_items(vader["movies"])
  pool = {label: [] for label in outputs.SENTIMENT_LABELS}
  for label, text in rows:
    if text not in used and MIN_WORDS <= len(text.split()) <= MAX_WORDS:
      pool[label].append(text)
  return pool


def from_sources(vader, movie_sets):
  """{split: [(label, first, second)]} of same_sentiment.

  Args:
    vader: archives.read_vader's output.
    movie_sets: {split: [(label, text)]} of movie_sentiment (left out).
  Raises:
    ValueError: too few sentences for the recorded sizes.
  """
  name = "same_sentiment"
  _, (same, different), n_validation, n_test, train_cap = (
      outputs.PAIR_SETS[name])
  used = {t for rows in movie_sets.values() for _, t in rows}
  pool = _pool(vader, used)
  rng = random.Random(f"{outputs.SEED}:{name}")
  negative, positive = (pool[label] for label in outputs.SENTIMENT_LABELS)
  rng.shuffle(negative)
  rng.shuffle(positive)
  # A split of c pairs per label takes 2c sentences of each polarity:
  # c/2 pos/pos and c/2 neg/neg ("same"), c/2 pos/neg and c/2 neg/pos.
  n_train = min(train_cap, min(len(negative), len(positive)) // 2
                - n_validation - n_test) // 2 * 2
  if n_train <= 0:
    raise ValueError(f"{name}: too few sentences for the splits.")
  splits = {}
  for split, c in (("validation", n_validation), ("test", n_test),
                   ("train", n_train)):
    pos = [positive.pop() for _ in range(2 * c)]
    neg = [negative.pop() for _ in range(2 * c)]
    h = c // 2
    rows = [(same, pos[2 * i], pos[2 * i + 1]) for i in range(h)]
    rows += [(same, neg[2 * i], neg[2 * i + 1]) for i in range(h)]
    rows += [(different, pos[c + i], neg[c + i]) for i in range(h)]
    rows += [(different, neg[c + h + i], pos[c + h + i]) for i in range(h)]
    rng.shuffle(rows)
    splits[split] = rows
  return splits
