"""What this machine is: CPU model, CPUs available, RAM and load; and which
commit of conv_t5 runs on it.

The one description of the machine that results record: the grid's stage
markers (`summary()`, whose keys the demo's results.json has always had) and
the benchmark's metadata (`metadata()`). Read from /proc (Linux), without
importing TensorFlow.
"""

import datetime
import os
import platform
import subprocess


def cpu_model():
  """The CPU's model name, e.g. "AMD EPYC 7B13"; "unknown" if not readable."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def nproc():
  """CPUs this process may run on (its affinity mask; os.cpu_count() where
  the platform has no affinity)."""
  if hasattr(os, "sched_getaffinity"):
    return len(os.sched_getaffinity(0))
  return os.cpu_count()


def ram_gb():
  """Total RAM in GiB, one decimal; None if not readable."""
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemTotal:"):
          return round(int(line.split()[1]) / 2**20, 1)
  except OSError:
    pass
  return None


def load_average():
  """The 1, 5 and 15 minute load averages, two decimals."""
  return [round(x, 2) for x in os.getloadavg()]


def git_commit():
  """HEAD of the checkout this package runs from, with "+dirty" if it has
  changes to tracked files; "unknown" outside a git checkout."""
  here = os.path.dirname(os.path.abspath(__file__))
  try:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                          capture_output=True, text=True, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "-uno"],
                           cwd=here, capture_output=True, text=True,
                           check=True)
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def summary():
  """{"nproc", "cpu", "ram_gb"}: what a grid stage records of its machine."""
  info = {"nproc": nproc(), "cpu": cpu_model()}
  ram = ram_gb()
  if ram is not None:
    info["ram_gb"] = ram
  return info


def metadata():
  """Machine and software facts for the benchmark's JSON; package versions
  are read from their metadata, without importing them."""
  from importlib import metadata as md  # pylint: disable=g-import-not-at-top
  versions = {}
  for pkg in ("tensorflow", "mesh-tensorflow", "t5", "gin-config", "numpy"):
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  return {
      "commit": git_commit(),
      "machine": platform.node(),
      "platform": platform.platform(),
      "python": platform.python_version(),
      "cpu_model": cpu_model(),
      "nproc": nproc(),
      "ram_gb": ram_gb(),
      "versions": versions,
      "date": datetime.datetime.now().astimezone().isoformat(
          timespec="seconds"),
  }
