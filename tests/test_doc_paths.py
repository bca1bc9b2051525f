"""Every repository path the docs name exists.

Where paths are collected:

* README.md, CONTRIBUTING.md and docs/*.md: every inline code span
  (`...`) outside fenced code blocks;
* the module docstring (ast.get_docstring) of every .py file under conv_t5/,
  tasks/ and launch/: every word, backticked or not.

A span is split into words at whitespace and `=` (so `--gin_file=x.gin`
gives `x.gin`); surrounding brackets, quotes and trailing punctuation are
dropped, and so is a pytest node id's `::test_name`. Braces with a comma
expand as in a shell: `tests/{convert,launch}` is two paths.

What counts as a path: a word with a `/`, or one ending in a source or
config suffix (SUFFIXES). A path is then checked by its first component:

1. an output: a top-level entry that .gitignore names (`/runs/`, `/data/`,
   `/bench_out/`, `.venv/`, ...): written by make and the demo, not part of
   the repository, so not checked;
2. a top-level entry of the repository (conv_t5, tasks, gin, launch, tests,
   docs, notebooks, Makefile, setup.cfg, .ci, ...): it must exist, relative
   to the repository root; a path as installed (`conv_t5/tasks/...`,
   `conv_t5/gin/...`) is read through setup.cfg's package_dir (tasks/...,
   gin/...);
3. otherwise a `.gin` path whose first component is an entry of a gin
   search-path directory (`models/conv_dynamic.base.gin`,
   `objectives/span_3_15_u_u.gin`) is a gin file as `--gin_file` and
   `include` name it: it must exist in one of those directories (the
   repository's gin/, t5's and mesh-tensorflow's gin folders, from
   conv_t5.paths);
4. anything else (`results.md`, `<bucket>/models/...`, `DIR/model.gin`,
   another repository's `pretrained_conv/gin/lconv.gin`) is not a path of
   this repository and is not checked.

A placeholder (`<arch>`, `{arch}`, `*`, `...`) in a checked path matches
any name: the path is a glob and at least one file or directory must match.
A placeholder in the first component makes the path unanchored (rule 4).

A Markdown line that names a wrong path on purpose (a bad-input example)
carries the comment `<!-- wrong path on purpose -->`; that line is not read.
"""

import ast
import configparser
import functools
import glob
import os
import re

import pytest

from conv_t5 import paths as paths_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUFFIXES = (".py", ".md", ".gin", ".json", ".ipynb", ".cfg", ".toml", ".txt",
            ".sh")
SPAN = re.compile(r"`([^`]+)`")
FENCE = re.compile(r"^\s*```.*?^\s*```", re.M | re.S)
ON_PURPOSE = "<!-- wrong path on purpose -->"
BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")
PLACEHOLDER = re.compile(r"<[^<>/]*>|\{[^{}/]*\}|\.\.\.")


def _ignored_entries():
  """Top-level names .gitignore excludes (`/runs/`, `.venv/`, ...)."""
  names = set()
  with open(os.path.join(REPO, ".gitignore")) as f:
    for line in f:
      name = line.strip().strip("/")
      if name and not name.startswith("#") and not re.search(r"[*?\[/]",
                                                              name):
        names.add(name)
  return names


OUTPUTS = _ignored_entries()
TOP = {e for e in os.listdir(REPO) if e != ".git"} - OUTPUTS


def _installed_dirs():
  """{"conv_t5/tasks": "tasks", ...} from setup.cfg's package_dir."""
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  pairs = (line.split("=") for line in
           cfg["options"]["package_dir"].strip().splitlines())
  return {k.strip().replace(".", "/"): v.strip() for k, v in pairs
          if k.strip() != v.strip()}


INSTALLED = _installed_dirs()


def _expand(word):
  match = BRACES.search(word)
  if not match:
    return [word]
  out = []
  for choice in match.group(1).split(","):
    out += _expand(word[:match.start()] + choice + word[match.end():])
  return out


def _words(text):
  for word in re.split(r"[\s=\"'`()\[\]]+", text):
    word = word.rstrip(".,;:")
    word = word.split("::", 1)[0]
    if word and "://" not in word:
      yield from _expand(word)


def _is_path(word):
  return "/" in word or word.endswith(SUFFIXES)


def _exists(root, path):
  if PLACEHOLDER.search(path) or "*" in path:
    return bool(glob.glob(os.path.join(root, PLACEHOLDER.sub("*", path))))
  return os.path.exists(os.path.join(root, path))


def _gin_roots():
  return paths_lib.gin_search_path() + [paths_lib.mesh_gin_dir()]


@functools.lru_cache(maxsize=None)
def _gin_entries():
  return {e for root in _gin_roots() for e in os.listdir(root)}


