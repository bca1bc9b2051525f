"""Quiet start-up for the package's own commands, before TensorFlow loads.

Run outside `make` (which exports TF_CPP_MIN_LOG_LEVEL=2), every command used
to print TensorFlow's C++ start-up lines (CUDA stubs, CPU features, TensorRT)
and setuptools' deprecation warning for `import pkg_resources` (made by
mesh-tensorflow and tensorflow_hub) before doing anything, even for --help.
`import conv_t5` calls `quiet()` when the process is one of the package's
commands:

  * `python -m conv_t5.<anything>` (demo, bench, convert, tasks.demo_data,
    experiments.worker, cli, ...): while Python locates the module it imports
    the parent package with sys.argv[0] == "-m" (documented for -m), before
    the module's own imports, TensorFlow's included;
  * the console scripts of setup.cfg (sys.argv[0] is the script).

Importing conv_t5 as a library (a notebook, a test, `python -c`) changes
nothing. A value of TF_CPP_MIN_LOG_LEVEL set by the user is kept.

TF 2.14 and 2.15 also print three "Unable to register cuDNN/cuFFT/cuBLAS factory"
lines at level E while `import tensorflow` runs (tensorflow/tensorflow issue
62075; harmless, and only level 3 hides them, which would hide real errors
too). For a command, `quiet()` therefore runs TensorFlow's import (whenever
it comes) with file descriptor 2 piped through a filter that drops exactly
those lines (`KNOWN_HARMLESS`) and passes every other byte on, in order. The
filter is a child process (this file run as a script), not a thread: it
drains the pipe while the import holds the GIL in C code, and forwards what
was written even if the import aborts or crashes the process.
"""

import contextlib
import functools
import os
import re
import sys
import warnings

TF_CPP_MIN_LOG_LEVEL = "2"   # hide C++ INFO and WARNING lines, keep errors
CONSOLE_SCRIPTS = ("conv_t5_mesh_transformer", "conv_t5_convert")
PKG_RESOURCES_WARNING = r"pkg_resources is deprecated as an API"
# The lines `import tensorflow` prints on a machine with or without CUDA, e.g.
# "2026-01-01 12:00:00.000000: E external/local_xla/xla/stream_executor/cuda/
# cuda_dnn.cc:9261] Unable to register cuDNN factory: Attempting to register
# factory for plugin cuDNN when one has already been registered" (TF 2.14
# has tensorflow/compiler/xla/... as the path).
KNOWN_HARMLESS = re.compile(
    rb"\S+ \S+: E \S*stream_executor/cuda/cuda_(?:dnn|fft|blas)\.cc:\d+\] "
    rb"Unable to register (cuDNN|cuFFT|cuBLAS) factory: Attempting to "
    rb"register factory for plugin \1 when one has already been registered"
    rb"\r?\n?")
FILTER_ARG = "--filter-known-harmless-lines"
FILTER_EXIT_WAIT_S = 10  # for the filter to forward the last lines


def is_command(argv=None):
  """Whether this process runs one of the package's commands."""
  argv = sys.argv if argv is None else argv
  first = argv[0] if argv else ""
  script = os.path.splitext(os.path.basename(first))[0]  # Windows: .exe
  return first == "-m" or script in CONSOLE_SCRIPTS


