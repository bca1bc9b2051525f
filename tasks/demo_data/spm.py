"""The demo's 8k SentencePiece model, and token lengths under it.

Unigram, 8,000 pieces, T5's ids (pad 0, eos 1, unk 2, no bos), trained on the
pre-training corpus's train split; seeded, single-threaded and fed through an
iterator, so the same corpus gives the same model file wherever it is built.
`token_stats` measures what the demo tasks feed the model (demo/stats.json).
"""

import collections
import os
import statistics

from conv_t5.tasks.demo_data import outputs

SPM_VOCAB_SIZE = 8000
SPM_SEED = 20210501


def train(data_dir):
  """Trains the 8k SentencePiece model on the pre-training train split.

  The text goes in through an iterator and the model comes out through a
  writer, so the model file records no path (the trainer spec stores input
  and output paths otherwise) and is the same wherever it is built.
  """
  import io  # pylint: disable=g-import-not-at-top
  import sentencepiece  # pylint: disable=g-import-not-at-top
  path = os.path.join(data_dir, outputs.SPM_PREFIX + ".model")
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(os.path.join(data_dir, outputs.split_path("pretrain", "train")),
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
  outputs.write_lines(os.path.join(data_dir, outputs.SPM_PREFIX + ".vocab"),
                      [f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}"
                       for i in range(sp.get_piece_size())])
  return path


def pair_inputs(prefix, first, second):
  """A pair's input text, as the same_sentiment task builds it (tasks/demo.py
  joins the same pieces with spaces)."""
  return f"{prefix} first: {first} second: {second}"


def _summary(values):
  values = sorted(values)
  def pct(q):
    return values[min(len(values) - 1, int(q * len(values)))]
  return {"n": len(values), "min": values[0], "mean": round(statistics.mean(values), 1),
          "p50": pct(0.5), "p90": pct(0.9), "p95": pct(0.95), "p99": pct(0.99),
          "max": values[-1]}


def token_stats(model_path, finetune, pretrain_train, pair_sets=None):
  """Token lengths (with EOS) of what the demo tasks feed the model."""
  import sentencepiece  # pylint: disable=g-import-not-at-top
  sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
  def lengths(texts):
    return [len(ids) + 1 for ids in sp.encode(list(texts))]
  stats = {}
  for name, splits in finetune.items():
    prefix = outputs.FINETUNE_SETS[name][0]
    rows = [r for s in outputs.SPLITS for r in splits[s]]
    stats[name] = {
        "examples": {s: len(splits[s]) for s in outputs.SPLITS},
        "labels": {s: dict(sorted(collections.Counter(
            l for l, _ in splits[s]).items())) for s in outputs.SPLITS},
        "inputs_tokens": _summary(lengths(f"{prefix} {t}" for _, t in rows)),
        "targets_tokens": _summary(lengths(l for l, _ in rows)),
    }
  for name, splits in (pair_sets or {}).items():
    prefix = outputs.PAIR_SETS[name][0]
    rows = [r for s in outputs.SPLITS for r in splits[s]]
    stats[name] = {
        "examples": {s: len(splits[s]) for s in outputs.SPLITS},
        "labels": {s: dict(sorted(collections.Counter(
            r[0] for r in splits[s]).items())) for s in outputs.SPLITS},
        "inputs_tokens": _summary(lengths(
            pair_inputs(prefix, a, b) for _, a, b in rows)),
        "targets_tokens": _summary(lengths(r[0] for r in rows)),
    }
  stats["pretrain"] = {"train_docs_tokens": _summary(lengths(pretrain_train))}
  return stats


