"""Records, targets, markdown table and plot of `conv_t5.bench`.

A record is one (model, size, workload, L), or for decoding and scoring one
(model, size, workload, B, Li, T) (seq_len is Li, target_len T). Throughput
of training (A, B) counts input tokens (the quantity held fixed per batch):
tokens_per_s = batch * L / median step time; that of decoding (D) and
scoring (S) counts target tokens, decoded or scored: tokens_per_s = B * T /
median time of one decode or scoring of the batch. all_tokens_per_s also
counts the targets (training) or the inputs (D, S). Spread: the fastest and
slowest repetition. Missing points keep status "oom" / "error" / "timeout"
and a note, with null numbers. The decoding tables, targets and plot are in
`decode_report`.
"""

import math

import numpy as np

from conv_t5.bench import decode_report
from conv_t5.bench import models
from conv_t5.bench import points
from conv_t5.bench import step

NUMBERS = ("tokens_per_s", "tokens_per_s_min", "tokens_per_s_max",
           "all_tokens_per_s", "step_s", "step_s_min", "step_s_max",
           "peak_mem_mb", "rss_ready_mb", "flops_per_step", "flops_tf",
           "flops_per_token", "achieved_gflops", "build_s")


def new_record(point):
  target_len = step.target_length(point["workload"], point["seq_len"],
                                        point["target_len"])
  record = dict(
      model=point["model"], label=models.label(point["model"]),
      size=point["size"], workload=point["workload"],
      seq_len=point["seq_len"], target_len=target_len, batch=point["batch"],
      tokens_per_batch=point["batch"] * point["seq_len"],
      target_tokens_per_batch=point["batch"] * target_len,
      num_microbatches=None, status="error", note="not measured",
      step_s_all=[], loss=None, interleaved_with=[])
  record.update({k: None for k in NUMBERS})
  if point["workload"] == "D":
    record.update(decoded_len_min=None, decoded_len_max=None,
                  decoded_shapes=[], distinct_ids=None)
  return record


def complete_record(record, times, finish):
  """Fills a record from the step times and the worker's final report."""
  if not times:
    record.update(status="error", note="no timed step")
    return
  if record["workload"] in points.DECODING:
    decode_report.complete_record(record, times, finish)
    return
  med = float(np.median(times))
  tokens = record["tokens_per_batch"]
  all_tokens = tokens + record["target_tokens_per_batch"]
  record.update(
      status="ok", note="", step_s_all=[float(t) for t in times],
      step_s=med, step_s_min=float(min(times)), step_s_max=float(max(times)),
      tokens_per_s=tokens / med, tokens_per_s_min=tokens / max(times),
      tokens_per_s_max=tokens / min(times), all_tokens_per_s=all_tokens / med,
      peak_mem_mb=finish["peak_mem_mb"], rss_ready_mb=finish["rss_ready_mb"],
      flops_per_step=finish["flops_per_step"], flops_tf=finish["flops_tf"],
      flops_per_token=finish["flops_per_step"] / tokens,
      achieved_gflops=finish["flops_per_step"] / med / 1e9,
      num_microbatches=finish["num_microbatches"],
      build_s=finish["build_s"], loss=finish["loss"])
  if not all(math.isfinite(record[k]) for k in ("loss", "step_s")):
    record.update(status="error", note=f"non-finite loss {record['loss']}")


def progress_line(r):
  if r["workload"] in points.DECODING:
    return decode_report.progress_line(r)
  head = f"[bench] {r['size']} {r['workload']} L={r['seq_len']:>5} {r['model']:<20}"
  if r["status"] != "ok":
    return f"{head} {r['status']}: {r['note']}"
  return (f"{head} {r['tokens_per_s']:8.0f} tok/s  {r['peak_mem_mb']:7.0f} MB"
          f"  {r['flops_per_step'] / 1e12:6.2f} TFLOP/step")


def _find(records, model, workload, seq_len, size):
  for r in records:
    if (r["model"], r["workload"], r["seq_len"], r["size"]) == (
        model, workload, seq_len, size):
      return r
  return None


def _ratio(a, b, key):
  if a and b and a["status"] == "ok" and b["status"] == "ok":
    return a[key] / b[key]
  return None


