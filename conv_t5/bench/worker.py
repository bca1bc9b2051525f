"""Entry point of a benchmark worker process (forked by `proc`).

`run` sends the worker's output to its log file and calls
`<module>.serve(conn, payload)` (step or core). The heavy imports
are in `preload`, which the fork server has loaded already.
"""

import os
import sys


def run(module, payload, conn, log_path):
  """In the forked worker: output to the log file, then module.serve()."""
  fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
  os.dup2(fd, 1)
  os.dup2(fd, 2)
  os.close(fd)
  sys.stdout = os.fdopen(1, "w", buffering=1)
  sys.stderr = os.fdopen(2, "w", buffering=1)
  from conv_t5.bench import preload  # pylint: disable=g-import-not-at-top
  preload.tf.disable_v2_behavior()
  target = __import__(module, fromlist=["serve"])
  try:
    target.serve(conn, payload)
  except Exception as e:  # pylint: disable=broad-except
    import traceback  # pylint: disable=g-import-not-at-top
    traceback.print_exc()
    try:
      conn.send({"error": f"{type(e).__name__}: {e}"})
    except (OSError, ValueError):
      pass
  finally:
    conn.close()
