"""conv_t5.machine: the one description of the machine, in the two shapes
that results record (grid markers, benchmark metadata)."""

import sys

from conv_t5 import machine


def test_summary_has_the_keys_grid_markers_have_always_had():
  info = machine.summary()
  assert set(info) <= {"nproc", "cpu", "ram_gb"} and {"nproc", "cpu"} <= set(info)
  assert info["nproc"] >= 1 and info["cpu"]
  if sys.platform.startswith("linux"):
    assert info["ram_gb"] > 0


def test_metadata_describes_the_same_machine():
  meta = machine.metadata()
  summary = machine.summary()
  assert meta["cpu_model"] == summary["cpu"]
  assert meta["nproc"] == summary["nproc"]
  assert meta["ram_gb"] == summary.get("ram_gb")
  assert {"machine", "platform", "python", "versions", "date"} <= set(meta)
  assert meta["versions"]["tensorflow"]
  assert len(machine.load_average()) == 3
