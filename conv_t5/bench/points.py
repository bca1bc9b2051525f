"""The benchmark's points: workloads, shapes, labels, and the decoding grid.

A point is one (model, size, workload, shape). Its shape is what makes it
bigger: the length L for the training workloads A and B (the batch is
tokens / L), and (batch B, input length Li, target length T) for greedy
decoding D and teacher-forced scoring S (`decode`). A point is "at most"
another when every coordinate of its shape is: a model that ran out of
memory at a point is not run at any point it is at most, and the largest
peak of the points at most a point is its memory estimate.
"""

from conv_t5.bench import models

TRAINING = ("A", "B")
DECODING = ("D", "S")      # greedy decoding, teacher-forced scoring
WORKLOADS = TRAINING + DECODING
NAMES = {"A": "training, targets of --target_len tokens",
         "B": "training, inputs and targets of length L",
         "D": "greedy decoding", "S": "teacher-forced scoring"}


def decode_point(model, size, workload, batch, seq_len, target_len,
                 vocab_size):
  """A decoding (D) or scoring (S) point: B rows, Li inputs, T targets."""
  if workload not in DECODING:
    raise ValueError(f"not a decoding workload: {workload!r}")
  return dict(model=model, size=size, workload=workload, seq_len=seq_len,
              batch=batch, vocab_size=vocab_size, target_len=target_len,
              tokens_per_microbatch=None)


def decode_grid(batches, input_lengths, target_lengths):
  """(B, Li, T) in the order they run: every point after all those it is
  larger than (so an out-of-memory point can skip the larger ones)."""
  return [(b, li, t) for b in sorted(batches) for li in sorted(input_lengths)
          for t in sorted(target_lengths)]


def shape(p):
  """The coordinates that grow a point's cost (a point or a record)."""
  if p["workload"] in DECODING:
    return (p["batch"], p["seq_len"], p["target_len"])
  return (p["seq_len"],)


def at_most(a, b):
  """Whether point a is no larger than point b in every coordinate."""
  return (a["workload"] == b["workload"] and a["size"] == b["size"] and
          all(x <= y for x, y in zip(shape(a), shape(b))))


def label(p):
  """'A L=512', or 'D B=16 Li=512 T=64' (a point or a record)."""
  if p["workload"] in DECODING:
    return (f"{p['workload']} B={p['batch']} Li={p['seq_len']} "
            f"T={p['target_len']}")
  return f"{p['workload']} L={p['seq_len']}"


def file_stem(p):
  """A worker's log name: unique per (size, workload, shape, model)."""
  return "_".join([p["size"], p["workload"]] +
                  [str(x) for x in shape(p)] + [p["model"]])


def worker_module(workload):
  """The module whose `serve` builds and times a point of the workload."""
  return ("conv_t5.bench.decode" if workload in DECODING
          else "conv_t5.bench.step")


def _list(text):
  return [x.strip() for x in str(text).split(",") if x.strip()]


def parse_decode_flags(args, error):
  """Parses the decoding grid's flags (--decode_*) of `args` in place.

  Args:
    args: the parsed command line; --models already a list.
    error: called with a message for a bad flag (argparse's parser.error).
  """
  if args.decode_models == "all":
    args.decode_models = list(args.models)
  else:
    args.decode_models = _list(args.decode_models)
    unknown = [m for m in args.decode_models if m not in models.NAMES]
    if unknown:
      error(f"--decode_models: unknown {unknown}; allowed: "
            f"{', '.join(models.NAMES)}")
  for key in ("decode_batches", "decode_lengths", "decode_targets"):
    try:
      values = [int(x) for x in _list(getattr(args, key))]
    except ValueError:
      values = [0]
    if any(v < 1 for v in values) or (
        not values and set(args.workloads) & set(DECODING)):
      error(f"--{key}: {getattr(args, key)!r} is not a list of positive "
            "integers")
    setattr(args, key, values)
