"""Benchmark: training speed, peak memory and FLOPs against sequence length.

    python -m conv_t5.bench                      # what `make bench` runs
    python -m conv_t5.bench --quick              # tiny models, a few minutes
    python -m conv_t5.bench --lengths 512,4096 --workloads A --reps 5
    python -m conv_t5.bench --workloads D,S --decode_targets 64,256,1024

For each size, workload, length L and model (the Transformer, our three
convolutions, the authors' two Mesh-TF convolution layers and ours as
converted from their checkpoints; see `models`), one worker process builds
the t5 pipeline's training step (`step`) at a fixed number of input tokens
per batch (batch = tokens / L). Workloads D and S (`decode`) time greedy
decoding of exactly T target tokens and teacher-forced scoring of T target
tokens instead, for each batch B, input length Li and T of the decoding grid
(--decode_*). The models of one (workload, shape) are
interleaved: their workers are built and warmed up, then every repetition
times one step of each in turn, the order rotating (as many workers at once
as memory allows, see `group`). A worker's peak RSS is the point's peak memory; a worker that
would exceed the memory budget is killed and the point recorded as missing
("oom"), the run goes on. Then `core` times our depthwise core against
tf.nn.depthwise_conv2d.

Writes <out_dir>/bench.json (metadata, one record per model / workload /
shape, the core microbenchmark, the targets), bench.md, bench.png (training)
and bench_decode.png (decoding and scoring against T), and prints the JSON's
path last. Before it, stdout gets progress line by line as it happens,
also into a pipe or a file: each group with an estimate of the time left,
each model's build and warm-up, each timing repetition, the group's results.
"""

import argparse
import json
import os
import signal
import sys
import time

import numpy as np

from conv_t5 import files
from conv_t5 import machine
from conv_t5.bench import group
from conv_t5.bench import decode_report
from conv_t5.bench import models
from conv_t5.bench import points
from conv_t5.bench import proc
from conv_t5.bench import report

DEFAULTS = dict(
    sizes="small", workloads="A,B,D,S",
    lengths="256,512,1024,2048,4096,8192",
    lengths_b="1024", authors_lengths="512,4096",
    models=",".join(models.NAMES), reps=3, warmup=1,
    tokens_per_batch=8192, tokens_per_microbatch=2048, target_len=32,
    vocab_size=32128,
    core_shapes="16x512x512x8x7,2x4096x512x8x7,16x512x512x512x7",
    core_reps=5, decode_batches="16", decode_lengths="512",
    decode_targets="64,256,1024", decode_models=",".join(["transformer"] +
                                                    models.OURS))
QUICK = dict(
    sizes="tiny", workloads="A,B,D,S", lengths="128", lengths_b="64",
    authors_lengths="128", reps=2, warmup=1,
    tokens_per_batch=256, tokens_per_microbatch=128, target_len=8,
    vocab_size=256, core_shapes="4x128x32x2x7", core_reps=3,
    decode_batches="2", decode_lengths="32", decode_targets="4,8",
    decode_models="transformer,lightweight,authors_lightweight")
# The decoding grid, what --full runs (each unless given).
FULL = dict(decode_batches="16,64", decode_lengths="512,1024,2048,4096",
            decode_targets="64,256,1024", decode_models="all")