def check(word):
  """None if `word` is no repository path or resolves; else the problem."""
  if not _is_path(word) or word.startswith(("/", "~", "$", "-", "gs:")):
    return None
  path = word[2:] if word.startswith("./") else word
  first = path.split("/", 1)[0]
  if first in OUTPUTS or PLACEHOLDER.search(first) or "*" in first:
    return None
  for installed, folder in INSTALLED.items():
    if path == installed or path.startswith(installed + "/"):
      path = folder + path[len(installed):]
  if first in TOP:
    if _exists(REPO, path):
      return None
    return f"`{word}` does not exist in the repository"
  if path.endswith(".gin") and first in _gin_entries():
    if any(_exists(root, path) for root in _gin_roots()):
      return None
    return f"`{word}` is on no gin search path (gin/, t5's, mesh-tensorflow's)"
  return None


def _markdown_words(text):
  text = "\n".join(line for line in FENCE.sub("", text).splitlines()
                   if ON_PURPOSE not in line)
  for span in SPAN.findall(text):
    yield from _words(span)


def _docstring_words(path):
  with open(path) as f:
    doc = ast.get_docstring(ast.parse(f.read())) or ""
  yield from _words(doc)


def _sources():
  """(where, words) for every page and module docstring the test reads."""
  pages = ["README.md", "CONTRIBUTING.md"] + sorted(
      os.path.relpath(p, REPO)
      for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
  for page in pages:
    with open(os.path.join(REPO, page)) as f:
      yield page, list(_markdown_words(f.read()))
  for folder in ("conv_t5", "tasks", "launch"):
    for path in sorted(glob.glob(os.path.join(REPO, folder, "**", "*.py"),
                                 recursive=True)):
      yield os.path.relpath(path, REPO), list(_docstring_words(path))


def test_every_repository_path_in_the_docs_exists():
  problems, checked = [], 0
  for where, words in _sources():
    for word in words:
      problem = check(word)
      checked += _is_path(word)
      if problem:
        problems.append(f"{where}: {problem}")
  assert checked > 100  # the collection itself works
  assert not problems, (
      "Paths the docs name that do not exist (fix each path; a wrong path "
      f"given on purpose goes on a line with {ON_PURPOSE}):\n"
      + "\n".join(problems))


@pytest.mark.parametrize("word, problem", [
    ("conv_t5/layers/block.py", None),
    ("conv_t5/block.py", "`conv_t5/block.py` does not exist in the repository"),
    ("tests/convert/test_convert_launch.py",
     "`tests/convert/test_convert_launch.py` does not exist in the repository"),
    ("tests/{convert,launch}/", None),
    ("conv_t5/layers/<name>.py", None),
    ("gin/models/{arch}.gin", None),
    ("conv_t5/layers/<name>.cc",
     "`conv_t5/layers/<name>.cc` does not exist in the repository"),
    ("models/conv_dynamic.base.gin", None),           # gin/models/
    ("objectives/span_3_15_u_u.gin", None),           # t5's
    ("models/conv_nothing.gin",
     "`models/conv_nothing.gin` is on no gin search path (gin/, t5's, "
     "mesh-tensorflow's)"),
    ("DIR/operative_config.gin", None),               # unanchored
    ("pretrained_conv/gin/lconv.gin", None),          # not this repository
    ("runs/demo/results.json", None),                 # an output
    ("data/nothing/here.txt", None),                  # an output
    ("<out_dir>/logs/worker<k>.log", None),           # unanchored
    ("pretrained_conv/README.md", None),              # not this repository
    (".ci/run", None),
    ("conv_t5/tasks/demo_data/", None),               # installed: tasks/
    ("conv_t5/gin/models/transformer.tiny.gin", None),
    ("conv_t5/tasks/nothing.py",
     "`conv_t5/tasks/nothing.py` does not exist in the repository"),
    ("setup.cfg", None),
])
def test_check_resolves_skips_and_flags(word, problem):
  assert check(word) == problem


def test_words_split_commands_strip_punctuation_and_expand_braces():
  text = ("see `python -m x --gin_file=models/a.gin` and "
          "`docs/demo/results.{md,json}`, (`tests/a.py::test_b`).\n"
          "`config.parse([\"models/b.gin\", 'cpu.gin'])`\n"
          "`conv_t5/wrong.py` <!-- wrong path on purpose -->\n"
          "```\n`conv_t5/in_a_fence.py`\n```\n")
  assert list(_markdown_words(text)) == [
      "python", "-m", "x", "--gin_file", "models/a.gin",
      "docs/demo/results.md", "docs/demo/results.json", "tests/a.py",
      "config.parse", "models/b.gin", "cpu.gin"]
  assert "runs" in OUTPUTS and "data" in OUTPUTS and "bench_out" in OUTPUTS
  assert {"conv_t5", "tasks", "gin", "launch", "tests", "docs", "notebooks",
          "Makefile", "setup.cfg"} <= TOP
