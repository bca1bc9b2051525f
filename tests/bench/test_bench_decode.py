"""conv_t5.bench's decoding workloads: D (greedy decoding) and S (scoring).

The worker itself, in process at tiny sizes (seconds): a decode is exactly T
tokens long and scoring gives a finite log-likelihood (the command end to
end: tests/bench/test_bench.py's one --quick run, which has D and S). The arithmetic:
decoded lengths, the grid and its order, when a point is skipped, the
targets (ratio at T=256, growth with T), the records, the flags.
"""

import math

import gin
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conv_t5.bench import decode
from conv_t5.bench import decode_report
from conv_t5.bench import points
from conv_t5.bench import report
from conv_t5.bench import runner

tf.disable_v2_behavior()  # v1 control flow, as in the benchmark's workers


def _point(model, workload, batch=2, seq_len=16, target_len=6, size="tiny"):
  return points.decode_point(model, size, workload, batch, seq_len,
                             target_len, vocab_size=64)


@pytest.mark.parametrize("model", ["transformer", "lightweight"])
def test_the_worker_decodes_exactly_t_tokens(model):
  worker = decode.Worker(_point(model, "D", batch=3, seq_len=16,
                                target_len=7))
  # The decode is greedy and forced to T tokens through t5's own gin
  # parameters.
  assert gin.query_parameter("Bitransformer.decode.max_decode_length") == 7
  assert gin.query_parameter("Bitransformer.decode.temperature") == 0.0
  assert gin.query_parameter(
      "Unitransformer.sample_autoregressive.never_end") is True
  times = worker.steps(2)
  assert len(times) == 2 and all(t > 0 for t in times)
  ids = worker.last
  assert ids.shape == (3, 7) and ids.dtype == np.int32
  assert not (ids == decode.EOS_ID).any()
  assert ((ids >= 0) & (ids < 64)).all()
  out = worker.finish()
  assert out["decoded_len_min"] == out["decoded_len_max"] == 7
  assert out["decoded_shapes"] == [(3, 7)]
  assert out["peak_mem_mb"] >= out["rss_ready_mb"] > 0


def test_the_worker_scores_the_targets():
  worker = decode.Worker(_point("lightweight", "S", target_len=5))
  worker.steps(1)
  scores = worker.last
  assert scores.shape == (2,) and (scores < 0).all()
  out = worker.finish()
  # Mean negative log-likelihood per token of random targets under random
  # weights: near log(vocab).
  assert out["loss"] == pytest.approx(-scores.sum() / 10)
  assert 0.5 * math.log(64) < out["loss"] < 2 * math.log(64)


def test_decoded_lengths_stop_at_the_first_eos():
  ids = np.array([[5, 6, 7, 8], [5, 1, 7, 1], [1, 3, 3, 3], [0, 0, 2, 0]])
  np.testing.assert_array_equal(decode.decoded_lengths(ids), [4, 1, 0, 4])


def test_the_grid_runs_every_point_after_the_smaller_ones():
  grid = points.decode_grid([64, 16], [1024, 512], [256, 64])
  assert grid == [(16, 512, 64), (16, 512, 256), (16, 1024, 64),
                  (16, 1024, 256), (64, 512, 64), (64, 512, 256),
                  (64, 1024, 64), (64, 1024, 256)]
  for i, later in enumerate(grid):
    for earlier in grid[i + 1:]:
      assert not all(a >= b for a, b in zip(later, earlier)) or (
          later == earlier)


def test_a_model_out_of_memory_skips_the_larger_points_only():
  run = runner.Runner.__new__(runner.Runner)
  run.history, run.peaks = {}, {}
  oom = report.new_record(_point("transformer", "D", 16, 2048, 256, "small"))
  oom.update(status="oom", note="killed")
  run.history[("small", "D", "transformer")] = [oom]
  def skip(b, li, t, workload="D", model="transformer"):
    return run.skip_reason(_point(model, workload, b, li, t, "small"))
  assert skip(16, 2048, 256) == (
      "not run: out of memory at D B=16 Li=2048 T=256")
  assert skip(64, 4096, 1024) and skip(16, 2048, 1024)
  assert skip(16, 2048, 64) is None       # fewer targets
  assert skip(16, 1024, 1024) is None     # shorter inputs
  assert skip(64, 2048, 256, workload="S") is None
  assert skip(64, 4096, 1024, model="lightweight") is None
  # The memory estimate: the largest peak among the smaller points.
  for (b, li, t), peak in (((16, 512, 64), 1000.0), ((16, 512, 256), 1500.0),
                           ((16, 1024, 64), 1200.0)):
    run.remember_peak(_point("lightweight", "D", b, li, t, "small"), peak)
  def known(b, li, t):
    return run.known_peak(_point("lightweight", "D", b, li, t, "small"))
  assert known(16, 512, 256) == 1500.0
  assert known(16, 1024, 64) == 1200.0
  assert known(16, 1024, 256) == 1500.0
  assert known(16, 256, 64) == 0.0


def _ok(model, workload, t, tokens_per_s, b=16, li=512, mem=1000.0):
  r = report.new_record(_point(model, workload, b, li, t, "small"))
  r.update(status="ok", note="", tokens_per_s=tokens_per_s, peak_mem_mb=mem)
  return r


