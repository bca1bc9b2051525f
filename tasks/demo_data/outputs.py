"""What the demo-data build writes, and where: the sets, their labels and
splits, the file names, the builder's version and seed.

Into <data_dir>:

  demo/pretrain/{train,validation}.txt      pre-training corpus, a doc a line
  demo/<set>/{train,validation,test}.tsv    the fine-tuning sets (label, text)
  demo/same_sentiment/{train,validation,test}.tsv   the pair set (label,
                            first, second)
  demo/stats.json           sizes and token lengths under the 8k vocabulary
  demo/MANIFEST.json        sha256 of every file (written last: the stamp)
  spm/conv_t5_8k.{model,vocab}              the SentencePiece model
"""

import os

BUILDER_VERSION = 2
SEED = "conv_t5-demo-1"
DEMO_DIR = "demo"
SPM_PREFIX = os.path.join("spm", "conv_t5_8k")

SENTIMENT_LABELS = ("negative", "positive")
TOPICS = ("computers", "politics", "science", "work")  # fortunes topic files
# name -> (task input prefix, labels, per-class validation/test sizes, train cap)
FINETUNE_SETS = {
    "movie_sentiment": ("movie_sentiment sentence:", SENTIMENT_LABELS,
                        250, 500, 2000),
    "tweet_sentiment": ("tweet_sentiment tweet:", SENTIMENT_LABELS,
                        100, 200, 2000),
    "topic": ("topic quote:", TOPICS, 50, 100, 400),
}
# The two-sequence set of the cross-attention study (RQ4, pairs.py):
# name -> (task input prefix, labels, per-class validation/test sizes, train cap)
PAIR_SETS = {
    "same_sentiment": ("same_sentiment", ("same", "different"), 100, 200,
                       1000),
}
SPLITS = ("train", "validation", "test")
TSV_COLUMNS = ("label", "text")
PAIR_TSV_COLUMNS = ("label", "first", "second")


def split_path(name, split):
  ext = "txt" if name == "pretrain" else "tsv"
  return os.path.join(DEMO_DIR, name, f"{split}.{ext}")


def expected_files():
  """Relative paths of every checksummed output."""
  files = [split_path("pretrain", s) for s in ("train", "validation")]
  files += [split_path(n, s) for n in (*FINETUNE_SETS, *PAIR_SETS)
            for s in SPLITS]
  return files + [SPM_PREFIX + ".model", SPM_PREFIX + ".vocab",
                  os.path.join(DEMO_DIR, "stats.json")]


def paths(data_dir):
  """{"data_dir", "spm_model", "stats", "manifest", "pretrain": {split: path},
  "<set>": {split: path} for each fine-tuning set}."""
  out = {"data_dir": data_dir,
         "spm_model": os.path.join(data_dir, SPM_PREFIX + ".model"),
         "stats": os.path.join(data_dir, DEMO_DIR, "stats.json"),
         "manifest": os.path.join(data_dir, DEMO_DIR, "MANIFEST.json")}
  out["pretrain"] = {s: os.path.join(data_dir, split_path("pretrain", s))
                     for s in ("train", "validation")}
  for name in (*FINETUNE_SETS, *PAIR_SETS):
    out[name] = {s: os.path.join(data_dir, split_path(name, s))
                 for s in SPLITS}
  return out


def write_lines(path, lines):
  """Writes one line per item (no newline inside one) through a temp file."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8", newline="\n") as f:
    for line in lines:
      if "\n" in line or "\r" in line:
        raise ValueError(f"newline inside a line for {path}")
      f.write(line + "\n")
  os.replace(tmp, path)
