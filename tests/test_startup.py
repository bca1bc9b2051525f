"""The package's commands start quietly: no TensorFlow C++ INFO / WARNING
lines, no pkg_resources warning and none of TF's three "Unable to register
... factory" lines, even with TF_CPP_MIN_LOG_LEVEL unset; a user's
TF_CPP_MIN_LOG_LEVEL is kept, and every other line written to stderr while
TensorFlow loads comes through, in order."""

import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest

from conv_t5 import startup

BIN = os.path.dirname(sys.executable)
COMMANDS = {
    "conv_t5_mesh_transformer": [os.path.join(BIN, "conv_t5_mesh_transformer")],
    "conv_t5_convert": [os.path.join(BIN, "conv_t5_convert")],
    "cli": [sys.executable, "-m", "conv_t5.cli"],
    "demo_data": [sys.executable, "-m", "conv_t5.tasks.demo_data"],
    "bench": [sys.executable, "-m", "conv_t5.bench"],
    "demo": [sys.executable, "-m", "conv_t5.demo"],
    "convert": [sys.executable, "-m", "conv_t5.convert"],
}
# TF's C++ log lines: "2026-01-01 12:00:00.000000: I tensorflow/...".
CPP_INFO_OR_WARNING = re.compile(r"^\S+ \S+: [IW] \S+\]", re.M)


def help_stderr(name, **env):
  e = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  e.update(CUDA_VISIBLE_DEVICES="", **env)
  proc = subprocess.run(COMMANDS[name] + ["--help"], capture_output=True,
                        text=True, env=e, timeout=300, check=False)
  # absl's --help (t5's flags) exits with status 1, argparse's with 0.
  absl = name in ("conv_t5_mesh_transformer", "cli")
  assert proc.returncode == (1 if absl else 0), proc.stderr[-3000:]
  assert ("Try --helpfull" if absl else "usage:") in proc.stdout
  return proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_prints_no_tensorflow_or_pkg_resources_warnings(name):
  err = help_stderr(name)
  assert not CPP_INFO_OR_WARNING.findall(err), err
  assert "pkg_resources" not in err, err
  assert "WARNING:tensorflow" not in err, err
  assert "Unable to register" not in err, err


@pytest.mark.slow
def test_a_users_log_level_is_kept():
  err = help_stderr("demo_data", TF_CPP_MIN_LOG_LEVEL="0")
  assert CPP_INFO_OR_WARNING.findall(err), err


def test_quiet_sets_a_default_only(monkeypatch):
  monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  startup.quiet()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
  startup.quiet()
  assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_only_the_packages_commands_count_as_commands():
  assert startup.is_command(["-m"])
  assert startup.is_command(["/x/bin/conv_t5_mesh_transformer", "--help"])
  assert startup.is_command(["/x/bin/conv_t5_convert"])
  assert startup.is_command(["/x/Scripts/conv_t5_convert.exe"])
  assert not startup.is_command(["-c"])
  assert not startup.is_command(["/x/bin/pytest"])
  assert not startup.is_command([])


# What TF 2.15 prints while `import tensorflow` runs (tensorflow issue 62075).
HARMLESS = [
    b"2026-12-06 04:46:13.534369: E external/local_xla/xla/stream_executor/"
    b"cuda/cuda_dnn.cc:9261] Unable to register cuDNN factory: Attempting to "
    b"register factory for plugin cuDNN when one has already been registered",
    b"2026-12-06 04:46:13.534428: E external/local_xla/xla/stream_executor/"
    b"cuda/cuda_fft.cc:607] Unable to register cuFFT factory: Attempting to "
    b"register factory for plugin cuFFT when one has already been registered",
    b"2026-12-06 04:46:13.535440: E external/local_xla/xla/stream_executor/"
    b"cuda/cuda_blas.cc:1515] Unable to register cuBLAS factory: Attempting "
    b"to register factory for plugin cuBLAS when one has already been "
    b"registered",
]
H0, H1, H2 = (line + b"\n" for line in HARMLESS)
TF_2_14 = HARMLESS[0].replace(b"external/local_xla/xla",
                              b"tensorflow/compiler/xla")


