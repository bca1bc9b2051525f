"""The benchmark shows live progress on stdout when stdout is a pipe.

Python block-buffers stdout when it is not a terminal, and results came only
when a whole wave of models ended: `make bench | tee bench.log` printed
nothing for minutes. The child's stdout is read line by line as it comes.
"""

import os
import subprocess
import sys
import time

import pytest

RESULT = "[bench] "   # a result line: "[bench] tiny A L=  128 transformer ..."


@pytest.mark.slow
def test_progress_lines_come_while_the_first_wave_runs(tmp_path):
  proc = subprocess.Popen(
      [sys.executable, "-m", "conv_t5.bench", "--quick", "--models",
       "transformer,lightweight", "--workloads", "A", "--reps", "2",
       "--core_shapes", "", "--out_dir", str(tmp_path)],
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES=""))
  seen = []   # (line, whether the benchmark was still running)
  deadline = time.time() + 600
  try:
    for line in proc.stdout:
      seen.append((line.rstrip("\n"), proc.poll() is None))
      if line.startswith(RESULT) or time.time() > deadline:
        break
  finally:
    proc.terminate()   # SIGTERM: the runner stops its workers
    proc.wait(timeout=120)
    proc.stdout.close()
  lines = [l for l, _ in seen]
  assert lines and lines[-1].startswith(RESULT), lines
  progress = seen[:-1]
  # Every progress line arrived while the benchmark was running, before the
  # first result, and says what is running and where it is.
  assert progress and all(running for _, running in progress), seen
  text = "\n".join(l for l, _ in progress)
  assert lines[0].startswith("[bench ") and (
      "group 1/1: tiny workload A L=128, 2 models (transformer, lightweight);"
      " time left: unknown until the first group ends") in lines[0]
  for model in ("transformer", "lightweight"):
    assert f"1/1 tiny A L=128: building {model} (batch 2)" in text
    assert f"1/1 tiny A L=128: {model} built in " in text
  assert "1/1 tiny A L=128: timing 2 model(s), repetition 1/2" in text
  assert "repetition 2/2; time left in this wave ~" in text
