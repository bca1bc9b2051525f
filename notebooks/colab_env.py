"""The notebook's environment: where conv_t5's commands run, and running them.

The pinned stack (constraints.txt) needs Python 3.11: TensorFlow 2.15 is the
last release with tf.estimator (mesh-tensorflow and t5 need it) and has no
wheel for Python 3.12 or later. `plan()` decides, without changing anything:

  ready     an interpreter that already has the pinned set and this
            checkout's conv_t5 (the checkout's own .venv, or the running
            Python 3.11): nothing to install
  install   the running interpreter is Python 3.11: install the pinned set
            into it, as the Makefile's venv target does
  create    any other Python (Colab's runtime is 3.12+): create a Python 3.11
            environment in <checkout>/.venv (python3.11 -m venv when a
            python3.11 is on PATH, else uv, installed with pip if missing,
            which fetches a Python 3.11) and install the pinned set there

Every later cell runs conv_t5 through `Env.bin_dir` (its `python` and
`conv_t5_mesh_transformer`), so the notebook's own kernel needs only the
standard library and matplotlib. Unit-tested in tests/notebooks/.
"""

import collections
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

PYTHON = (3, 11)
PIP = ["-m", "pip", "install", "--disable-pip-version-check", "--no-deps"]

Plan = collections.namedtuple("Plan", ["kind", "bin_dir", "commands", "why"])


def find_checkout(start):
  """The conv_t5 checkout containing `start` (a directory), or None."""
  path = os.path.abspath(start)
  while True:
    cfg = os.path.join(path, "setup.cfg")
    if (os.path.isfile(cfg) and
        os.path.isfile(os.path.join(path, "constraints.txt")) and
        re.search(r"^name\s*=\s*conv_t5\s*$", _read(cfg), re.M)):
      return path
    parent = os.path.dirname(path)
    if parent == path:
      return None
    path = parent


def _read(path):
  with open(path, encoding="utf-8") as f:
    return f.read()


def pins(root):
  """{normalised name: version} of constraints.txt."""
  out = {}
  for line in _read(os.path.join(root, "constraints.txt")).splitlines():
    line = line.split("#", 1)[0].strip()
    if "==" in line:
      name, version = line.split("==", 1)
      out[_norm(name)] = version.strip()
  return out


def _norm(name):
  return re.sub(r"[-_.]+", "-", name).lower()


# Run by the interpreter under test: which pins it lacks, and where conv_t5
# comes from. Printed as JSON.
_CHECK = r"""
import importlib.metadata as md, importlib.util, json, re, sys
pins = json.loads(sys.argv[1])
have = {}
for d in md.distributions():
  name = d.metadata["Name"]
  if name:
    have[re.sub(r"[-_.]+", "-", name).lower()] = d.version
# As pip's ==: a pin without a local label matches any (2.13.0 ~ 2.13.0+cpu).
same = lambda h, v: h == v or (h and "+" not in v and h.split("+")[0] == v)
wrong = sorted(f"{n}=={v} (installed: {have.get(n)})"
               for n, v in pins.items() if not same(have.get(n), v))
spec = importlib.util.find_spec("conv_t5")
print(json.dumps({"wrong": wrong,
                  "conv_t5": spec.origin if spec else None}))
"""


def check(python, root, runner=subprocess.run):
  """Problems that keep `python` from running this checkout's pinned set.

  Returns a list of strings, empty when the pinned versions are installed,
  `pip check` passes and `import conv_t5` loads this checkout's code.
  """
  if not os.path.isfile(python):
    return [f"{python} does not exist"]
  cwd = os.path.dirname(os.path.abspath(root))  # keep the checkout off sys.path
  res = runner([python, "-c", _CHECK, json.dumps(pins(root))], cwd=cwd,
               capture_output=True, text=True)
  if res.returncode != 0:
    return [f"{python} could not check its packages: {res.stderr[-500:]}"]
  found = json.loads(res.stdout.strip().splitlines()[-1])
  problems = list(found["wrong"])
  origin = found["conv_t5"]
  package = os.path.join(os.path.abspath(root), "conv_t5") + os.sep
  if not origin or not os.path.abspath(origin).startswith(package):
    problems.append(f"conv_t5 is not installed from {root} (found: {origin})")
  res = runner([python, "-m", "pip", "check"], cwd=cwd, capture_output=True,
               text=True)
  if res.returncode != 0:
    problems.append("pip check: " + res.stdout.strip()[-500:])
  return problems


def install_commands(python, root):
  """The Makefile's venv target: the pinned set, then conv_t5, then pip check."""
  return [
      [python] + PIP + ["-r", os.path.join(root, "constraints.txt")],
      [python] + PIP + ["--no-build-isolation", "-e", root],
      [python, "-m", "pip", "check"],
  ]


def create_commands(root, venv, executable=sys.executable, which=shutil.which):
  """Commands that create a Python 3.11 venv at `venv` with the pinned set."""
  python = os.path.join(venv, "bin", "python")
  py311 = which("python3.11")
  if py311:
    make = [[py311, "-m", "venv", venv]]
  else:
    make = []
    uv = [which("uv")] if which("uv") else None
    if not uv:  # from PyPI; `python -m uv` finds its binary off PATH too
      make.append([executable, "-m", "pip", "install", "--quiet", "uv"])
      uv = [executable, "-m", "uv"]
    make.append(uv + ["venv", "--seed", "--python", "%d.%d" % PYTHON, venv])
  return make + install_commands(python, root)