def test_known_harmless_matches_the_three_lines_and_nothing_near():
  for line in HARMLESS + [TF_2_14]:
    assert startup.KNOWN_HARMLESS.fullmatch(line + b"\n"), line
  near_misses = [
      HARMLESS[0].replace(b": E ", b": F "),
      HARMLESS[0].replace(b"plugin cuDNN", b"plugin cuFFT"),
      HARMLESS[1].replace(b"already been registered", b"failed"),
      HARMLESS[2] + b"; and something else",
      HARMLESS[2].replace(b"cuda_blas.cc", b"cuda_blas_lt.cc"),
      b"E real error: " + HARMLESS[0],
  ]
  for line in near_misses:
    assert not startup.KNOWN_HARMLESS.fullmatch(line + b"\n"), line


def test_drop_known_harmless_keeps_every_other_byte_in_order():
  chunks = [b"first line\n" + HARMLESS[0][:50],   # a line split in two
            HARMLESS[0][50:] + b"\nE real", b" error\n",
            HARMLESS[1] + b"\r\n" + HARMLESS[2] + b"\n\n", b"no newline"]
  assert list(startup.drop_known_harmless(chunks)) == [
      b"first line\n", b"", b"E real error\n", b"\n", b"", b"no newline"]
  # An unfinished last line that matches is dropped too.
  assert list(startup.drop_known_harmless([b"a\n", HARMLESS[2]])) == [
      b"a\n", b""]


def test_copy_filtered_drains_its_input_when_the_output_breaks():
  src_r, src_w = os.pipe()
  dst_r, dst_w = os.pipe()
  os.close(dst_r)  # writing to dst_w now fails (EPIPE)
  data = b"x" * 99 + b"\n"

  def write():  # 300 kB: more than a pipe holds, blocks unless drained
    for _ in range(3000):
      os.write(src_w, data)
    os.close(src_w)

  writer = threading.Thread(target=write, daemon=True)
  writer.start()
  copier = threading.Thread(target=startup.copy_filtered,
                            args=(src_r, dst_w), daemon=True)
  copier.start()
  copier.join(60)
  writer.join(60)
  assert not copier.is_alive() and not writer.is_alive()
  os.close(src_r)
  os.close(dst_w)


def run_python(code, *args, env=None, **kwargs):
  e = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  e.update(CUDA_VISIBLE_DEVICES="", **(env or {}))
  return subprocess.run([sys.executable, *args, "-c", code] if code else
                        [sys.executable, *args], capture_output=True, env=e,
                        timeout=300, check=False, **kwargs)


# Writes to fd 2 as C code would (ctypes: libc's write), as Python does
# (sys.stderr) and as os.write does, with the harmless lines in between.
WRITES = textwrap.dedent(f"""
    import ctypes, os, sys
    from conv_t5 import startup
    def c_write(data):
      ctypes.CDLL(None).write(2, data, len(data))
    os.write(2, b"before\\n")
    with startup.filtered_stderr():
      c_write({H0!r} + b"E real error from C\\n")
      sys.stderr.write("from Python\\n")
      os.write(2, {H1 + H2!r})
      os.write(2, b"from os.write, ")
      c_write(b"one line\\n")
      ABORT
    sys.stderr.write("after\\n")
    """)


def test_filtered_stderr_drops_only_the_harmless_lines_in_order():
  proc = run_python(WRITES.replace("ABORT", "pass"))
  assert proc.returncode == 0, proc.stderr.decode()
  assert proc.stderr == (b"before\nE real error from C\nfrom Python\n"
                         b"from os.write, one line\nafter\n")


def test_what_precedes_a_crash_in_the_window_still_comes_through():
  proc = run_python(WRITES.replace(
      "ABORT", 'os.write(2, b"F fatal: aborting\\n"); os.abort()'))
  assert proc.returncode == -6  # SIGABRT
  assert proc.stderr == (b"before\nE real error from C\nfrom Python\n"
                         b"from os.write, one line\nF fatal: aborting\n")


def test_without_a_fd_2_the_block_runs_unfiltered():
  proc = run_python("import os; os.close(2); from conv_t5 import startup\n"
                    "with startup.filtered_stderr(): print('ran')")
  assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"ran\n", b"")


