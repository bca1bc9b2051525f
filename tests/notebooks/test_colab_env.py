"""The notebook's environment logic (notebooks/colab_env.py) and the
committed notebook itself, without executing it (that is test_notebook.py)."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
NOTEBOOK = os.path.join(ROOT, "notebooks", "conv_t5_demo.ipynb")
sys.path.insert(0, os.path.join(ROOT, "notebooks"))
import colab_env  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture
def checkout(tmp_path):
  """A checkout with a constraints.txt and no .venv."""
  (tmp_path / "setup.cfg").write_text("[metadata]\nname = conv_t5\n")
  (tmp_path / "constraints.txt").write_text(
      "# pins\ntensorflow==2.15.1\ntorch==2.13.0\n")
  return str(tmp_path)


def _never_ready(python, root):
  del root
  return [f"{python}: tensorflow==2.15.1 (installed: None)"]


def _no_tools(name):
  del name
  return None


def test_other_python_creates_a_311_env_with_uv(checkout):
  plan = colab_env.plan(checkout, version=(3, 12),
                        executable="/usr/bin/python3", which=_no_tools,
                        checker=_never_ready)
  venv = os.path.join(checkout, ".venv")
  python = os.path.join(venv, "bin", "python")
  assert plan.kind == "create"
  assert plan.bin_dir == os.path.join(venv, "bin")
  assert "3.12" in plan.why and "no wheel" in plan.why
  assert plan.commands == [
      ["/usr/bin/python3", "-m", "pip", "install", "--quiet", "uv"],
      ["/usr/bin/python3", "-m", "uv", "venv", "--seed", "--python", "3.11",
       venv],
      [python, "-m", "pip", "install", "--disable-pip-version-check",
       "--no-deps", "-r", os.path.join(checkout, "constraints.txt")],
      [python, "-m", "pip", "install", "--disable-pip-version-check",
       "--no-deps", "--no-build-isolation", "-e", checkout],
      [python, "-m", "pip", "check"],
  ]


def test_other_python_uses_uv_or_python311_when_there(checkout):
  venv = os.path.join(checkout, ".venv")
  tools = {"uv": "/opt/bin/uv"}
  plan = colab_env.plan(checkout, version=(3, 13), executable="/usr/bin/python3",
                        which=tools.get, checker=_never_ready)
  assert plan.commands[0] == ["/opt/bin/uv", "venv", "--seed", "--python",
                              "3.11", venv]
  assert len(plan.commands) == 4  # uv was there: not installed
  tools["python3.11"] = "/usr/bin/python3.11"
  plan = colab_env.plan(checkout, version=(3, 13), executable="/usr/bin/python3",
                        which=tools.get, checker=_never_ready)
  assert plan.commands[0] == ["/usr/bin/python3.11", "-m", "venv", venv]
  assert plan.commands[1][0] == os.path.join(venv, "bin", "python")


def test_python_311_installs_into_the_running_env(checkout):
  plan = colab_env.plan(checkout, version=(3, 11),
                        executable="/usr/local/bin/python3", which=_no_tools,
                        checker=_never_ready)
  assert plan.kind == "install" and plan.bin_dir == "/usr/local/bin"
  assert [c[:4] for c in plan.commands] == [["/usr/local/bin/python3", "-m",
                                             "pip", "install"]] * 2 + [
      ["/usr/local/bin/python3", "-m", "pip", "check"]]
  assert plan.commands[0][-2:] == ["-r",
                                   os.path.join(checkout, "constraints.txt")]
  assert plan.commands[1][-2:] == ["-e", checkout]
  assert all("--no-deps" in c for c in plan.commands[:2])


def test_nothing_is_installed_where_the_pinned_set_is(checkout):
  venv_bin = os.path.join(checkout, ".venv", "bin")
  os.makedirs(venv_bin)
  open(os.path.join(venv_bin, "python"), "w").close()
  ready = lambda python, root: []  # noqa: E731
  # Python 3.11 running, with the pins: nothing to do, it runs everything.
  plan = colab_env.plan(checkout, version=(3, 11), executable=sys.executable,
                        which=_no_tools, checker=ready)
  assert plan == colab_env.Plan(
      "ready", os.path.dirname(sys.executable), [], plan.why)
  # Another Python (a local Jupyter) beside a checkout whose .venv is ready.
  plan = colab_env.plan(checkout, version=(3, 12), executable="/usr/bin/python3",
                        which=_no_tools, checker=ready)
  assert plan.kind == "ready" and plan.bin_dir == venv_bin
  assert not plan.commands


def test_the_project_venv_passes_the_check():
  python = os.path.join(ROOT, ".venv", "bin", "python")
  if not os.path.exists(python):
    pytest.skip("no .venv (make venv)")
  assert colab_env.check(python, ROOT) == []
  plan = colab_env.plan(ROOT, version=(3, 12), executable="/usr/bin/python3",
                        which=_no_tools)
  assert plan.kind == "ready" and plan.bin_dir == os.path.dirname(python)


@pytest.fixture
def mismatched_checkout(tmp_path):
  """A checkout whose pins this interpreter misses: pip at another version,
  a package it lacks, and one pin it has (not reported)."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  (tmp_path / "setup.cfg").write_text("[metadata]\nname = conv_t5\n")
  (tmp_path / "constraints.txt").write_text(
      "# pins\n"
      f"absl-py=={metadata.version('absl-py')}  # installed: fine\n"
      "pip==0.1\n"
      "No_Such.Package==1.0\n")
  return str(tmp_path)


