"""conv_t5.files: atomic whole-file writes."""

import json
import os

import pytest

from conv_t5 import files


def test_atomic_write_text_replaces_whole_file(tmp_path):
  path = str(tmp_path / "results.json")
  files.atomic_write_text(path, "one")
  files.atomic_write_text(path, "two")
  assert open(path).read() == "two"
  with pytest.raises(TypeError):
    files.atomic_write_text(path, object())  # refused before anything is written
  assert open(path).read() == "two"
  assert os.listdir(tmp_path) == ["results.json"]  # no temp file left


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
  path = str(tmp_path / "marker.json")
  files.atomic_write_json(path, {"step": 1})

  def fail(*args):
    raise OSError("disk full (simulated)")
  monkeypatch.setattr(os, "replace", fail)
  with pytest.raises(OSError, match="disk full"):
    files.atomic_write_json(path, {"step": 2})
  assert json.load(open(path)) == {"step": 1}
  assert os.listdir(tmp_path) == ["marker.json"]


def test_bytes_and_json_create_parent_dirs(tmp_path):
  png = str(tmp_path / "a" / "b" / "plot.png")
  files.atomic_write_bytes(png, b"\x89PNG")
  assert open(png, "rb").read() == b"\x89PNG"
  path = files.atomic_write_json(str(tmp_path / "c" / "x.json"), {"b": 1, "a": 2})
  assert open(path).read() == '{\n "a": 2,\n "b": 1\n}\n'