def parse_args(argv):
  p = argparse.ArgumentParser(
      prog="python -m conv_t5.bench", description=__doc__.split("\n")[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--quick", action="store_true",
                 help="tiny models, one short length per workload, 2 repetitions "
                 f"(sets, unless given: {QUICK})")
  p.add_argument("--sizes", help="model sizes: tiny, small, base, large")
  p.add_argument("--workloads", help="training A: inputs L, targets "
                 "--target_len; training B: inputs and targets L; D: greedy "
                 "decoding of exactly T tokens; S: teacher-forced scoring "
                 "of T tokens (D and S at every --decode_batches x "
                 "--decode_lengths x --decode_targets)")
  p.add_argument("--lengths", help="sequence lengths L of workload A")
  p.add_argument("--lengths_b", help="lengths of workload B ('A': as A)")
  p.add_argument("--authors_lengths",
                 help="lengths at which the authors' layers and the "
                 "converted models run ('all')")
  p.add_argument("--full", action="store_true",
                 help="every model at every length of both training "
                 "workloads, and the whole decoding grid with every model "
                 f"(unless given: {FULL}; the issue's whole grid: hours on a "
                 "2-core CPU)")
  p.add_argument("--models", help=f"any of {','.join(models.NAMES)}")
  p.add_argument("--reps", type=int, help="timed steps per point")
  p.add_argument("--warmup", type=int, help="untimed steps first")
  p.add_argument("--tokens_per_batch", type=int,
                 help="input tokens per batch (batch = this / L)")
  p.add_argument("--tokens_per_microbatch", type=int,
                 help="serialise a larger batch into microbatches of this "
                 "many tokens (at least one row), as the t5 pipeline does "
                 "(mesh defaults.gin: 2048); 0: one undivided batch")
  p.add_argument("--target_len", type=int, help="targets length, workload A")
  p.add_argument("--vocab_size", type=int, help="T5's SentencePiece: 32128")
  p.add_argument("--decode_batches",
                 help="batches B of workloads D and S")
  p.add_argument("--decode_lengths",
                 help="input lengths Li of workloads D and S")
  p.add_argument("--decode_targets",
                 help="target lengths T of workloads D and S (decoded or "
                 "scored tokens per row)")
  p.add_argument("--decode_models",
                 help="the models of workloads D and S, among --models "
                 "('all': every one of --models)")
  p.add_argument("--core_shapes",
                 help="core microbenchmark shapes batch x length x channels "
                 "x heads x width (each centred and causal); '' to skip")
  p.add_argument("--core_reps", type=int)
  p.add_argument("--mem_budget_gb", type=float, default=None,
                 help="kill a worker above this RSS (default: MemAvailable "
                 "at start minus --mem_reserve_gb)")
  p.add_argument("--mem_reserve_gb", type=float, default=3.0,
                 help="kill the largest worker if MemAvailable falls below")
  p.add_argument("--pooled_allocator", action="store_true",
                 help="keep TF's default pooling CPU allocator in the "
                 "workers; by default they set "
                 "TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1 so that an idle worker "
                 "hands its memory back and every model of a group can be "
                 "timed round-robin (with the pool, idle workers keep their "
                 "peak and fewer fit in memory at once)")
  p.add_argument("--step_timeout_s", type=float, default=1800.0)
  p.add_argument("--out_dir", default="bench_out")
  args = p.parse_args(argv)
  for key, value in DEFAULTS.items():
    if getattr(args, key) is None:
      if args.quick:
        value = QUICK.get(key, value)
      elif args.full:
        value = FULL.get(key, value)
      setattr(args, key, value)
  args.sizes = _list(args.sizes)
  args.workloads = _list(args.workloads)
  args.models = _list(args.models)
  args.lengths = _ints(p, "--lengths", args.lengths)
  if args.full or args.lengths_b == "A":
    args.lengths_b = args.lengths
  else:
    args.lengths_b = _ints(p, "--lengths_b", args.lengths_b)
  if args.full or args.authors_lengths == "all":
    args.authors_lengths = sorted(set(args.lengths) | set(args.lengths_b))
  else:
    args.authors_lengths = _ints(p, "--authors_lengths", args.authors_lengths)
  args.core_shapes = [
      _ints(p, "--core_shapes", shape.replace("x", ","), count=5,
            what=f"{shape!r} is not batch x length x channels x heads x "
            "width, e.g. 16x512x512x8x7 ('' to skip the core table)")
      for shape in _list(args.core_shapes)]
  unknown = [m for m in args.models if m not in models.NAMES]
  if unknown:
    p.error(f"--models: unknown {unknown}; allowed: "
            f"{', '.join(models.NAMES)}")
  for w in args.workloads:
    if w not in points.WORKLOADS:
      p.error(f"--workloads: unknown workload {w!r}; allowed: "
              f"{', '.join(points.WORKLOADS)}")
  points.parse_decode_flags(args, p.error)
  too_long = [L for L in args.lengths + args.lengths_b
              if L > args.tokens_per_batch]
  if too_long:
    p.error(f"--lengths {too_long} exceed --tokens_per_batch "
            f"{args.tokens_per_batch} (batch = tokens / L >= 1)")
  return args


def _list(text):
  return [x.strip() for x in str(text).split(",") if x.strip()]


def _ints(p, flag, text, count=None, what=None):
  """A comma-separated list of positive integers, or p.error naming flag."""
  items = _list(text)
  if (any(not x.isdigit() or int(x) < 1 for x in items) or
      (count is not None and len(items) != count)):
    p.error(f"{flag}: " + (what or f"{text!r} is not a comma-separated list "
                           "of positive integers"))
  return [int(x) for x in items]


class Runner:
  """Runs the grid; keeps what it learnt about memory between lengths."""

  def __init__(self, args, log_dir):
    self.args = args
    self.log_dir = log_dir
    budget = args.mem_budget_gb
    if budget is None:
      budget = (proc.meminfo_mb() / 1024.0) - args.mem_reserve_gb
    self.guard = proc.Guard(budget * 1024.0, args.mem_reserve_gb * 1024)
    self.history = {}   # (size, workload, model) -> its out-of-memory records
    self.peaks = {}     # (size, workload, model) -> [(point, peak RSS MB)]
    self.start = time.time()
    self.group_label = ""

  def progress(self, text):
    """One progress line on stdout, flushed: live in a terminal, a pipe or a
    file alike (`make bench | tee bench.log`, CI logs)."""
    elapsed = time.time() - self.start
    print(f"[bench {_duration(elapsed):>7}] {self.group_label}{text}",
          flush=True)

  def point(self, size, workload, seq_len, model):
    a = self.args
    return dict(model=model, size=size, workload=workload, seq_len=seq_len,
                batch=a.tokens_per_batch // seq_len, vocab_size=a.vocab_size,
                target_len=a.target_len,
                tokens_per_microbatch=a.tokens_per_microbatch)

  def skip_reason(self, p):
    """A model that ran out of memory at a smaller point (a shorter L; for
    D and S no larger B, Li and T) is not run again."""
    for r in self.history.get((p["size"], p["workload"], p["model"]), []):
      if points.at_most(r, p):
        at = (f"L={r['seq_len']}" if r["workload"] in points.TRAINING
              else points.label(r))
        return f"not run: out of memory at {at}"
    return None

  def known_peak(self, p):
    """Peak RSS (MB) of this model at the smaller points run so far."""
    seen = self.peaks.get((p["size"], p["workload"], p["model"]), [])
    return max([peak for q, peak in seen if points.at_most(q, p)],
               default=0.0)

  def remember_peak(self, p, peak_mb):
    self.peaks.setdefault((p["size"], p["workload"], p["model"]), []).append(
        (p, peak_mb))

  def run_group(self, group_points):
    records = group.GroupRun(self, group_points).run()
    for r in records:
      if r["status"] == "oom":
        self.history.setdefault((r["size"], r["workload"], r["model"]),
                                []).append(r)
    return records

  def run_core(self):
    a = self.args
    shapes = []
    for b, length, c, h, k in a.core_shapes:
      shapes += [[b, length, c, h, k, False], [b, length, c, h, k, True]]
    if not shapes:
      return []
    child = proc.Child(
        "conv_t5.bench.core",
        {"shapes": shapes, "reps": a.core_reps,
         "min_s": 0.05 if a.quick else 0.3},
        self.guard, os.path.join(self.log_dir, "core.log"))
    try:
      return child.receive(a.step_timeout_s)["core"]
    except proc.ChildFailed as e:
      return [{"status": e.status, "note": e.note}]
    finally:
      child.close()


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  # Progress must show as it happens when stdout is a pipe or a file too.
  sys.stdout.reconfigure(line_buffering=True)
  start = time.time()
  out_dir = os.path.abspath(args.out_dir)
  log_dir = os.path.join(out_dir, "logs")
  os.makedirs(log_dir, exist_ok=True)
  if not args.pooled_allocator:
    # Read by TF when its CPU allocator is created, in each worker.
    os.environ["TF_ONEDNN_USE_SYSTEM_ALLOCATOR"] = "1"
  meta = machine.metadata()
  meta["tf_onednn_use_system_allocator"] = os.environ.get(
      "TF_ONEDNN_USE_SYSTEM_ALLOCATOR")
  meta["load_before"] = machine.load_average()
  meta["flags"] = {k: v for k, v in vars(args).items()}
  runner = Runner(args, log_dir)
  meta["mem_budget_mb"] = runner.guard.budget_mb

  def stop(signum, frame):
    del frame
    raise SystemExit(128 + signum)
  signal.signal(signal.SIGTERM, stop)
  try:
    records, core = _run_all(args, runner)
  finally:
    for child in list(runner.guard.children):
      child.kill("error", "benchmark interrupted")
  meta["load_after"] = machine.load_average()
  meta["runtime_s"] = round(time.time() - start, 1)
  result = {"metadata": meta, "records": records, "core": core}
  result["targets"] = report.targets(result)
  json_path = os.path.join(out_dir, "bench.json")
  files.atomic_write_text(os.path.join(out_dir, "bench.md"),
                          report.markdown(result))
  if len(decode_report.records(result)) < len(records):
    report.plot(result, os.path.join(out_dir, "bench.png"))
  if decode_report.records(result):
    decode_report.plot(result, os.path.join(out_dir, "bench_decode.png"))
  files.atomic_write_text(json_path,
                          json.dumps(result, indent=1, default=_jsonable))
  print(json_path)
  return 0


def _groups(args, runner):
  """The points of each (size, workload, L) group, in the order they run."""
  groups = []
  for size in args.sizes:
    for workload in args.workloads:
      if workload in points.DECODING:
        for b, li, t in points.decode_grid(
            args.decode_batches, args.decode_lengths, args.decode_targets):
          group_points = [
              points.decode_point(m, size, workload, b, li, t,
                                  args.vocab_size)
              for m in args.models if m in args.decode_models]
          if group_points:
            groups.append(group_points)
        continue
      for seq_len in args.lengths if workload == "A" else args.lengths_b:
        group_points = [runner.point(size, workload, seq_len, m)
                        for m in args.models
                        if m not in models.AT_AUTHORS_LENGTHS
                        or seq_len in args.authors_lengths]
        if group_points:
          groups.append(group_points)
  return groups


def _duration(seconds):
  seconds = int(round(seconds))
  if seconds >= 3600:
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
  return f"{seconds // 60}m{seconds % 60:02d}s"


def time_left(spent, workloads):
  """Progress text: the time the groups of `workloads` will take at least.

  Within a workload later groups are larger (L, or B, Li, T grow), so each
  remaining group is counted at the mean time of the done groups of its
  workload: a lower bound. A workload none of whose groups is done yet is
  counted at the mean of all done groups, which bounds nothing: the text
  says "roughly" then.
  """
  if not spent:
    return "time left: unknown until the first group ends"
  overall = sum(s for _, s in spent) / len(spent)
  total, guessed = 0.0, False
  for w in workloads:
    mine = [s for done, s in spent if done == w]
    guessed = guessed or not mine
    total += sum(mine) / len(mine) if mine else overall
  return f"time left: {'roughly' if guessed else 'at least'} " + _duration(
      total)


def _run_all(args, runner):
  records = []
  groups = _groups(args, runner)
  spent = []   # (workload, seconds) of each group done
  for i, group_points in enumerate(groups):
    p = group_points[0]
    runner.group_label = ""
    left = time_left(spent, [g[0]["workload"] for g in groups[i:]])
    began = time.time()
    runner.progress(
        f"group {i + 1}/{len(groups)}: {p['size']} workload "
        f"{points.label(p)}, {len(group_points)} models "
        f"({', '.join(q['model'] for q in group_points)}); {left}")
    runner.group_label = (f"{i + 1}/{len(groups)} {p['size']} "
                          f"{points.label(p)}: ")
    records += runner.run_group(group_points)
    spent.append((p["workload"], time.time() - began))
    for r in records[-len(group_points):]:
      print(report.progress_line(r), flush=True)
  runner.group_label = ""
  if args.core_shapes:
    runner.progress("core microbenchmark (ours against "
                    "tf.nn.depthwise_conv2d)")
  return records, runner.run_core()


def _jsonable(x):
  if isinstance(x, np.generic):
    return x.item()
  raise TypeError(f"not JSON serialisable: {type(x)}")


if __name__ == "__main__":
  sys.exit(main())
