"""Shared plumbing for the tests that run the t5 command line: a tiny local
span-corruption run (seqio's test vocabulary, no data download), the console
script as a subprocess, the in-process batch runner, and loss parsing."""

import json
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(os.path.dirname(sys.executable), "conv_t5_mesh_transformer")
RUNNER = os.path.join(HERE, "cli_runner.py")
# mesh-tensorflow's CPU training graph prints "step, tf_loss[<loss>][<step>]"
# once per step. The printed step is read racily (it can show the step before),
# so tests use the order of the lines, not that number.
LOSS_LINE = re.compile(r"step, tf_loss\[([^\]]+)\]\[(\d+)\]")
SEQUENCE_LENGTH = "{'inputs': 64, 'targets': 16}"


def write_corpus(path, lines=80):
  """A deterministic text file, one document a line (standard-library
  docstrings)."""
  import argparse  # pylint: disable=g-import-not-at-top
  import collections  # pylint: disable=g-import-not-at-top
  import difflib  # pylint: disable=g-import-not-at-top
  import textwrap  # pylint: disable=g-import-not-at-top
  text = []
  for module in (json, os.path, re, subprocess, argparse, collections,
                 difflib, textwrap):
    text += [l.strip() for l in (module.__doc__ or "").splitlines()
             if len(l.strip()) > 20]
  out = [text[i % len(text)] for i in range(lines)]
  with open(path, "w") as f:
    f.write("\n".join(out) + "\n")
  return path


def train_argv(model_dir, corpus, model="models/transformer.tiny.gin",
               steps=4, save_every=2, params=(), gin_files=()):
  """The command line of a tiny local span-corruption training run on CPU."""
  argv = [
      "--module_import=conv_t5.tasks",
      f"--model_dir={model_dir}",
      "--gin_file=dataset.gin",
      f"--gin_file={model}",
      "--gin_file=cpu.gin",
      "--gin_file=objectives/span_3_15_u_u.gin",
  ] + [f"--gin_file={g}" for g in gin_files] + [
      "--gin_param=MIXTURE_NAME = 'local_text_span_corruption'",
      "--gin_param=conv_t5.local_text_files.patterns = "
      f"{{'train': '{corpus}', 'validation': '{corpus}'}}",
      "--gin_param=conv_t5.vocabulary_model.path = 'seqio_test'",
      f"--gin_param=utils.run.train_steps = {steps}",
      f"--gin_param=utils.run.sequence_length = {SEQUENCE_LENGTH}",
      "--gin_param=utils.run.batch_size = ('sequences_per_batch', 8)",
      f"--gin_param=utils.run.save_checkpoints_steps = {save_every}",
      "--gin_param=utils.run.iterations_per_loop = 1",
  ]
  return argv + [f"--gin_param={p}" for p in params]


def env(**extra):
  e = dict(os.environ)
  e.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  e.update(extra)
  return e


def run_cli(argv, log_path, timeout=300, **env_extra):
  """Runs the console script; returns (exit status, its stderr+stdout text)."""
  with open(log_path, "w") as log:
    proc = subprocess.run([CLI] + list(argv), stdout=log,
                          stderr=subprocess.STDOUT, env=env(**env_extra),
                          timeout=timeout, check=False)
  with open(log_path) as f:
    return proc.returncode, f.read()


def run_batch(cases, work_dir, timeout=600, **env_extra):
  """Runs cases (see cli_runner.py) in one subprocess; returns the results."""
  spec = os.path.join(work_dir, "cases.json")
  out = os.path.join(work_dir, "results.json")
  with open(spec, "w") as f:
    json.dump(cases, f, indent=1)
  log = os.path.join(work_dir, "runner.log")
  with open(log, "w") as f:
    proc = subprocess.run([sys.executable, RUNNER, spec, out], stdout=f,
                          stderr=subprocess.STDOUT, env=env(**env_extra),
                          timeout=timeout, check=False)
  results = {}
  if os.path.exists(out):
    with open(out) as f:
      results = json.load(f)
  if proc.returncode != 0:
    with open(log) as f:
      tail = f.read()[-3000:]
    raise AssertionError(f"cli_runner exited {proc.returncode}:\n{tail}")
  return results


def losses(text):
  """The training losses of a log, one per step run, in order."""
  return [float(v) for v, _ in LOSS_LINE.findall(text)]


def latest_step(model_dir):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  path = tf.train.latest_checkpoint(model_dir)
  return None if path is None else int(path.rsplit("-", 1)[1])


def read_checkpoint(path):
  """{name: array} of every variable of a checkpoint (reads all the bytes)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(path)
  return {name: np.asarray(reader.get_tensor(name))
          for name in reader.get_variable_to_shape_map()}


def snapshot(model_dir):
  """What a failed run must not change: the checkpoint index, every listed
  checkpoint's values, operative_config.gin, and the set of files."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  state = tf.train.get_checkpoint_state(model_dir)
  paths = list(state.all_model_checkpoint_paths) if state else []
  config = os.path.join(model_dir, "operative_config.gin")
  files = set()
  for root, _, names in os.walk(model_dir):
    files |= {os.path.relpath(os.path.join(root, n), model_dir) for n in names}
  latest = tf.train.latest_checkpoint(model_dir)
  return {
      "latest": latest and os.path.basename(latest),
      "listed": [os.path.basename(p) for p in paths],
      "values": {os.path.basename(p): read_checkpoint(p) for p in paths},
      "config": open(config).read() if os.path.exists(config) else None,
      "files": files,
  }


def assert_intact(before, model_dir):
  """Asserts that model_dir still holds everything `before` recorded."""
  after = snapshot(model_dir)
  assert after["latest"] == before["latest"]
  assert after["listed"] == before["listed"]
  assert after["config"] == before["config"], "operative_config.gin changed"
  missing = before["files"] - after["files"]
  assert not missing, f"files removed: {sorted(missing)}"
  for path, values in before["values"].items():
    now = after["values"][path]
    assert sorted(now) == sorted(values)
    for name, value in values.items():
      np.testing.assert_array_equal(now[name], value, err_msg=name)
