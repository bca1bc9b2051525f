"""The package's commands start quietly: no TensorFlow C++ INFO / WARNING
lines and no pkg_resources warning, even with TF_CPP_MIN_LOG_LEVEL unset; a
user's TF_CPP_MIN_LOG_LEVEL is kept."""

import os
import re
import subprocess
import sys

import pytest

from conv_t5 import startup

BIN = os.path.dirname(sys.executable)
COMMANDS = {
    "conv_t5_mesh_transformer": [os.path.join(BIN, "conv_t5_mesh_transformer")],
    "conv_t5_convert": [os.path.join(BIN, "conv_t5_convert")],
    "cli": [sys.executable, "-m", "conv_t5.cli"],
    "demo_data": [sys.executable, "-m", "conv_t5.tasks.demo_data"],
    "bench": [sys.executable, "-m", "conv_t5.bench"],
    "demo": [sys.executable, "-m", "conv_t5.demo"],
    "convert": [sys.executable, "-m", "conv_t5.convert"],
}
# TF's C++ log lines: "2026-01-01 12:00:00.000000: I tensorflow/...".
CPP_INFO_OR_WARNING = re.compile(r"^\S+ \S+: [IW] \S+\]", re.M)


def help_stderr(name, **env):
  e = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  e.update(CUDA_VISIBLE_DEVICES="", **env)
  proc = subprocess.run(COMMANDS[name] + ["--help"], capture_output=True,
                        text=True, env=e, timeout=300, check=False)
  # absl's --help (t5's flags) exits with status 1, argparse's with 0.
  absl = name in ("conv_t5_mesh_transformer", "cli")
  assert proc.returncode == (1 if absl else 0), proc.stderr[-3000:]
  assert ("Try --helpfull" if absl else "usage:") in proc.stdout
  return proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_prints_no_tensorflow_or_pkg_resources_warnings(name):
  err = help_stderr(name)
  assert not CPP_INFO_OR_WARNING.findall(err), err
  assert "pkg_resources" not in err, err
  assert "WARNING:tensorflow" not in err, err


@pytest.mark.slow
def test_a_users_log_level_is_kept():
  err = help_stderr("demo_data", TF_CPP_MIN_LOG_LEVEL="0")
  assert CPP_INFO_OR_WARNING.findall(err), err


def test_quiet_sets_a_default_only(monkeypatch):
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  startup.quiet()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
  startup.quiet()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_only_the_packages_commands_count_as_commands():
  assert startup.is_command(["-m"])
  assert startup.is_command(["/x/bin/conv_t5_mesh_transformer", "--help"])
  assert startup.is_command(["/x/bin/conv_t5_convert"])
  assert startup.is_command(["/x/Scripts/conv_t5_convert.exe"])
  assert not startup.is_command(["-c"])
  assert not startup.is_command(["/x/bin/pytest"])
  assert not startup.is_command([])