def targets(result, workload="A", long_len=4096, short_len=512):
  """The issue's targets, measured on the run's first size and workload A;
  the decoding targets (`decode_report.targets`) under "decoding"."""
  records = [r for r in result["records"]
             if r["workload"] in points.TRAINING]
  decoding = decode_report.targets(result)
  if not records:
    return {"decoding": decoding} if decoding else {}
  size = records[0]["size"]
  out = {"size": size, "workload": workload, "vs_transformer": {},
         "flat_scaling": {}, "vs_authors": {}, "core_vs_primitive": []}
  tr = _find(records, "transformer", workload, long_len, size)
  for model in models.CONVS:
    conv = _find(records, model, workload, long_len, size)
    if conv is None:
      continue
    entry = {"seq_len": long_len,
             "throughput_ratio": _ratio(conv, tr, "tokens_per_s"),
             "memory_ratio": _ratio(conv, tr, "peak_mem_mb"),
             "goal": "throughput_ratio >= 3 and memory_ratio <= 0.5"}
    if tr is not None and tr["status"] != "ok":
      entry["transformer"] = f"{tr['status']}: {tr['note']}"
      # The longest L at which both ran.
      common = [r["seq_len"] for r in records
                if r["model"] == "transformer" and r["status"] == "ok"
                and r["workload"] == workload and r["size"] == size]
      if common:
        at = max(common)
        c2 = _find(records, model, workload, at, size)
        t2 = _find(records, "transformer", workload, at, size)
        entry["longest_common"] = {
            "seq_len": at, "throughput_ratio": _ratio(c2, t2, "tokens_per_s"),
            "memory_ratio": _ratio(c2, t2, "peak_mem_mb")}
      if conv["status"] == "ok" and tr["status"] == "oom":
        entry["memory_ratio_upper_bound"] = (
            conv["peak_mem_mb"] / result["metadata"].get("mem_budget_mb",
                                                         float("inf")))
    out["vs_transformer"][model] = entry
    short = _find(records, model, workload, short_len, size)
    out["flat_scaling"][model] = {
        "ratio": _ratio(conv, short, "tokens_per_s"),
        "goal": f"tokens/s at L={long_len} / at L={short_len} >= 0.8"}
  for ours, theirs in [*models.AUTHORS.items(), *models.CONVERTED.items()]:
    per_len, memory = {}, {}
    for r in records:
      if r["model"] == ours and r["size"] == size:
        other = _find(records, theirs, r["workload"], r["seq_len"], size)
        point = f"{r['workload']}{r['seq_len']}"
        per_len[point] = _ratio(r, other, "tokens_per_s")
        memory[point] = _ratio(r, other, "peak_mem_mb")
    valid = [v for v in per_len.values() if v is not None]
    valid_memory = [v for v in memory.values() if v is not None]
    out["vs_authors"][ours] = {
        "authors": theirs, "min_ratio": min(valid) if valid else None,
        "per_point": per_len,
        "max_memory_ratio": max(valid_memory) if valid_memory else None,
        "memory_per_point": memory,
        "goal": "ratio >= 1" + (" and max_memory_ratio <= 1"
                                if ours in models.CONVERTED else "")}
  for c in result.get("core", []):
    if "ratio" in c:
      out["core_vs_primitive"].append(
          {"shape": f"{c['batch']}x{c['seq_len']}x{c['channels']}x"
                    f"{c['heads']}x{c['kernel_width']}",
           "causal": c["causal"], "ratio": c["ratio"], "goal": "ratio <= 1.5"})
  if decoding:
    out["decoding"] = decoding
  return out


def _fmt(x, digits=2):
  return "n/a" if x is None else f"{x:.{digits}f}"


def _cell(r, key, scale=1.0, digits=0):
  if r is None:
    return ""
  if r["status"] != "ok":
    return r["status"]
  if r.get(key) is None:
    return "n/a"
  return f"{r[key] / scale:,.{digits}f}"