def quiet():
  """TF_CPP_MIN_LOG_LEVEL defaults to 2; the pkg_resources warning is off;
  TensorFlow's import will drop its KNOWN_HARMLESS lines."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_CPP_MIN_LOG_LEVEL)
  warnings.filterwarnings("ignore", message=PKG_RESOURCES_WARNING,
                          category=UserWarning)
  filter_tensorflow_import()


def filter_tensorflow_import():
  """Runs the coming `import tensorflow` under `filtered_stderr()`.

  Returns:
    Whether the filter is (now) waiting for the import: False if TensorFlow
    is loaded already, or on Windows (no CUDA build prints the lines there).
  """
  if "tensorflow" in sys.modules or os.name != "posix":
    return False
  if not any(isinstance(f, _FilterImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _FilterImport())
  return True


@contextlib.contextmanager
def filtered_stderr():
  """File descriptor 2 goes through a filter process for the duration.

  Everything written to fd 2 meanwhile (C/C++ code, Python's sys.stderr)
  reaches the original fd 2 in order, minus the KNOWN_HARMLESS lines; it is
  all through when the block ends. If the filter cannot start (say fd 2 is
  closed), the block runs unfiltered.
  """
  import subprocess  # pylint: disable=g-import-not-at-top
  _flush_stderr()
  started = _start_filter(subprocess)
  if started is None:
    yield
    return
  saved, write, proc = started
  os.dup2(write, 2)
  os.close(write)
  try:
    yield
  finally:
    _flush_stderr()
    os.dup2(saved, 2)  # the filter sees EOF: every write end is closed
    os.close(saved)
    try:
      proc.wait(FILTER_EXIT_WAIT_S)
    except subprocess.TimeoutExpired:  # a child of the import holds the pipe
      pass


def _start_filter(subprocess):
  """(a copy of fd 2, the pipe's write end, the filter process), or None
  if one of them cannot be had."""
  fds = []
  try:
    fds.append(os.dup(2))
    fds.extend(os.pipe())
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), FILTER_ARG],
        stdin=fds[1], stdout=fds[0], stderr=fds[0])
  except (OSError, ValueError):  # no fd 2, no fds left, no sys.executable
    for fd in fds:
      os.close(fd)
    return None
  os.close(fds[1])
  return fds[0], fds[2], proc


def drop_known_harmless(chunks):
  """Yields, per chunk of bytes, the lines it completes that KNOWN_HARMLESS
  does not match (a line waits for its newline); at the end, an unfinished
  last line unless it matches."""
  pending = b""
  for chunk in chunks:
    lines = (pending + chunk).split(b"\n")
    pending = lines.pop()
    yield b"".join(line + b"\n" for line in lines
                   if not KNOWN_HARMLESS.fullmatch(line + b"\n"))
  if pending and not KNOWN_HARMLESS.fullmatch(pending):
    yield pending


def copy_filtered(src, dst):
  """Copies file descriptor src to dst until EOF, through
  drop_known_harmless. If dst breaks, src is still drained, so that its
  writers never block."""
  broken = False
  for out in drop_known_harmless(iter(functools.partial(os.read, src, 1 << 16),
                                      b"")):
    if out and not broken:
      try:
        _write_all(dst, out)
      except OSError:
        broken = True


def _write_all(fd, data):
  while data:
    data = data[os.write(fd, data):]


def _flush_stderr():
  try:
    sys.stderr.flush()
  except (AttributeError, OSError, ValueError):  # None, or closed
    pass


def _filter_main():
  """The filter process: stdin to stdout, KNOWN_HARMLESS lines dropped."""
  import signal  # pylint: disable=g-import-not-at-top
  # Ctrl-C reaches the whole process group: the command handles it, and the
  # filter forwards what the command writes until its last write end closes.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  copy_filtered(0, 1)
  os._exit(0)  # all written (os.write); the command waits for this exit


class _FilterImport:
  """A sys.meta_path entry that finds no module itself: when `tensorflow`
  is about to load, it takes the spec the other finders give and wraps the
  loader so that the package runs under filtered_stderr(); then it leaves
  sys.meta_path."""

  def find_spec(self, name, path, target=None):
    if name != "tensorflow":
      return None
    if self in sys.meta_path:
      sys.meta_path.remove(self)
    for finder in sys.meta_path:
      find = getattr(finder, "find_spec", None)
      spec = find(name, path, target) if find else None
      if spec is not None:
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
          spec.loader = _FilteredExec(spec.loader)
        return spec
    return None


class _FilteredExec:
  """TensorFlow's own loader, its exec_module under filtered_stderr(); the
  module keeps the original loader."""

  def __init__(self, loader):
    self._loader = loader

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    module.__loader__ = self._loader
    if getattr(module, "__spec__", None) is not None:
      module.__spec__.loader = self._loader
    with filtered_stderr():
      self._loader.exec_module(module)

  def __getattr__(self, name):  # get_source, get_filename, is_package, ...
    return getattr(self._loader, name)


if __name__ == "__main__" and sys.argv[1:] == [FILTER_ARG]:
  _filter_main()
