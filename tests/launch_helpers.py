"""Dry runs of the launch/ scripts and parsing their commands as t5's main
does (tests/launch/)."""

import os
import shlex
import subprocess
import sys

from conv_t5 import config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "launch", "paper_grid.py")
BUCKET = "gs://example-bucket/conv_t5"


def dry_run(*extra):
  out = subprocess.run(
      [sys.executable, SCRIPT, "--bucket", BUCKET, "--dry-run", *extra],
      capture_output=True, text=True, check=True, cwd=REPO).stdout
  commands = []
  for block in out.strip().split("\n\n"):
    lines = block.splitlines()
    if not lines[0].startswith("# ") or len(lines) < 2:
      continue
    argv = shlex.split("\n".join(lines[1:]).replace("\\\n", " "))
    commands.append((lines[0][2:], argv))
  return out, commands


def flag_values(argv, name):
  prefix = f"--{name}="
  return [a[len(prefix):] for a in argv if a.startswith(prefix)]


def parse_like_the_cli(argv):
  """Parses the command's gin files and params as t5's main does."""
  import conv_t5.tasks  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
  from t5.models import mesh_transformer  # pylint: disable=g-import-not-at-top
  config.parse(flag_values(argv, "gin_file"), flag_values(argv, "gin_param"),
               skip_unknown=mesh_transformer.DEPRECATED_GIN_REFERENCES)
