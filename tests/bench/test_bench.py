"""conv_t5.bench: the quick mode end to end, and the pieces it is built from.

The end-to-end test runs `python -m conv_t5.bench --quick` (tiny models, one
length, both training workloads, every model, decoding and scoring at two
target lengths with three models, the core microbenchmark) and checks the
output files, the JSON schema and that every measured number is positive and
finite. It times nothing against a threshold: speed targets are the
benchmark's business, not a test's.
"""

import json
import math
import os
import struct
import subprocess
import sys

import mesh_tensorflow as mtf
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5.bench import flops
from conv_t5.bench import models
from conv_t5.bench import report

tf.disable_v2_behavior()  # v1 control flow, as in the benchmark's workers

RECORD_NUMBERS = ("tokens_per_s", "tokens_per_s_min", "tokens_per_s_max",
                  "all_tokens_per_s", "step_s", "step_s_min", "step_s_max",
                  "peak_mem_mb", "rss_ready_mb", "flops_per_step", "flops_tf",
                  "flops_per_token", "achieved_gflops", "build_s")


def _positive_finite(value):
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and value > 0)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("bench")
  proc = subprocess.run(
      [sys.executable, "-m", "conv_t5.bench", "--quick", "--out_dir",
       str(out)], capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out, proc


@pytest.mark.slow
def test_quick_mode_prints_the_json_path_last(quick_run):
  out, proc = quick_run
  last = proc.stdout.strip().splitlines()[-1]
  assert last == str(out / "bench.json")
  assert os.path.isfile(last)


def check_records(result):
  """The quick run's records: every point measured, every number positive and
  finite, and what the docs say of each (docs/performance.md)."""
  flags = result["metadata"]["flags"]
  # Decoding (D) and scoring (S): batch 2, inputs 32, targets 4 and 8, with
  # --quick's decoding models (tests/bench/test_bench_decode.py checks
  # these records in detail).
  decoding = [r for r in result["records"] if r["workload"] in ("D", "S")]
  assert sorted((r["workload"], r["target_len"], r["model"])
                for r in decoding) == sorted(
                    (w, t, m) for w in "DS" for t in (4, 8)
                    for m in ("transformer", "lightweight",
                              "authors_lightweight"))
  for r in decoding:
    assert r["status"] == "ok", r
    assert (r["batch"], r["seq_len"]) == (2, 32)
    assert len(r["step_s_all"]) == flags["reps"]
    assert r["tokens_per_s"] == pytest.approx(2 * r["target_len"] /
                                              r["step_s"])
    assert r["peak_mem_mb"] >= r["rss_ready_mb"] > 0
    if r["workload"] == "D":
      # Every decode (warm-up and timed) of every row: exactly T tokens.
      assert r["decoded_len_min"] == r["decoded_len_max"] == r["target_len"]
      assert r["decoded_shapes"] == [[2, r["target_len"]]]
    else:
      assert 0 < r["loss"] < 3 * math.log(256)
  assert set(result["targets"]["decoding"]["models"]) == {
      "lightweight", "authors_lightweight"}
  light = result["targets"]["decoding"]["models"]["lightweight"]
  assert set(light["points"][0]["ratios"]) == {"4", "8"}
  assert all(x > 0 for x in light["points"][0]["ratios"].values())
  records = [r for r in result["records"] if r["workload"] in ("A", "B")]
  # Workload A at L=128 with every model; B at L=64 without the authors'
  # layers (--quick sets --authors_lengths 128).
  want = ({(m, "A", 128) for m in models.NAMES} |
          {(m, "B", 64) for m in ["transformer"] + models.OURS})
  assert {(r["model"], r["workload"], r["seq_len"]) for r in records} == want
  assert len(records) == len(want)
  for r in records:
    assert r["status"] == "ok", r
    for key in RECORD_NUMBERS:
      assert _positive_finite(r[key]), (key, r)
    assert len(r["step_s_all"]) == flags["reps"]
    assert all(_positive_finite(t) for t in r["step_s_all"])
    assert r["step_s_min"] == min(r["step_s_all"])
    assert r["step_s_max"] == max(r["step_s_all"])
    assert r["step_s"] == pytest.approx(float(np.median(r["step_s_all"])))
    assert r["tokens_per_s"] == pytest.approx(r["tokens_per_batch"] / r["step_s"])
    assert r["batch"] * r["seq_len"] == r["tokens_per_batch"] == 256
    assert r["target_len"] == (8 if r["workload"] == "A" else 64)
    assert math.isfinite(r["loss"]) and r["loss"] > 0
    # Two counts of the same graph: TF's registry counts every matmul the
    # analytic count does, plus the elementwise ops it leaves out -- 0.2-0.9%
    # more at the documented sizes, 4-12% for these tiny models (d_model 32).
    assert 1.0 <= r["flops_tf"] / r["flops_per_step"] < 1.15, r
    assert r["peak_mem_mb"] >= r["rss_ready_mb"]
    assert r["num_microbatches"] == 2      # 256 tokens in microbatches of 128
  # "Workers of one (workload, L) are ... timed round-robin": in waves when
  # the machine lacks memory for all at once. Every model of a group is in
  # exactly one wave, and the models of a wave name each other.
  for workload in ("A", "B"):
    group = {r["model"]: r for r in records if r["workload"] == workload}
    waves = {m: frozenset([m, *r["interleaved_with"]])
             for m, r in group.items()}
    for m, wave in waves.items():
      assert wave <= set(group), (m, wave)
      for other in wave:
        assert waves[other] == wave, (m, other, waves)
    assert set().union(*waves.values()) == set(group)


@pytest.mark.slow
def test_quick_mode_records(quick_run):
  out, _ = quick_run
  check_records(json.loads((out / "bench.json").read_text()))


def test_documented_run_matches_what_the_docs_say():
  """docs/bench/bench.json, the run docs/performance.md reports: TF's
  profiler count and the analytic count agree within 1% on the training
  points, at each length where the authors' layers ran every model was
  timed in one round-robin wave (the converted models' ratios to them come
  from there), and every row of every decoding point decoded exactly T
  tokens."""
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))), "docs", "bench", "bench.json")
  with open(path) as f:
    records = [r for r in json.load(f)["records"] if r["status"] == "ok"]
  training = [r for r in records if r["workload"] in ("A", "B")]
  decoding = [r for r in records if r["workload"] == "D"]
  assert training and decoding
  ratios = [r["flops_tf"] / r["flops_per_step"] for r in training]
  assert 1.0 <= min(ratios) and max(ratios) < 1.01, ratios
  authors_lengths = {r["seq_len"] for r in training
                     if r["workload"] == "A" and r["model"] in models.AUTHORS.values()}
  assert authors_lengths
  for r in training:
    group = {q["model"] for q in training
             if (q["workload"], q["seq_len"]) == (r["workload"], r["seq_len"])}
    if r["workload"] == "A" and r["seq_len"] in authors_lengths:
      assert set(r["interleaved_with"]) == group - {r["model"]}, r
  for r in decoding:
    assert r["decoded_len_min"] == r["decoded_len_max"] == r["target_len"], r


