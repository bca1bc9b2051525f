"""Records, targets, tables and plot of the decoding workloads D and S.

A record of D or S is one (model, size, workload, B, Li, T): seq_len is the
input length Li, target_len T, batch B. Throughput counts target tokens:
tokens_per_s = B * T / median time of one decode (D: greedy, exactly T
tokens per row) or one scoring (S: teacher-forced, T tokens per row) of the
batch; all_tokens_per_s also counts the B * Li input tokens. A D record
also holds every decode's row lengths (decoded_len_min / _max, which must
both be T, else the record is an "error") and the decoded ids' shapes.

The issue's target: the convolutions decode at least 1.2x the Transformer's
tokens/s at T = 256, and that ratio grows with T (at each batch and input
length of the run's first size).
"""

import math

import numpy as np

from conv_t5.bench import models
from conv_t5.bench import points

TARGET_T = 256
GOAL_RATIO = 1.2
GOAL = (f"decoded tokens/s / the Transformer's >= {GOAL_RATIO} at "
        f"T={TARGET_T}, and the ratio grows with T")


def records(result):
  return [r for r in result["records"] if r["workload"] in points.DECODING]


def complete_record(record, times, finish):
  """Fills a D or S record from the times and the worker's final report."""
  med = float(np.median(times))
  targets = record["target_tokens_per_batch"]
  record.update(
      status="ok", note="", step_s_all=[float(t) for t in times],
      step_s=med, step_s_min=float(min(times)), step_s_max=float(max(times)),
      tokens_per_s=targets / med, tokens_per_s_min=targets / max(times),
      tokens_per_s_max=targets / min(times),
      all_tokens_per_s=(targets + record["tokens_per_batch"]) / med,
      peak_mem_mb=finish["peak_mem_mb"], rss_ready_mb=finish["rss_ready_mb"],
      build_s=finish["build_s"], num_microbatches=1, loss=finish["loss"])
  if record["workload"] == "D":
    shapes = [list(s) for s in finish["decoded_shapes"]]
    record.update(decoded_len_min=finish["decoded_len_min"],
                  decoded_len_max=finish["decoded_len_max"],
                  decoded_shapes=shapes, distinct_ids=finish["distinct_ids"])
    want = record["target_len"]
    if (record["decoded_len_min"], record["decoded_len_max"]) != (
        want, want) or shapes != [[record["batch"], want]]:
      record.update(status="error", note=(
          f"decoded rows of {record['decoded_len_min']} to "
          f"{record['decoded_len_max']} tokens, ids of shapes {shapes}; "
          f"expected {record['batch']} rows of exactly T={want}"))
  elif record["loss"] is None or not math.isfinite(record["loss"]):
    record.update(status="error",
                  note=f"non-finite log-likelihood {record['loss']}")


def progress_line(r):
  head = f"[bench] {r['size']} {points.label(r)} {r['model']:<20}"
  if r["status"] != "ok":
    return f"{head} {r['status']}: {r['note']}"
  what = "decoded" if r["workload"] == "D" else "scored"
  return (f"{head} {r['tokens_per_s']:8.0f} {what} tok/s  "
          f"{r['peak_mem_mb']:7.0f} MB")


def _find(recs, model, workload, batch, seq_len, target_len):
  for r in recs:
    if (r["model"], r["workload"], r["batch"], r["seq_len"],
        r["target_len"]) == (model, workload, batch, seq_len, target_len):
      return r
  return None


def _ratio(a, b):
  if a and b and a["status"] == "ok" and b["status"] == "ok":
    return a["tokens_per_s"] / b["tokens_per_s"]
  return None


def grows(ratios):
  """Whether ratios, in the order of increasing T, increase strictly; None
  with fewer than two (missing ones, None, are left out)."""
  known = [r for r in ratios if r is not None]
  if len(known) < 2:
    return None
  return all(b > a for a, b in zip(known, known[1:]))


def targets(result):
  """Each convolution's decoded tokens/s against the Transformer's, per
  (B, Li) and T, on the run's first size with D records; {} without."""
  recs = [r for r in records(result) if r["workload"] == "D"]
  if not recs:
    return {}
  size = recs[0]["size"]
  recs = [r for r in recs if r["size"] == size]
  out = {"size": size, "target_len": TARGET_T, "goal": GOAL, "models": {}}
  for model in models.CONVS:
    mine = [r for r in recs if r["model"] == model]
    if not mine:
      continue
    per = []
    for b, li in sorted({(r["batch"], r["seq_len"]) for r in mine}):
      lengths = sorted({r["target_len"] for r in mine
                        if (r["batch"], r["seq_len"]) == (b, li)})
      ratios = [_ratio(_find(recs, model, "D", b, li, t),
                       _find(recs, "transformer", "D", b, li, t))
                for t in lengths]
      per.append({"batch": b, "seq_len": li,
                  "ratios": {str(t): x for t, x in zip(lengths, ratios)},
                  "at_target": dict(zip(lengths, ratios)).get(TARGET_T),
                  "grows": grows(ratios)})
    at = [e["at_target"] for e in per if e["at_target"] is not None]
    grown = [e["grows"] for e in per if e["grows"] is not None]
    entry = {"min_at_target": min(at) if at else None,
             "grows": all(grown) if grown else None, "points": per}
    entry["met"] = (None if entry["min_at_target"] is None
                    or entry["grows"] is None else
                    entry["min_at_target"] >= GOAL_RATIO and entry["grows"])
    out["models"][model] = entry
  return out