def test_the_hook_filters_the_tensorflow_package_once(tmp_path):
  package = tmp_path / "tensorflow"
  package.mkdir()
  writes = H0 + b"E real error\n" + H1
  (package / "__init__.py").write_text(f"import os\nos.write(2, {writes!r})\n")
  code = textwrap.dedent(f"""
      import sys
      sys.path.insert(0, {str(tmp_path)!r})
      from conv_t5 import startup
      assert startup.filter_tensorflow_import()
      import tensorflow
      print(type(tensorflow.__loader__).__name__,
            type(tensorflow.__spec__.loader).__name__,
            sum(isinstance(f, startup._FilterImport) for f in sys.meta_path),
            startup.filter_tensorflow_import())
      """)
  proc = run_python(code)
  assert proc.returncode == 0, proc.stderr.decode()
  assert proc.stdout == b"SourceFileLoader SourceFileLoader 0 False\n"
  assert proc.stderr == b"E real error\n"


def test_filter_waits_for_tensorflow_only_when_it_is_not_loaded(monkeypatch):
  monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
  assert "tensorflow" in sys.modules  # conftest imports it
  assert not startup.filter_tensorflow_import()
  hooks = [f for f in sys.meta_path if isinstance(f, startup._FilterImport)]  # pylint: disable=protected-access
  assert not hooks


# Inside the real `import tensorflow`: an error line (C-level write) and a
# Python line before TF's C++ library loads (and prints the harmless lines),
# and again after it.
SITECUSTOMIZE = textwrap.dedent("""
    import ctypes, sys
    AT = {"tensorflow.python.pywrap_tensorflow": b"E real error before\\n",
          "tensorflow.python.framework.dtypes": b"E real error after\\n"}
    class Inject:
      def find_spec(self, name, path, target=None):
        if name in AT:
          line = AT.pop(name)
          ctypes.CDLL(None).write(2, line, len(line))
          sys.stderr.write("from Python\\n")
        return None
    sys.meta_path.insert(0, Inject())
    """)
BEFORE = b"E real error before\nfrom Python\n"
AFTER = b"E real error after\nfrom Python\n"


@pytest.fixture(name="inject")
def inject_fixture(tmp_path):
  (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
  return {"PYTHONPATH": str(tmp_path)}


@pytest.mark.slow
def test_a_command_drops_the_harmless_lines_and_keeps_real_errors(inject):
  proc = run_python(None, "-m", "conv_t5.tasks.demo_data", "--help",
                    env=inject)
  assert proc.returncode == 0, proc.stderr.decode()
  assert proc.stderr == BEFORE + AFTER


TIME = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ")


def up_to_after(stderr):
  """The lines up to AFTER (the end of TensorFlow's import)."""
  return stderr[:stderr.index(AFTER) + len(AFTER)].splitlines(keepends=True)


def untimed(lines):
  return [TIME.sub(b"", line) for line in lines]


@pytest.mark.slow
def test_a_library_import_is_unfiltered_and_a_command_drops_just_3_lines(
    inject):
  code = ("import sys, conv_t5, tensorflow; from conv_t5 import startup; "
          "print(sum(isinstance(f, startup._FilterImport) "
          "for f in sys.meta_path))")
  env = dict(inject, TF_CPP_MIN_LOG_LEVEL="0")  # every C++ line
  library = run_python(code, env=env)
  assert library.returncode == 0, library.stderr.decode()
  assert library.stdout == b"0\n"
  command = run_python(None, "-m", "conv_t5.tasks.demo_data", "--help",
                       env=env)
  assert command.returncode == 0, command.stderr.decode()
  printed = up_to_after(library.stderr)
  matches = [startup.KNOWN_HARMLESS.fullmatch(line) for line in printed]
  assert [m.group(1) for m in matches if m] == [b"cuDNN", b"cuFFT", b"cuBLAS"]
  others = [line for line, m in zip(printed, matches) if not m]
  assert others[:2] == BEFORE.splitlines(keepends=True)
  assert untimed(up_to_after(command.stderr)) == untimed(others)
