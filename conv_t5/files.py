"""Whole-file writes that readers never see half done (results, markers),
and a file's sha256 (the demo data, the release).

Local paths: a temporary file in the same directory, flushed and fsynced, then
os.replace (atomic on POSIX), so a crash or SIGKILL leaves the old file or the
new one. Other filesystems (gs://, through tf.io.gfile): a single object
upload, which GCS makes visible only when complete.

TensorFlow is imported only for non-local paths, so that the demo driver and
the results collector stay light.
"""

import json
import os
import tempfile


def atomic_write_bytes(path, data):
  """Writes `data` (bytes) to `path` atomically; returns `path`."""
  if "://" in path:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    with tf.io.gfile.GFile(path, "wb") as f:
      f.write(data)
    return path
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                             suffix=".tmp", dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return path


def atomic_write_text(path, text):
  """Writes `text` (str, UTF-8) to `path` atomically; returns `path`."""
  if not isinstance(text, str):
    raise TypeError(f"atomic_write_text({path!r}): text must be str, "
                    f"got {type(text).__name__}")
  return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
  """Writes `obj` as indented, key-sorted JSON atomically; returns `path`."""
  return atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def sha256_file(path):
  """The sha256 of a local file, hex (read in 1 MiB blocks)."""
  import hashlib  # pylint: disable=g-import-not-at-top
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()
