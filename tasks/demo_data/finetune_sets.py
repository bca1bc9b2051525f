"""The three fine-tuning sets of the demo, from human-rated sentences and
fortunes by topic (their names, labels and sizes: outputs.FINETUNE_SETS).

  movie_sentiment   VADER's Rotten Tomatoes sentences (SST-2-like)
  tweet_sentiment   VADER's tweets (Sentiment140-like)
  topic             fortunes quotes of four topic files (AG-News-like)

A sentence whose mean human valence is at least VALENCE_MIN in absolute value
is positive / negative (the rest, neutral, is dropped); duplicate texts are
dropped; every split is balanced per class and seeded.
"""

import collections
import random
import re

from conv_t5.tasks.demo_data import outputs

VALENCE_MIN = 0.5          # |mean human valence| below this counts as neutral
TOPIC_MAX_WORDS = 64       # longer quotes are left out of the topic set


def words(text):
  """The lower-cased words of a text (what overlap and duplicates compare)."""
  return re.findall(r"\w+", text.lower())


def _dedupe(items):
  """Keeps the first (label, text) of each text; drops texts seen twice with
  different labels."""
  labels = collections.defaultdict(set)
  for label, text in items:
    labels[" ".join(words(text))].add(label)
  seen, out = set(), []
  for label, text in items:
    key = " ".join(words(text))
    if key and key not in seen and len(labels[key]) == 1:
      seen.add(key)
      out.append((label, text))
  return out


def _stratified(name, items, labels, n_validation, n_test, train_cap):
  """Balanced seeded splits: per class n_validation, n_test, then train
  (the same count for every class, at most train_cap)."""
  rng = random.Random(f"{outputs.SEED}:{name}")
  by_label = {l: [t for lab, t in items if lab == l] for l in labels}
  for texts in by_label.values():
    rng.shuffle(texts)
  n_train = min(train_cap, min(len(t) for t in by_label.values())
                - n_validation - n_test)
  if n_train <= 0:
    raise ValueError(f"{name}: too few examples per class for the splits.")
  splits = {}
  for split, start, stop in (
      ("validation", 0, n_validation),
      ("test", n_validation, n_validation + n_test),
      ("train", n_validation + n_test, n_validation + n_test + n_train)):
    rows = [(l, t) for l in labels for t in by_label[l][start:stop]]
    rng.shuffle(rows)
    splits[split] = rows
  return splits


def sentiment_items(rows):
  """[(negative|positive, text)] of rated (id, valence, text) rows: neutral
  ones (|valence| < VALENCE_MIN) and duplicates dropped."""
  return _dedupe([(outputs.SENTIMENT_LABELS[v > 0], t) for _, v, t in rows
                  if abs(v) >= VALENCE_MIN and t])


def from_sources(vader, fortunes):
  """{set name: {split: [(label, text)]}} from the read sources."""
  items = {
      "movie_sentiment": sentiment_items(vader["movies"]),
      "tweet_sentiment": sentiment_items(vader["tweets"]),
      "topic": _dedupe([(topic, q) for topic in outputs.TOPICS
                        for q in fortunes[topic]
                        if len(q.split()) <= TOPIC_MAX_WORDS]),
  }
  return {name: _stratified(name, items[name], spec[1], *spec[2:])
          for name, spec in outputs.FINETUNE_SETS.items()}

