"""conv_t5.machine: the one description of the machine, in the two shapes
that results record (grid markers, benchmark metadata)."""

import os
import platform
import sys

import pytest

from conv_t5 import machine


def test_summary_has_the_keys_grid_markers_have_always_had():
  info = machine.summary()
  assert set(info) <= {"nproc", "cpu", "ram_gb"} and {"nproc", "cpu"} <= set(info)
  assert info["nproc"] >= 1 and info["cpu"]
  if sys.platform.startswith("linux"):
    assert info["ram_gb"] > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads /proc")
def test_summary_says_what_proc_says():
  with open("/proc/cpuinfo") as f:
    cpu = next(l.split(":", 1)[1].strip() for l in f
               if l.startswith("model name"))
  with open("/proc/meminfo") as f:
    kib = next(int(l.split()[1]) for l in f if l.startswith("MemTotal:"))
  assert machine.summary() == {"nproc": len(os.sched_getaffinity(0)),
                               "cpu": cpu, "ram_gb": round(kib / 2**20, 1)}


def test_metadata_describes_the_same_machine():
  meta = machine.metadata()
  summary = machine.summary()
  assert meta["cpu_model"] == summary["cpu"]
  assert meta["nproc"] == summary["nproc"]
  assert meta["ram_gb"] == summary.get("ram_gb")
  assert {"machine", "platform", "python", "versions", "date"} <= set(meta)
  assert meta["machine"] == platform.node()
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  assert meta["versions"]["tensorflow"] == tf.__version__
  assert len(machine.load_average()) == 3


def test_git_commit_is_this_checkouts_head():
  """What the benchmark and the release's invocations record as the code's
  commit: HEAD of the checkout conv_t5 is imported from (+dirty when tracked
  files changed)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  here = os.path.dirname(os.path.abspath(machine.__file__))
  try:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                          capture_output=True, text=True, check=True)
  except (OSError, subprocess.CalledProcessError):
    pytest.skip("conv_t5 is not imported from a git checkout")
  commit = machine.git_commit()
  assert commit.split("+")[0] == head.stdout.strip()
  assert commit in (head.stdout.strip(), head.stdout.strip() + "+dirty")
  assert machine.metadata()["commit"] == commit