def markdown(result):
  """Tables: throughput, peak memory, FLOPs per model and L; targets; core."""
  meta = result["metadata"]
  records = [r for r in result["records"]
             if r["workload"] in points.TRAINING]
  lines = ["# conv_t5 benchmark", "",
           f"Commit {meta.get('commit', 'not recorded')}. "
           f"Machine: {meta['cpu_model']}, {meta['nproc']} CPUs, "
           f"{meta['ram_gb']} GB RAM; TensorFlow "
           f"{meta['versions'].get('tensorflow')}, mesh-tensorflow "
           f"{meta['versions'].get('mesh-tensorflow')}; {meta['date']}; "
           f"load average (1/5/15 min) before {meta['load_before']}, after "
           f"{meta['load_after']}; runtime {meta['runtime_s'] / 60:.1f} min.",
           ""]
  f = meta["flags"]
  lines += [f"Flags: sizes {f['sizes']}, workloads {f['workloads']}, "
            f"{f['tokens_per_batch']} input tokens per batch, microbatches "
            f"of {f['tokens_per_microbatch'] or 'all'} tokens, "
            f"{f['warmup']} warm-up + {f['reps']} timed steps per point, "
            f"vocabulary {f['vocab_size']}.", ""]
  tables = [("Throughput, input tokens/s (median; forward + backward + "
             "Adafactor)", "tokens_per_s", 1.0, 0),
            ("Peak memory, MB (peak RSS of the worker process)",
             "peak_mem_mb", 1.0, 0),
            ("FLOPs per input token, MFLOP (analytic, matmuls)",
             "flops_per_token", 1e6, 0)]
  for size in sorted({r["size"] for r in records}):
    for workload in sorted({r["workload"] for r in records}):
      rows = [r for r in records
              if r["size"] == size and r["workload"] == workload]
      lengths = sorted({r["seq_len"] for r in rows})
      model_names = list(dict.fromkeys(r["model"] for r in rows))
      for title, key, scale, digits in tables:
        lines += [f"### {size}, workload {workload}: {title}", "",
                  "| model | " + " | ".join(f"L={L}" for L in lengths) + " |",
                  "|---|" + "---:|" * len(lengths)]
        for m in model_names:
          cells = [_cell(_find(rows, m, workload, L, size), key, scale,
                         digits) for L in lengths]
          lines.append(f"| {models.label(m)} | " + " | ".join(cells)
                       + " |")
        lines.append("")
  lines += decode_report.markdown(result)
  spreads = [(r["tokens_per_s_max"] - r["tokens_per_s_min"]) / r["tokens_per_s"]
             for r in result["records"] if r["status"] == "ok"
             and r.get("tokens_per_s_max") is not None]
  if spreads:
    lines += [f"Spread (fastest - slowest repetition) / median: median "
              f"{100 * np.median(spreads):.1f}%, max "
              f"{100 * max(spreads):.1f}%.", ""]
  waves = _waves(result["records"])
  if waves:
    lines += ["Timed together (round-robin, as many workers as memory "
              "allowed at once): " + "; ".join(waves) + ".", ""]
  missing = [r for r in result["records"] if r["status"] != "ok"]
  if missing:
    lines += ["Missing points:", ""]
    lines += [f"- {r['size']} {points.label(r)} "
              f"{r['model']}: {r['status']}: {r['note']}" for r in missing]
    lines.append("")
  lines += _targets_md(result.get("targets", {})) + _core_md(result["core"])
  return "\n".join(lines) + "\n"


def _waves(records):
  """Per (workload, shape): the sets of models that were timed together."""
  order = list(dict.fromkeys(r["model"] for r in records))
  groups = {}   # (size, label) -> [models of each wave]
  for r in records:
    key = (r["size"], points.label(r))
    sets = groups.setdefault(key, [])
    if r["status"] != "ok":
      continue
    wave = {r["model"], *r.get("interleaved_with", [])}
    members = [m for m in order if m in wave]
    if members not in sets:
      sets.append(members)
  return [f"{name}: " + " | ".join(", ".join(m) for m in sets)
          for (_, name), sets in groups.items() if sets]


