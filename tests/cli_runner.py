"""Runs several conv_t5_mesh_transformer command lines in one process.

    python tests/cli_runner.py cases.json results.json

Each command pays TF / t5 / torch start-up once instead of per command: the
catalogue and model-parallel tests use it. Every case runs through
`conv_t5.cli.run`, i.e. the console entry point's own code (flags parsed,
gin cleared, t5's mesh_transformer_main.main). A case is a dict:

  name      a key for the results
  argv      the command line without the program name, or
  python    Python source to exec instead (status 0 if it returns; the
            exception's text goes to "message" if it raises)
  copy      optional [src, dst]: copy the directory tree src to dst first
  setup     optional Python source run in this process before the case (e.g.
            patches that make a network access fail loudly); what it changes
            stays for the cases after it
  log       path where the case's fd 2 (TF's C++ and absl logs, tf.Print
            losses) is written

results.json maps name -> {"status": exit status or None if it raised,
"message": what the CLI printed as its error, "exception": a traceback or
None, "seconds": wall time}.
"""

import contextlib
import io
import json
import os
import shutil
import sys
import time
import traceback


def _run_case(case, cli):
  if case.get("setup"):
    exec(case["setup"], {})  # pylint: disable=exec-used
  if case.get("copy"):
    src, dst = case["copy"]
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
  captured = io.StringIO()
  log_fd = os.open(case["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
  saved_fd = os.dup(2)
  status, exception = None, None
  start = time.time()
  sys.stderr.flush()
  os.dup2(log_fd, 2)
  try:
    with contextlib.redirect_stderr(captured):
      if "python" in case:
        exec(case["python"], {})  # pylint: disable=exec-used
        status = 0
      else:
        status = cli.run(["conv_t5_mesh_transformer"] + case["argv"])
  except BaseException as e:  # pylint: disable=broad-except
    exception = traceback.format_exc()
    captured.write(f"{type(e).__name__}: {e}")
  finally:
    sys.stderr.flush()
    os.dup2(saved_fd, 2)
    os.close(saved_fd)
    os.close(log_fd)
  if exception:
    with open(case["log"], "a") as f:
      f.write(exception)
  return {"status": status, "message": captured.getvalue(),
          "exception": exception, "seconds": round(time.time() - start, 1)}


def main(spec_path, out_path):
  from conv_t5 import cli  # pylint: disable=g-import-not-at-top
  with open(spec_path) as f:
    cases = json.load(f)
  results = {}
  for case in cases:
    results[case["name"]] = _run_case(case, cli)
    with open(out_path, "w") as f:  # written after each case: partial results
      json.dump(results, f, indent=1)  # survive a crash of a later one
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1], sys.argv[2]))
