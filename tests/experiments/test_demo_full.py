"""`make demo`'s grid end to end (gin/demo/default.gin): what CI runs after
the tests (`make test-demo`). It checks what the run wrote, not its numbers:
every cell of every seed, the JSON schema, the verdicts; the wall time is
printed (docs/demo.md keeps the measured ones)."""

import json
import os
import subprocess
import sys
import time

import pytest

from conv_t5.experiments import spec as spec_lib

pytestmark = pytest.mark.demo

VERDICTS = {"supported", "contradicted", "inconclusive", "not run"}


@pytest.mark.timeout(3 * 3600)
def test_the_default_grid_runs_and_answers_every_question(tmp_path):
  out = tmp_path / "demo"
  t0 = time.time()
  proc = subprocess.run([sys.executable, "-m", "conv_t5.demo", "--out_dir",
                         str(out)], capture_output=True, text=True,
                        timeout=3 * 3600)
  print(f"make demo: {time.time() - t0:.0f} s")
  print(proc.stdout[-6000:])
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.strip().splitlines()
  assert lines[-1] == str(out / "results.json")
  data = json.load(open(lines[-1]))
  spec = spec_lib.spec_from_gin(["demo/default.gin"])
  assert data["grid"] == spec.to_json()
  cells = {(r["arch"], r["init"], r["seed"]) for r in data["runs"]}
  expected = {(a, i, s) for a in spec.archs for i in spec.inits(a)
              for s in spec.seeds}
  assert cells == expected
  assert len(spec.seeds) >= 3
  tasks = {r["task"] for r in data["runs"]}
  assert spec.pair_task in tasks and len(tasks) == 4
  for q in data["verdicts"].values():
    assert q["verdict"] in VERDICTS and q["verdict"] != "not run"
  assert data["control"]["verdict"] in VERDICTS - {"not run"}
  assert os.path.getsize(out / "results.png") > 10000