def _targets_md(t):
  if not t or "vs_transformer" not in t:
    return []
  lines = [f"### Targets ({t['size']}, workload {t['workload']})", "",
           "| target | model | measured | goal |", "|---|---|---:|---|"]
  for m, e in t["vs_transformer"].items():
    measured = (f"{_fmt(e['throughput_ratio'])}x tokens/s, "
                f"{_fmt(e['memory_ratio'])}x memory")
    if e.get("transformer"):
      measured = f"Transformer {e['transformer']}"
      if e.get("memory_ratio_upper_bound") is not None:
        measured += (f"; memory <= {_fmt(e['memory_ratio_upper_bound'])}x "
                     "(budget)")
      lc = e.get("longest_common")
      if lc and lc["throughput_ratio"] is not None:
        measured += (f"; at L={lc['seq_len']}: "
                     f"{_fmt(lc['throughput_ratio'])}x tokens/s, "
                     f"{_fmt(lc['memory_ratio'])}x memory")
      elif lc:
        measured += f"; not run at L={lc['seq_len']}, where the Transformer ran"
    lines.append(f"| vs Transformer at L={e['seq_len']} | "
                 f"{models.label(m)} | {measured} | >= 3x, <= 0.5x |")
  for m, e in t["flat_scaling"].items():
    lines.append(f"| tokens/s L=4096 / L=512 | {models.label(m)} | "
                 f"{_fmt(e['ratio'])} | >= 0.8 |")
  for m, e in t["vs_authors"].items():
    lines.append(f"| ours / authors' tokens/s (min over points) | "
                 f"{models.label(m)} | {_fmt(e['min_ratio'])} | >= 1 |")
    if m in models.CONVERTED:
      lines.append(f"| ours / authors' peak memory (max over points) | "
                   f"{models.label(m)} | {_fmt(e.get('max_memory_ratio'))} "
                   "| <= 1 |")
  for c in t["core_vs_primitive"]:
    lines.append(f"| core / tf.nn.depthwise_conv2d time | "
                 f"{c['shape']} {'causal' if c['causal'] else 'centred'} | "
                 f"{_fmt(c['ratio'])} | <= 1.5 |")
  return lines + [""]


def _core_md(core):
  if not core:
    return []
  lines = ["### Depthwise core vs tf.nn.depthwise_conv2d (forward + backward)",
           "", "| batch x L x channels x heads x K | window | ours ms | "
           "primitive ms | ratio |", "|---|---|---:|---:|---:|"]
  for c in core:
    if "ratio" not in c:
      lines.append(f"| {c.get('status')}: {c.get('note')} | | | | |")
      continue
    lines.append(
        f"| {c['batch']}x{c['seq_len']}x{c['channels']}x{c['heads']}x"
        f"{c['kernel_width']} | {'causal' if c['causal'] else 'centred'} | "
        f"{1e3 * c['ours_s']:.1f} | {1e3 * c['primitive_s']:.1f} | "
        f"{c['ratio']:.2f} |")
  return lines + [""]


def plot(result, path):
  """Throughput and peak memory against L, log-log, one row per workload."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  training = [r for r in result["records"]
              if r["workload"] in points.TRAINING]
  records = [r for r in training if r["status"] == "ok"]
  keys = sorted({(r["size"], r["workload"]) for r in training})
  fig, axes = plt.subplots(max(len(keys), 1), 2, squeeze=False,
                           figsize=(11, 4 * max(len(keys), 1)))
  styles = models.STYLES
  for row, (size, workload) in enumerate(keys):
    for col, (key, ylabel) in enumerate(
        [("tokens_per_s", "input tokens / s"),
         ("peak_mem_mb", "peak memory (MB)")]):
      ax = axes[row][col]
      for model in dict.fromkeys(r["model"] for r in training):
        pts = sorted((r["seq_len"], r[key]) for r in records
                     if (r["model"], r["size"], r["workload"]) ==
                     (model, size, workload))
        if not pts:
          continue
        color, marker, line = styles.get(model, ("C7", "x", "-"))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color,
                marker=marker, linestyle=line,
                label=models.label(model))
      ax.set_xscale("log", base=2)
      ax.set_yscale("log")
      ax.set_xlabel("sequence length L")
      ax.set_ylabel(ylabel)
      ax.set_title(f"{size}, workload {workload}")
      ax.grid(True, which="both", alpha=0.3)
  axes[0][0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