@pytest.mark.slow
def test_quick_mode_metadata_core_and_files(quick_run):
  out, _ = quick_run
  result = json.loads((out / "bench.json").read_text())
  meta = result["metadata"]
  from conv_t5 import machine  # pylint: disable=g-import-not-at-top
  here = machine.metadata()
  for key in ("commit", "machine", "cpu_model", "nproc", "ram_gb",
              "versions"):
    assert meta[key] == here[key], key
  assert f"Commit {here['commit']}." in (out / "bench.md").read_text()
  import datetime  # pylint: disable=g-import-not-at-top
  assert datetime.datetime.fromisoformat(meta["date"]).tzinfo is not None
  for key in ("nproc", "ram_gb", "runtime_s", "mem_budget_mb"):
    assert _positive_finite(meta[key]), key
  for key in ("load_before", "load_after"):
    assert len(meta[key]) == 3 and all(math.isfinite(x) and x >= 0
                                       for x in meta[key])
  assert meta["versions"]["tensorflow"] == tf.__version__
  assert len(result["core"]) == 2                 # centred and causal
  for c in result["core"]:
    for key in ("ours_s", "primitive_s", "ratio"):
      assert _positive_finite(c[key]), (key, c)
  targets = result["targets"]
  assert {c["causal"] for c in targets["core_vs_primitive"]} == {False, True}
  for ours in models.AUTHORS:
    assert _positive_finite(targets["vs_authors"][ours]["min_ratio"])
  # The converted models, against the authors' layer each comes from, in
  # speed and in memory.
  for converted, authors in models.CONVERTED.items():
    entry = targets["vs_authors"][converted]
    assert entry["authors"] == authors
    assert _positive_finite(entry["min_ratio"])
    assert _positive_finite(entry["max_memory_ratio"])
  md = (out / "bench.md").read_text()
  assert "| Transformer (T5) |" in md and "tf.nn.depthwise_conv2d" in md
  for converted in models.CONVERTED:
    assert (f"| ours / authors' peak memory (max over points) | "
            f"{models.label(converted)} | ") in md
  assert "### tiny, decoding and scoring: batch 2, inputs 32" in md
  assert "| lightweight (ours) | 8 | " in md
  for name, least in (("bench.png", 100), ("bench_decode.png", 200)):
    png = (out / name).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > least and height > least, name


