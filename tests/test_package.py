"""The package as installed: imports, layout, pinned environment, the console
script's flags, the Makefile's re-install rule and .ci/run's exit status."""

import configparser
import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import pytest

import cli_helpers as h

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(path):
  with open(os.path.join(REPO, path)) as f:
    return f.read()


def _pins():
  pins = {}
  for line in _read("constraints.txt").splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
      name, version = line.split("==")
      pins[_canonical(name)] = version
  return pins


def _canonical(name):
  return re.sub(r"[-_.]+", "-", name).lower()


def test_import_in_a_fresh_interpreter(tmp_path):
  code = (
      "import sys, conv_t5, mesh_tensorflow, t5.models, conv_t5.tasks, gin\n"
      "import importlib.util as u\n"
      "assert u.find_spec('tasks') is None, 'a top-level tasks module'\n"
      "assert hasattr(gin, 'parse_config'), gin.__file__\n"
      "import seqio\n"
      "assert 'demo_span_corruption' in seqio.TaskRegistry.names()\n"
      "print(conv_t5.__version__)\n")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, env=h.env(), timeout=300, check=False,
                        cwd=tmp_path)  # not the checkout: as a user has it
  assert proc.returncode == 0, proc.stderr[-3000:]
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  assert proc.stdout.strip() == cfg["metadata"]["version"]


def test_layout_of_the_design_card():
  for folder in ("conv_t5", "tasks", "gin", "gin/models", "launch", "tests"):
    assert os.path.isdir(os.path.join(REPO, folder)), folder
  for path in ("setup.cfg", "pyproject.toml", "README.md", "Makefile",
               "constraints.txt", ".ci/run"):
    assert os.path.isfile(os.path.join(REPO, path)), path
  assert os.stat(os.path.join(REPO, ".ci/run")).st_mode & stat.S_IXUSR
  assert 'build-backend = "setuptools.build_meta"' in _read("pyproject.toml")
  if os.path.isdir(os.path.join(REPO, ".git")):  # what a fresh clone gets
    tracked = subprocess.run(["git", "ls-files", "launch", "gin/cpu.gin"],
                             cwd=REPO, capture_output=True, text=True,
                             check=False).stdout.split()
    assert "gin/cpu.gin" in tracked and any(
        t.startswith("launch/") for t in tracked), tracked


def test_constraints_pin_a_consistent_set_and_the_venv_has_it():
  pins = _pins()
  major, minor = (int(x) for x in pins["tensorflow"].split(".")[:2])
  assert (major, minor) <= (2, 15)  # tf.estimator, which t5 and mesh need
  assert "seqio-nightly" in pins and "tfds-nightly" in pins
  assert "seqio" not in pins and "tensorflow-datasets" not in pins
  assert pins["protobuf"].startswith("4.")
  for name in ("sentencepiece", "tensorflow-metadata", "setuptools", "torch",
               "t5", "mesh-tensorflow", "gin-config", "pytest"):
    assert name in pins, name
  assert int(pins["setuptools"].split(".")[0]) < 81  # pkg_resources
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  for req in cfg["options"]["install_requires"].split("\n"):
    if req.strip():
      name = _canonical(re.split(r"[<>=!~ ]", req.strip(), 1)[0])
      assert name in pins, f"{name} (setup.cfg) has no pin in constraints.txt"
  wrong = {}
  for name, version in pins.items():
    try:
      installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      installed = None
    if installed is None or installed.split("+")[0] != version:  # 2.13.0+cpu
      wrong[name] = (version, installed)
  assert not wrong, f"pinned vs installed: {wrong}"


