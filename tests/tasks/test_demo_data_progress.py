"""`make data` says what it is doing as it starts, into a pipe too."""

import os
import subprocess
import sys
import time


def test_data_build_says_where_it_builds_before_reading_sources(tmp_path):
  data, raw = tmp_path / "data", tmp_path / "raw"
  raw.mkdir()
  proc = subprocess.Popen(
      [sys.executable, "-m", "conv_t5.tasks.demo_data", "--from_sources",
       f"--data_dir={data}", f"--raw_dir={raw}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
      text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                          CUDA_VISIBLE_DEVICES=""))
  deadline = time.time() + 300
  try:
    first = None
    for line in proc.stderr:
      if line.startswith("building the demo data") or time.time() > deadline:
        first = line.rstrip("\n")
        running = proc.poll() is None
        break
  finally:
    proc.terminate()   # before it fetches anything into the empty raw dir
    proc.wait(timeout=60)
    proc.stderr.close()
  assert first == (f"building the demo data in {data}: reading the source "
                   f"archives in {raw}, fetching any that are missing")
  assert running
