"""What the benchmark ran on: machine, load, versions (the JSON's metadata)."""

import datetime
import os
import platform


def _cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def _mem_total_gb():
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemTotal:"):
          return round(int(line.split()[1]) / 2**20, 1)
  except OSError:
    pass
  return None


def load_average():
  return [round(x, 2) for x in os.getloadavg()]


def metadata():
  """Machine and software facts; versions read without importing TF."""
  from importlib import metadata as md
  versions = {}
  for pkg in ("tensorflow", "mesh-tensorflow", "t5", "gin-config", "numpy"):
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  return {
      "machine": platform.node(),
      "platform": platform.platform(),
      "python": platform.python_version(),
      "cpu_model": _cpu_model(),
      "nproc": os.cpu_count(),
      "ram_gb": _mem_total_gb(),
      "versions": versions,
      "date": datetime.datetime.now().astimezone().isoformat(
          timespec="seconds"),
  }
