"""Executes notebooks/conv_t5_demo.ipynb end to end (`make test-notebook`).

The kernel is the project's .venv Python (a kernelspec written into a
temporary JUPYTER_PATH), so the notebook takes its Python 3.11 path for real:
it finds the checkout's pinned set and installs nothing. Fails on any cell
error; checks that the pre-training loss falls, that an accuracy is printed
and that the plots are produced. Prints the time of each cell.
"""

import json
import os
import re
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
NOTEBOOK = os.path.join(ROOT, "notebooks", "conv_t5_demo.ipynb")
KERNEL = "conv_t5_venv"


def _venv_python():
  python = os.path.join(ROOT, ".venv", "bin", "python")
  return python if os.path.exists(python) else sys.executable


def _text(cell):
  parts = []
  for out in cell.get("outputs", []):
    if out.get("output_type") == "stream":
      parts.append(out.get("text", ""))
    elif "data" in out:
      parts.append(out["data"].get("text/plain", ""))
  return "".join(parts)


def _seconds(cell):
  timing = cell.get("metadata", {}).get("execution", {})
  start, end = timing.get("iopub.status.busy"), timing.get(
      "shell.execute_reply")
  if not (start and end):
    return None
  from datetime import datetime

  def parse(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
  return (parse(end) - parse(start)).total_seconds()


@pytest.mark.notebook
@pytest.mark.timeout(1800)
def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
  import nbformat
  from nbclient import NotebookClient

  spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
  spec_dir.mkdir(parents=True)
  (spec_dir / "kernel.json").write_text(json.dumps({
      "argv": [_venv_python(), "-m", "ipykernel_launcher", "-f",
               "{connection_file}"],
      "display_name": "conv_t5 .venv", "language": "python"}))
  monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
  monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
  monkeypatch.delenv("MPLBACKEND", raising=False)

  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = NotebookClient(
      nb, kernel_name=KERNEL, timeout=1200, allow_errors=False,
      resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}})
  start = time.monotonic()
  try:
    client.execute()
  finally:
    total = time.monotonic() - start
    out_path = os.environ.get("CONV_T5_NOTEBOOK_OUT")
    if out_path:  # the executed notebook, for a look at its outputs
      nbformat.write(nb, out_path)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    print(f"\nnotebook: {total:.0f} s in all")
    for i, cell in enumerate(code_cells, 1):
      secs = _seconds(cell)
      first = cell.source.strip().splitlines()[0][:60]
      print(f"  cell {i:2d}: {secs if secs is None else round(secs, 1)} s"
            f"  {first}")

  text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
  assert "nothing to install" in text, text[:2000]
  m = re.search(r"pre-training loss: ([\d.]+) at step (\d+), ([\d.]+) at "
                r"step (\d+)", text)
  assert m, text
  first, last = float(m.group(1)), float(m.group(3))
  assert int(m.group(4)) >= 250 and last < first - 1.0, m.group(0)
  m = re.search(r"validation accuracy after \d+ steps: ([\d.]+)%", text)
  assert m, text
  assert 0.0 <= float(m.group(1)) <= 100.0
  labels = re.findall(r"^\s*(positive|negative|\S+)\s+<-\s+", text, re.M)
  assert len(labels) == 3, text
  pngs = [o for c in nb.cells if c.cell_type == "code"
          for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
  assert len(pngs) >= 2  # the loss curve and the speed comparison
  assert re.search(r"\[bench\] tiny A L=\s*512 lightweight", text), text