def _einsum_graph():
  """An mtf graph: y = x @ w inside a 3-iteration while loop, z = x @ w."""
  graph = mtf.Graph()
  mesh = mtf.Mesh(graph, "mesh")
  a, b, c = (mtf.Dimension(n, s) for n, s in (("a", 4), ("b", 8), ("c", 16)))
  x = mtf.import_tf_tensor(mesh, tf.ones([4, 8]), mtf.Shape([a, b]))
  w = mtf.import_tf_tensor(mesh, tf.ones([8, 16]), mtf.Shape([b, c]))
  z = mtf.einsum([x, w], output_shape=[a, c])
  _, acc = mtf.while_loop(
      lambda i, s: mtf.less(i, 3),
      lambda i, s: [i + 1, s + mtf.einsum([x, w], output_shape=[a, c])],
      [mtf.constant(mesh, 0, dtype=tf.int32), mtf.zeros(mesh, [a, c])])
  return graph, mesh, z + acc


def test_flop_counts_of_a_matmul_and_a_loop():
  with tf.Graph().as_default() as tf_graph:
    graph, mesh, out = _einsum_graph()
    impl = mtf.placement_mesh_impl.PlacementMeshImpl(
        mtf.convert_to_shape([]), mtf.convert_to_layout_rules(""), ["/cpu:0"])
    lowering = mtf.Lowering(graph, {mesh: impl})
    lowering.export_to_tf_tensor(out)
    matmul = 2 * 4 * 8 * 16
    # The analytic count: the matmul outside and 3 iterations of the loop.
    assert flops.mtf_flops(graph, loop_iterations=3) == 4 * matmul
    assert flops.mtf_flops(graph, loop_iterations=1) == 2 * matmul
    # TF's registry adds the elementwise adds; the loop's ops count 3 times.
    once = flops.tf_flops(tf_graph, loop_iterations=1)
    thrice = flops.tf_flops(tf_graph, loop_iterations=3)
    assert once >= 2 * matmul
    assert thrice - once >= 2 * matmul
    # Without a loop factor the sum is what tf.profiler reports.
    opts = tf.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    prof = tf.profiler.profile(tf_graph, options=opts)
    assert prof.total_float_ops == once