def test_console_script_takes_every_t5_mesh_transformer_flag():
  import t5.models  # pylint: disable=g-import-not-at-top
  import mesh_tensorflow.transformer  # pylint: disable=g-import-not-at-top
  t5_main = os.path.join(os.path.dirname(t5.models.__file__),
                         "mesh_transformer_main.py")
  mtf_utils = os.path.join(os.path.dirname(mesh_tensorflow.transformer.__file__),
                           "utils.py")
  names = set()
  for path in (t5_main, mtf_utils):
    with open(path) as f:
      names |= set(re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', f.read()))
  assert {"gin_file", "gin_param", "module_import", "use_model_api"} <= names
  proc = subprocess.run([h.CLI, "--helpfull"], capture_output=True, text=True,
                        env=h.env(), timeout=300, check=False)
  assert "t5.models.mesh_transformer_main:" in proc.stdout, proc.stderr[-3000:]
  missing = [n for n in names
             if f"--{n}" not in proc.stdout and f"--[no]{n}" not in proc.stdout]
  assert not missing, missing


def _fake_checkout(tmp_path):
  """A copy of the build files with an up-to-date .venv stamp whose python is
  the real venv's, so `make` runs the real rules without installing."""
  for name in ("Makefile", "setup.cfg", "pyproject.toml", "constraints.txt"):
    shutil.copy(os.path.join(REPO, name), tmp_path / name)
  (tmp_path / ".ci").mkdir()
  shutil.copy(os.path.join(REPO, ".ci", "run"), tmp_path / ".ci" / "run")
  bin_dir = tmp_path / ".venv" / "bin"
  bin_dir.mkdir(parents=True)
  python = bin_dir / "python"
  python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
  python.chmod(0o755)
  old = time.time() - 100
  for name in ("Makefile", "setup.cfg", "pyproject.toml", "constraints.txt"):
    os.utime(tmp_path / name, (old, old))
  (tmp_path / ".venv" / ".installed").touch()
  return tmp_path


def _make(cwd, *args):
  """make as a user's shell runs it: not as a sub-make of the `make test`
  that runs this test (which would print "Entering directory" lines)."""
  env = {k: v for k, v in h.env().items()
         if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
  return subprocess.run(["make", *args], cwd=cwd, capture_output=True,
                        text=True, check=False, env=env)


@pytest.mark.parametrize("changed", ["setup.cfg", "constraints.txt",
                                     "pyproject.toml"])
def test_makefile_reinstalls_when_the_pins_change(tmp_path, changed):
  checkout = _fake_checkout(tmp_path)
  assert _make(checkout, "-q", "venv").returncode == 0  # up to date: reuse
  dry = _make(checkout, "-n", "test").stdout
  assert "pip install" not in dry and "-m pytest tests" in dry
  os.utime(checkout / changed, None)  # now newer than the stamp
  assert _make(checkout, "-q", "venv").returncode == 1
  dry = _make(checkout, "-n", "test").stdout
  assert "pip install --quiet --disable-pip-version-check --no-deps -r constraints.txt" in dry
  assert "--no-deps --no-build-isolation -e ." in dry


@pytest.mark.parametrize("python,found", [
    ("/nonexistent/python3", "not found"), ("fake312", "3.12")])
def test_make_refuses_another_python_before_installing(tmp_path, python,
                                                        found):
  """Without a .venv, make checks the interpreter first: one line naming it,
  its version and the fix, status 2, and nothing installed."""
  checkout = _fake_checkout(tmp_path)
  shutil.rmtree(checkout / ".venv")
  if python == "fake312":
    python = str(tmp_path / "python3.12")
    with open(python, "w") as f:
      f.write('#!/bin/sh\necho 3.12\n')
    os.chmod(python, 0o755)
  proc = _make(checkout, "test", f"PYTHON={python}")
  assert proc.returncode == 2
  assert proc.stdout == ""
  line = 1 + open(checkout / "Makefile").read().splitlines().index(
      "\t$(if $(wildcard $(PY)),,$(if $(filter 3.11,$(PYTHON_VERSION)),,"
      "$(error $(PYTHON_ERROR))))")
  assert proc.stderr.splitlines() == [
      f"Makefile:{line}: *** conv_t5 needs Python 3.11 but PYTHON={python} is "
      f"{found}: install Python 3.11 and run `make "
      f"PYTHON=/path/to/python3.11 test`.  Stop."]
  assert not (checkout / ".venv").exists()


PAPER_CONFTEST = """
import os
import pytest

def pytest_configure(config):
  config.addinivalue_line("markers", "paper_configs: big")

def pytest_collection_modifyitems(config, items):
  if os.environ.get("CONV_T5_PAPER_CONFIGS") != "1":
    for item in items:
      if "paper_configs" in item.keywords:
        item.add_marker(pytest.mark.skip(reason="opt in"))
"""

CI_CASES = {
    "passing": ("def test_ok():\n  assert True\n", 0),
    "failing": ("def test_bad():\n  assert False\n", 1),
    "none collected": (None, 1),
    "all skipped": ("import pytest\n@pytest.mark.skip\ndef test_s():\n  pass\n", 1),
}


@pytest.mark.parametrize("case", sorted(CI_CASES))
def test_ci_run_fails_when_tests_fail_or_none_ran(tmp_path, case):
  checkout = _fake_checkout(tmp_path)
  (checkout / "tests").mkdir()
  source, expected = CI_CASES[case]
  if source:
    (checkout / "tests" / "test_case.py").write_text(source)
  if case == "passing":  # what `make test-paper-configs` runs after `make test`
    (checkout / "tests" / "conftest.py").write_text(PAPER_CONFTEST)
    (checkout / "tests" / "test_model_configs.py").write_text(
        "import pytest\n@pytest.mark.paper_configs\ndef test_big():\n  pass\n")
    # what `make test-demo` and `make test-notebook` run after it
    for path, marker in [("experiments/test_demo.py", "demo"),
                         ("experiments/test_release.py", "demo"),
                         ("notebooks/test_notebook.py", "notebook")]:
      (checkout / "tests" / path).parent.mkdir(exist_ok=True)
      (checkout / "tests" / path).write_text(
          f"import pytest\n@pytest.mark.{marker}\ndef test_it():\n  pass\n")
  proc = subprocess.run([str(checkout / ".ci" / "run")], cwd=checkout,
                        capture_output=True, text=True, check=False,
                        env=h.env(), timeout=300)
  assert (proc.returncode != 0) == bool(expected), (proc.stdout, proc.stderr)
  if case == "passing":
    assert ".ci/run: junit.xml: 1 tests ran, 1 skipped" in proc.stdout
    assert ".ci/run: junit-paper.xml: 1 tests ran" in proc.stdout
    assert ".ci/run: junit-demo.xml: 2 tests ran, 0 skipped, 0 failed" in proc.stdout
    assert ".ci/run: junit-notebook.xml: 1 tests ran" in proc.stdout
    # Each phase's wall time, as it ends and together at the end.
    phases = ["venv", "data", "test", "paper-configs", "demo", "notebook"]
    for name in phases:
      assert re.search(rf"^\.ci/run: phase {name} took \d+:\d\d$",
                       proc.stdout, re.M), name
    summary = proc.stdout.split(".ci/run: phase wall times (m:ss)")[1]
    assert [l.split()[0] for l in summary.splitlines()[1:7]] == phases