def _fmt(x, digits=2):
  return "n/a" if x is None else f"{x:.{digits}f}"


def _cell(r, key, digits=0):
  if r is None:
    return ""
  if r["status"] != "ok":
    return r["status"]
  return f"{r[key]:,.{digits}f}"


def _yes(x):
  return "n/a" if x is None else ("yes" if x else "no")


def markdown(result):
  """Lines: per (size, B, Li) a table of every model and T; the targets."""
  recs = records(result)
  if not recs:
    return []
  lines = ["## Decoding (D) and teacher-forced scoring (S)", "",
           "Target tokens/s: B x T / median time of one greedy decode of "
           "exactly T tokens per row (D; mesh-tensorflow's "
           "Bitransformer.decode, beam 1, temperature 0, EOS never emitted) "
           "or one teacher-forced scoring of T target tokens per row (S; "
           "forward pass, log-likelihood); peak RSS of the worker.", ""]
  f = result.get("metadata", {}).get("flags", {})
  if "decode_batches" in f:
    lines += [f"Grid: batches {f['decode_batches']}, inputs "
              f"{f['decode_lengths']}, targets {f['decode_targets']}; models "
              f"{f['decode_models']}; {f['warmup']} warm-up + {f['reps']} "
              "timed runs per point.", ""]
  keys = list(dict.fromkeys((r["size"], r["batch"], r["seq_len"])
                            for r in recs))
  for size, b, li in sorted(keys):
    rows = [r for r in recs if (r["size"], r["batch"], r["seq_len"]) ==
            (size, b, li)]
    lines += [f"### {size}, decoding and scoring: batch {b}, inputs {li}",
              "", "| model | T | decoded tok/s | x Transformer | decode "
              "peak MB | scored tok/s | x Transformer | scoring peak MB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in dict.fromkeys(r["model"] for r in rows):
      for t in sorted({r["target_len"] for r in rows}):
        cells = []
        for w in ("D", "S"):
          r = _find(rows, m, w, b, li, t)
          tr = _find(rows, "transformer", w, b, li, t)
          cells += [_cell(r, "tokens_per_s"),
                    "" if r is None or m == "transformer"
                    else _fmt(_ratio(r, tr)), _cell(r, "peak_mem_mb")]
        lines.append(f"| {models.label(m)} | {t} | " + " | ".join(cells)
                     + " |")
    lines.append("")
  t = result.get("targets", {}).get("decoding") or targets(result)
  if t.get("models"):
    lines += [f"### Decoding targets ({t['size']}): {t['goal']}", "",
              "| model | batch | inputs | ratio by T | at T="
              f"{t['target_len']} (>= {GOAL_RATIO}) | grows with T |",
              "|---|---:|---:|---|---:|---|"]
    for m, e in t["models"].items():
      for p in e["points"]:
        by_t = ", ".join(f"{k}: {_fmt(v)}" for k, v in p["ratios"].items())
        lines.append(f"| {models.label(m)} | {p['batch']} | {p['seq_len']} "
                     f"| {by_t} | {_fmt(p['at_target'])} | "
                     f"{_yes(p['grows'])} |")
    lines += [""] + [
        f"- {models.label(m)}: at T={t['target_len']} "
        + ("not measured" if e["min_at_target"] is None else
           f"at least {_fmt(e['min_at_target'])}x")
        + f"; grows with T: {_yes(e['grows'])}; target met: "
        f"{_yes(e['met'])}" for m, e in t["models"].items()] + [""]
  return lines


def plot(result, path):
  """Against T (log-log), one row per (size, B, Li): decoded tokens/s, its
  peak memory, scored tokens/s, its peak memory."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  recs = records(result)
  keys = sorted({(r["size"], r["batch"], r["seq_len"]) for r in recs})
  fig, axes = plt.subplots(max(len(keys), 1), 4, squeeze=False,
                           figsize=(17, 3.6 * max(len(keys), 1)))
  panels = [("D", "tokens_per_s", "decoded tokens / s"),
            ("D", "peak_mem_mb", "decoding peak memory (MB)"),
            ("S", "tokens_per_s", "scored tokens / s"),
            ("S", "peak_mem_mb", "scoring peak memory (MB)")]
  for row, (size, b, li) in enumerate(keys):
    for col, (workload, key, ylabel) in enumerate(panels):
      ax = axes[row][col]
      for model in dict.fromkeys(r["model"] for r in recs):
        pts = sorted((r["target_len"], r[key]) for r in recs
                     if r["status"] == "ok" and
                     (r["model"], r["size"], r["workload"], r["batch"],
                      r["seq_len"]) == (model, size, workload, b, li))
        if not pts:
          continue
        color, marker, line = models.STYLES.get(model, ("C7", "x", "-"))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color,
                marker=marker, linestyle=line, label=models.label(model))
      ax.set_xscale("log", base=2)
      ax.set_yscale("log")
      lengths = sorted({r["target_len"] for r in recs})
      ax.set_xticks(lengths)
      ax.set_xticklabels([str(t) for t in lengths])
      ax.set_xlabel("target length T")
      ax.set_ylabel(ylabel)
      ax.set_title(f"{size}, batch {b}, inputs {li}")
      ax.grid(True, which="both", alpha=0.3)
  axes[0][0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