def test_check_names_what_is_wrong(mismatched_checkout):
  import conv_t5  # pylint: disable=g-import-not-at-top
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  # The interpreter's conv_t5 is the project's, not the one of this checkout.
  assert colab_env.check(sys.executable, mismatched_checkout) == [
      "no-such-package==1.0 (installed: None)",
      f"pip==0.1 (installed: {metadata.version('pip')})",
      f"conv_t5 is not installed from {mismatched_checkout} "
      f"(found: {conv_t5.__file__})"]
  assert colab_env.check("/nonexistent/python", mismatched_checkout) == [
      "/nonexistent/python does not exist"]


def test_pins_and_find_checkout(checkout):
  assert colab_env.pins(checkout) == {"tensorflow": "2.15.1",
                                      "torch": "2.13.0"}
  sub = os.path.join(checkout, "notebooks")
  os.makedirs(sub)
  assert colab_env.find_checkout(sub) == checkout
  assert colab_env.find_checkout(ROOT) == ROOT
  assert colab_env.find_checkout("/") is None


def test_execute_runs_the_plan_in_order(checkout, capsys):
  ran = []
  plan = colab_env.Plan("install", "/x/bin", [["a", "1"], ["b"]], "why")
  env = colab_env.execute(plan, checkout,
                          run=lambda args, cwd: ran.append((args, cwd)))
  assert ran == [(["a", "1"], checkout), (["b"], checkout)]
  assert env.bin_dir == "/x/bin" and env.python == "/x/bin/python"
  assert "$ a 1" in capsys.readouterr().out


def test_env_run_streams_filters_and_fails_loudly(checkout, capsys):
  env = colab_env.Env(checkout, os.path.dirname(sys.executable))
  code = "print('step, tf_loss[9.5][1]'); print('noise'); " \
         "print('step, tf_loss[7.25][50]'); print('step, tf_loss[7.5][50]')"
  out = env.run([sys.executable, "-c", code], show=colab_env.progress(25),
                capture=True, echo=False)
  printed = capsys.readouterr().out
  assert "step     1   loss 9.500" in printed
  assert "step    50   loss 7.250" in printed and "noise" not in printed
  assert "7.500" not in printed  # a step is shown once
  assert "noise" in out
  assert env.run([sys.executable, "-c", "print(1)"]) is None
  with pytest.raises(colab_env.subprocess.CalledProcessError):
    env.python_code("import sys; print('boom', file=sys.stderr); sys.exit(3)")
  assert "boom" in capsys.readouterr().err


def test_shell_text_prints_a_command_a_shell_takes(checkout):
  env = colab_env.Env(checkout, "/v/bin")
  assert env.shell_text(["/v/bin/python", "-m", "x", "--a", ""]) == (
      '$ $BIN/python -m x --a ""')
  long = env.shell_text(["/v/bin/conv_t5_mesh_transformer",
                         "--model_dir=/tmp/m",
                         "--gin_param=MIXTURE_NAME = 'demo_topic'",
                         "--gin_param=utils.run.train_steps = 300",
                         "--gin_param=x = \"y\""])
  assert long.splitlines() == [
      "$ $BIN/conv_t5_mesh_transformer \\",
      "    --model_dir=/tmp/m \\",
      "    \"--gin_param=MIXTURE_NAME = 'demo_topic'\" \\",
      "    \"--gin_param=utils.run.train_steps = 300\" \\",
      "    '--gin_param=x = \"y\"'"]


def test_committed_notebook_has_no_outputs():
  with open(NOTEBOOK, encoding="utf-8") as f:
    nb = json.load(f)
  code = [c for c in nb["cells"] if c["cell_type"] == "code"]
  assert len(code) >= 8
  for cell in code:
    assert cell["outputs"] == [], "".join(cell["source"])[:80]
    assert cell["execution_count"] is None, "".join(cell["source"])[:80]


def test_notebook_asks_for_the_repository_and_invents_no_url():
  with open(NOTEBOOK, encoding="utf-8") as f:
    nb = json.load(f)
  sources = ["".join(c["source"]) for c in nb["cells"]]
  first_code = next(s for c, s in zip(nb["cells"], sources)
                    if c["cell_type"] == "code")
  assert "REPO_URL = ''" in first_code
  assert "raise RuntimeError" in first_code
  text = "\n".join(sources)
  assert "github.com/" not in text
  assert "colab_env.plan(ROOT)" in text
  for step in ("conv_t5.tasks.demo_data", "conv_t5_mesh_transformer",
               "summary_iterator", "--mode=eval", "--mode=predict",
               "conv_t5.bench", "--tpu=", "gs://"):
    assert step in text, step