def plan(root, version=None, executable=None, which=shutil.which,
         checker=check):
  """What the install cell will do (see the module docstring).

  Args:
    root: the conv_t5 checkout.
    version: (major, minor) of the running Python; default the running one
      (a test passes (3, 12) to see the path Colab takes).
    executable: the running interpreter; default sys.executable.
    which: shutil.which, or a stand-in.
    checker: check(), or a stand-in: (python, root) -> list of problems.
  Returns:
    Plan(kind, bin_dir, commands, why).
  """
  version = tuple(version or sys.version_info[:2])
  executable = executable or sys.executable
  venv = os.path.join(root, ".venv")
  venv_python = os.path.join(venv, "bin", "python")
  candidates = [venv_python]
  if version == PYTHON:
    candidates.insert(0, executable)
  for python in candidates:
    if os.path.exists(python) and not checker(python, root):
      return Plan("ready", os.path.dirname(python), [],
                  f"{python} already has the pinned set and this checkout's "
                  "conv_t5: nothing to install")
  if version == PYTHON:
    return Plan("install", os.path.dirname(executable),
                install_commands(executable, root),
                "Python 3.11 is running: the pinned set goes into it")
  return Plan("create", os.path.join(venv, "bin"),
              create_commands(root, venv, executable, which),
              f"Python {version[0]}.{version[1]} is running and TensorFlow "
              "2.15 has no wheel for it: a Python 3.11 environment is "
              f"created in {venv}")


class Env:
  """Runs conv_t5's commands with the interpreter of `bin_dir`."""

  def __init__(self, root, bin_dir):
    self.root = root
    self.bin_dir = bin_dir
    self.python = os.path.join(bin_dir, "python")
    self.environ = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                        CUDA_VISIBLE_DEVICES="",
                        CONV_T5_DATA_DIR=os.path.join(root, "data"))
    self.environ.pop("MPLBACKEND", None)  # the kernel's inline backend

  def tool(self, name):
    return os.path.join(self.bin_dir, name)

  def run(self, args, show=None, log=None, echo=True, capture=False):
    """Runs a command in the checkout; returns its output if `capture`.

    show: None prints every output line; otherwise a function line -> text
    or None (what to print for it). Standard error is merged into the output
    unless show is None and the command is `python -c` code (see
    python_code). On failure the last 40 lines are printed and
    subprocess.CalledProcessError is raised. log: also write the output
    there. echo: print the command first.
    """
    if echo:
      print(self.shell_text(args), flush=True)
    lines = []
    with tempfile.TemporaryFile("w+") as err:
      code = len(args) > 1 and args[1] == "-c"
      proc = subprocess.Popen(
          args, cwd=self.root, env=self.environ, stdout=subprocess.PIPE,
          stderr=err if code else subprocess.STDOUT, text=True, bufsize=1)
      for line in proc.stdout:
        lines.append(line)
        text = line.rstrip("\n") if show is None else show(line)
        if text is not None:
          print(text, flush=True)
      proc.wait()
      err.seek(0)
      errors = err.read()
    out = "".join(lines)
    if log:
      os.makedirs(os.path.dirname(log), exist_ok=True)
      with open(log, "w", encoding="utf-8") as f:
        f.write(out + errors)
    if proc.returncode != 0:
      tail = (out + errors).splitlines()[-40:]
      print("\n".join(tail), file=sys.stderr)
      raise subprocess.CalledProcessError(proc.returncode, args[:2], out)
    return out if capture else None

  def shell_text(self, args):
    """A command as a shell would take it, one flag a line, $BIN for the
    environment's bin directory (what the cells print)."""
    words = []
    for i, arg in enumerate(args):
      if i == 0 and arg.startswith(self.bin_dir + os.sep):
        words.append("$BIN/" + arg[len(self.bin_dir) + 1:])
      elif shlex.quote(arg) == arg:
        words.append(arg)
      elif not set(arg) & set('"$`\\!'):
        words.append(f'"{arg}"')
      else:
        words.append(shlex.quote(arg))
    if len(" ".join(words)) <= 100:
      return "$ " + " ".join(words)
    lines, line = [], "$"
    for arg, word in zip(args, words):
      if arg.startswith("-") and len(line) > 2:
        lines.append(line)
        line = "   "
      line += " " + word
    return " \\\n".join(lines + [line])

  def python_code(self, code, show=None, capture=False):
    """Runs Python code with the environment's interpreter (its standard
    error, TensorFlow's log, is shown only on failure)."""
    return self.run([self.python, "-c", code], show=show, echo=False,
                    capture=capture)


def execute(p, root, run=subprocess.check_call):
  """Carries out a Plan; returns the Env for its bin_dir."""
  print(p.why, flush=True)
  for args in p.commands:
    print("$ " + " ".join(args), flush=True)
    run(args, cwd=root)
  return Env(root, p.bin_dir)


_LOSS = re.compile(r"tf_loss\[([-+.\deE]+|nan|inf)\]\[(\d+)\]")


def progress(every):
  """A `show` for Env.run: one line per `every` training steps, the loss."""
  shown = set()  # the step tf.print reports can repeat (read unordered)

  def show(line):
    m = _LOSS.search(line)
    step = int(m.group(2)) if m else None
    if m and (step % every == 0 or step == 1) and step not in shown:
      shown.add(step)
      return f"step {step:5d}   loss {float(m.group(1)):.3f}"
    if "error" in line.lower() and "conv_t5_mesh_transformer" in line:
      return line.rstrip("\n")
    return None
  return show


def grep(pattern):
  """A `show` for Env.run: the lines that match a regular expression."""
  rx = re.compile(pattern)
  return lambda line: line.rstrip("\n") if rx.search(line) else None