def _record(model, seq_len, tokens_per_s, mem, status="ok"):
  point = dict(model=model, size="small", workload="A", seq_len=seq_len,
               batch=8192 // seq_len, target_len=32)
  r = report.new_record(point)
  if status == "ok":
    r.update(status="ok", tokens_per_s=tokens_per_s, peak_mem_mb=mem)
  else:
    r.update(status=status, note="killed at the budget")
  return r


def test_targets_when_the_transformer_runs_out_of_memory():
  records = [_record("transformer", 512, 300.0, 3000.0),
             _record("transformer", 2048, 100.0, 12000.0),
             _record("transformer", 4096, None, None, status="oom")]
  for model, speed in (("lightweight", 400.0), ("authors_lightweight", 200.0)):
    for seq_len in (512, 2048, 4096):
      records.append(_record(model, seq_len, speed * (1 + seq_len / 8192),
                             2000.0))
  result = {"records": records, "core": [],
            "metadata": {"mem_budget_mb": 16000.0}}
  t = report.targets(result)
  light = t["vs_transformer"]["lightweight"]
  assert light["throughput_ratio"] is None
  assert light["transformer"].startswith("oom")
  assert light["longest_common"]["seq_len"] == 2048
  assert light["longest_common"]["throughput_ratio"] == pytest.approx(
      400 * 1.25 / 100)
  assert light["memory_ratio_upper_bound"] == pytest.approx(2000 / 16000)
  assert t["flat_scaling"]["lightweight"]["ratio"] == pytest.approx(
      1.5 / 1.0625)
  assert t["vs_authors"]["lightweight"]["min_ratio"] == pytest.approx(2.0)
  md = report.markdown(dict(result, targets=t, metadata=dict(
      result["metadata"], cpu_model="cpu", nproc=2, ram_gb=1.0,
      versions={}, date="d", load_before=[0, 0, 0], load_after=[0, 0, 0],
      runtime_s=60.0, flags=dict(sizes=["small"], workloads=["A"],
                                 tokens_per_batch=8192,
                                 tokens_per_microbatch=2048, warmup=1,
                                 reps=3, vocab_size=32128))))
  assert "Transformer oom" in md and "at L=2048: 5.00x tokens/s" in md


def test_bad_flags_fail_with_a_message(capsys):
  """Bad flags exit with argparse's status 2 and one line naming the flag,
  the bad value and what is allowed."""
  from conv_t5.bench import runner  # pylint: disable=g-import-not-at-top
  for argv, message in (
      (["--models", "transformer,nope"],
       "--models: unknown ['nope']; allowed: " + ", ".join(models.NAMES)),
      (["--lengths", "16384"],                    # longer than the batch
       "--lengths [16384] exceed --tokens_per_batch 8192 "
       "(batch = tokens / L >= 1)"),
      (["--workloads", "A,C"],
       "--workloads: unknown workload 'C'; allowed: A, B, D, S"),
      (["--lengths", "512,1k"],
       "--lengths: '512,1k' is not a comma-separated list of positive "
       "integers"),
      # Refused before anything runs (it used to fail after the timings).
      (["--core_shapes", "none"],
       "--core_shapes: 'none' is not batch x length x channels x heads x "
       "width, e.g. 16x512x512x8x7 ('' to skip the core table)"),
      (["--core_shapes", "16x512x512x8"],
       "--core_shapes: '16x512x512x8' is not batch x length x channels x "
       "heads x width, e.g. 16x512x512x8x7 ('' to skip the core table)"),
  ):
    with pytest.raises(SystemExit) as e:
      runner.parse_args(argv)
    assert e.value.code == 2, argv
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "python -m conv_t5.bench: error: " + message), err


def test_quick_flags():
  from conv_t5.bench import runner  # pylint: disable=g-import-not-at-top
  args = runner.parse_args(["--quick"])
  assert args.sizes == ["tiny"] and args.workloads == ["A", "B", "D", "S"]
  assert args.lengths == [128] and args.lengths_b == [64]
  assert args.authors_lengths == [128]
  assert args.models == list(models.NAMES)
  assert args.tokens_per_batch == 256 and args.tokens_per_microbatch == 128
