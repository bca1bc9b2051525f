"""The build's stamp and its check: sha256 of every output against the sums
recorded in checksums.py, and demo/MANIFEST.json (written last).

When MANIFEST.json matches the files and the recorded checksums, the data is
built (`is_built`) and build() returns at once; it only hashes ~10 MB.
"""

import json
import os

from conv_t5 import errors
from conv_t5.tasks import config
from conv_t5.tasks.demo_data import archives
from conv_t5.tasks.demo_data import outputs

# For an intended change of the outputs: rebuild from the sources, record the
# new sums and replace the shipped files (shipped_data.py) in one go.
RECORD_COMMAND = ("python -m conv_t5.tasks.demo_data --from_sources "
                  "--record_checksums --write_shipped")


class ChecksumMismatchError(errors.ConfigError):
  """A generated file differs from the checksum recorded in the repository."""


def recorded():
  """The sums in checksums.py: {relative path: sha256}."""
  from conv_t5.tasks.demo_data import checksums  # pylint: disable=g-import-not-at-top
  return checksums.CHECKSUMS


def digests(data_dir):
  """{relative path: sha256 or None (missing)} of every expected output."""
  return {rel: (archives.sha256_file(os.path.join(data_dir, rel))
                if os.path.exists(os.path.join(data_dir, rel)) else None)
          for rel in outputs.expected_files()}


def check(found, expected):
  """Raises ChecksumMismatchError naming the first output that differs."""
  for rel in outputs.expected_files():
    if rel not in expected:
      raise ChecksumMismatchError(
          f"No checksum is recorded for {rel}; record them with "
          f"`{RECORD_COMMAND}`.")
    if found[rel] != expected[rel]:
      raise ChecksumMismatchError(
          f"{rel}: sha256 {found[rel]} differs from the recorded "
          f"{expected[rel]} (tasks/demo_data/checksums.py): the source "
          "archives are pinned, so the builder or a library it uses "
          "(sentencepiece) changed. If that was intended, record the new sums "
          f"and shipped files with `{RECORD_COMMAND}`.")


def is_built(data_dir=None, expected=None):
  """True if MANIFEST.json matches the files and the recorded checksums."""
  data_dir = data_dir or config.data_dir()
  manifest = os.path.join(data_dir, outputs.DEMO_DIR, "MANIFEST.json")
  if not os.path.exists(manifest):
    return False
  with open(manifest) as f:
    stamp = json.load(f)
  if stamp.get("builder_version") != outputs.BUILDER_VERSION:
    return False
  expected = recorded() if expected is None else expected
  found = digests(data_dir)
  return (found == stamp.get("files")
          and all(found[r] == expected.get(r)
                  for r in outputs.expected_files()))


def write(path, found):
  """Writes MANIFEST.json: the builder version and the outputs' sums."""
  outputs.write_lines(path, json.dumps(
      {"builder_version": outputs.BUILDER_VERSION, "files": found}, indent=1,
      sort_keys=True).split("\n"))


def record_checksums(data_dir):
  """Writes the sha256 of the outputs in data_dir to checksums.py."""
  found = digests(data_dir)
  target = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "checksums.py")
  body = "".join(f"    {rel!r}:\n        {d!r},\n"
                 for rel, d in sorted(found.items()))
  with open(target, "w") as f:
    f.write('"""sha256 of every file `python -m conv_t5.tasks.demo_data` '
            'generates.\n\nWritten by `python -m conv_t5.tasks.demo_data '
            '--record_checksums`; every build\nis checked against it.\n"""\n\n'
            f"CHECKSUMS = {{\n{body}}}\n")
  return target