def test_the_decoding_targets():
  recs = []
  for t, tr, conv in ((64, 100.0, 110.0), (256, 50.0, 65.0),
                      (1024, 20.0, 30.0)):
    recs += [_ok("transformer", "D", t, tr), _ok("lightweight", "D", t, conv),
             _ok("dynamic", "D", t, conv * (0.8 if t == 1024 else 1.0))]
  # At another batch the Transformer ran out of memory at T=1024.
  for t, tr, conv in ((64, 90.0, 99.0), (256, 40.0, 60.0)):
    recs += [_ok("transformer", "D", t, tr, b=64),
             _ok("lightweight", "D", t, conv, b=64)]
  oom = report.new_record(_point("transformer", "D", 64, 512, 1024, "small"))
  oom.update(status="oom", note="killed")
  recs += [oom, _ok("lightweight", "D", 1024, 40.0, b=64),
           _ok("lightweight", "S", 256, 9999.0)]   # scoring: not a target
  t = decode_report.targets({"records": recs})
  assert t["size"] == "small" and t["target_len"] == 256
  light = t["models"]["lightweight"]
  assert [(p["batch"], p["seq_len"]) for p in light["points"]] == [
      (16, 512), (64, 512)]
  first, second = light["points"]
  assert first["ratios"] == {"64": pytest.approx(1.1),
                             "256": pytest.approx(1.3),
                             "1024": pytest.approx(1.5)}
  assert first["at_target"] == pytest.approx(1.3) and first["grows"]
  assert second["ratios"]["1024"] is None and second["grows"]
  assert light["min_at_target"] == pytest.approx(1.3)
  assert light["grows"] is True and light["met"] is True
  dyn = t["models"]["dynamic"]
  assert dyn["points"][0]["ratios"]["1024"] == pytest.approx(1.2)
  assert dyn["grows"] is False and dyn["met"] is False
  assert decode_report.grows([1.0, None, 1.2]) is True
  assert decode_report.grows([1.0, 1.0]) is False
  assert decode_report.grows([None, 1.5]) is None
  assert decode_report.targets({"records": [_ok("lightweight", "S", 8,
                                                1.0)]}) == {}
  lines = "\n".join(decode_report.markdown({"records": recs}))
  assert ("| lightweight (ours) | 16 | 512 | 64: 1.10, 256: 1.30, 1024: 1.50 "
          "| 1.30 | yes |") in lines
  assert ("| Transformer (T5) | 1024 | oom |  | oom |  |  |  |") in lines
  assert ("- dynamic (ours): at T=256 at least 1.30x; grows with T: no; "
          "target met: no") in lines


def test_a_decode_record():
  r = report.new_record(_point("dynamic", "D", batch=4, seq_len=32,
                               target_len=8))
  finish = {"peak_mem_mb": 900.0, "rss_ready_mb": 800.0, "build_s": 2.0,
            "loss": None, "decoded_len_min": 8, "decoded_len_max": 8,
            "decoded_shapes": [(4, 8)], "distinct_ids": 3}
  report.complete_record(r, [0.4, 0.2, 0.5], dict(finish))
  assert r["status"] == "ok", r
  assert r["tokens_per_s"] == pytest.approx(4 * 8 / 0.4)
  assert r["tokens_per_s_min"] == pytest.approx(32 / 0.5)
  assert r["all_tokens_per_s"] == pytest.approx((32 + 4 * 32) / 0.4)
  assert r["decoded_shapes"] == [[4, 8]] and r["flops_per_step"] is None
  assert report.progress_line(r) == (
      "[bench] tiny D B=4 Li=32 T=8 dynamic                    80 decoded "
      "tok/s      900 MB")
  short = report.new_record(_point("dynamic", "D", 4, 32, 8))
  report.complete_record(short, [0.4], dict(finish, decoded_len_min=3))
  assert short["status"] == "error"
  assert short["note"] == ("decoded rows of 3 to 8 tokens, ids of shapes "
                           "[[4, 8]]; expected 4 rows of exactly T=8")
  scored = report.new_record(_point("dynamic", "S", 4, 32, 8))
  report.complete_record(scored, [0.1], dict(finish, loss=float("nan")))
  assert scored["status"] == "error" and "log-likelihood" in scored["note"]


def test_time_left():
  assert runner.time_left([], ["A"]) == (
      "time left: unknown until the first group ends")
  assert runner.time_left([("A", 60.0), ("A", 120.0)], ["A", "A"]) == (
      "time left: at least 3m00s")
  assert runner.time_left([("A", 60.0), ("A", 120.0)], ["A", "D", "S"]) == (
      "time left: roughly 4m30s")


def test_decoding_flags(capsys):
  args = runner.parse_args([])
  assert args.workloads == ["A", "B", "D", "S"]
  assert (args.decode_batches, args.decode_lengths, args.decode_targets) == (
      [16], [512], [64, 256, 1024])
  assert args.decode_models == ["transformer", "lightweight", "dynamic",
                                "dilated"]
  full = runner.parse_args(["--full"])
  assert (full.decode_batches, full.decode_lengths, full.decode_targets) == (
      [16, 64], [512, 1024, 2048, 4096], [64, 256, 1024])
  assert full.decode_models == full.models
  given = runner.parse_args(["--full", "--decode_targets", "128"])
  assert given.decode_targets == [128]
  quick = runner.parse_args(["--quick"])
  assert (quick.decode_batches, quick.decode_lengths,
          quick.decode_targets) == ([2], [32], [4, 8])
  for argv, message in (
      (["--decode_targets", "64,x"],
       "--decode_targets: '64,x' is not a list of positive integers"),
      (["--decode_batches", "0"],
       "--decode_batches: '0' is not a list of positive integers"),
      (["--decode_models", "transformer,nope"],
       "--decode_models: unknown ['nope']; allowed: " +
       ", ".join(runner.models.NAMES))):
    with pytest.raises(SystemExit) as e:
      runner.parse_args(argv)
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m conv_t5.bench: error: " + message)
