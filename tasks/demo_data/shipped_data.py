"""The demo data shipped with the package: what build() copies by default,
with no fetch, no apt and no network.

tasks/demo_data/shipped/ (installed as conv_t5/tasks/demo_data/shipped/)
holds every file outputs.expected_files() names, under the same relative
paths as in <data_dir> (demo/... and spm/...), byte-identical to what the
from-sources build writes. checksums.py records their sha256 and is the one
record: `install` checks each shipped file against it before copying, and
the from-sources build is checked against the same sums. REGENERATE_COMMAND
rebuilds them from the pinned source archives (archives.py) and writes them
back here; shipped/NOTICE.md names the sources and their licences.
"""

import os
import shutil

from conv_t5.tasks.demo_data import archives
from conv_t5.tasks.demo_data import manifest
from conv_t5.tasks.demo_data import outputs

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "shipped")
NOTICE = "NOTICE.md"
REGENERATE_COMMAND = ("python -m conv_t5.tasks.demo_data --from_sources "
                      "--write_shipped")


def _shipped_dir(shipped_dir):
  return shipped_dir or SHIPPED_DIR


def check(shipped_dir=None, expected=None):
  """Raises ChecksumMismatchError naming the first shipped file that is
  missing or differs from checksums.py, and how to restore it."""
  shipped_dir = _shipped_dir(shipped_dir)
  expected = manifest.recorded() if expected is None else expected
  fix = ("Restore the shipped files (from git, or reinstall conv_t5), or "
         "regenerate them from the pinned source archives with "
         f"`{REGENERATE_COMMAND}`.")
  for rel in outputs.expected_files():
    path = os.path.join(shipped_dir, rel)
    if not os.path.isfile(path):
      raise manifest.ChecksumMismatchError(
          f"The shipped demo data file {path} is missing. {fix}")
    digest = archives.sha256_file(path)
    if digest != expected[rel]:
      raise manifest.ChecksumMismatchError(
          f"The shipped demo data file {path} has sha256 {digest}, not the "
          f"recorded {expected[rel]} (tasks/demo_data/checksums.py): it was "
          f"changed or damaged. {fix}")


def _copy(source, target):
  """Copies one file through a temp file (a reader never sees half of it)."""
  os.makedirs(os.path.dirname(target), exist_ok=True)
  shutil.copyfile(source, target + ".tmp")
  os.replace(target + ".tmp", target)


def install(data_dir, shipped_dir=None):
  """Checks the shipped files, then copies them into data_dir."""
  shipped_dir = _shipped_dir(shipped_dir)
  check(shipped_dir)
  for rel in outputs.expected_files():
    _copy(os.path.join(shipped_dir, rel), os.path.join(data_dir, rel))


def write(data_dir, shipped_dir=None):
  """Copies the outputs of a from-sources build in data_dir over the shipped
  files (for maintainers; checksums.py must already record them)."""
  shipped_dir = _shipped_dir(shipped_dir)
  for rel in outputs.expected_files():
    _copy(os.path.join(data_dir, rel), os.path.join(shipped_dir, rel))
  check(shipped_dir)
  return shipped_dir
