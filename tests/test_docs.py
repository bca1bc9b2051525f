"""The README and docs/: short README, every page linked, every link resolves,
nothing points outside the repository."""

import ast
import glob
import os
import re

import gin
import gin.config_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _read(path):
  with open(os.path.join(REPO, path)) as f:
    return f.read()


def _pages():
  return ["README.md", "CONTRIBUTING.md"] + sorted(
      os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs",
                                                              "*.md")))


def test_readme_is_short_and_links_every_docs_page():
  readme = _read("README.md")
  assert len(readme.splitlines()) <= 250
  for page in _pages()[2:]:
    assert f"({page})" in readme, f"README does not link {page}"
  assert "(CONTRIBUTING.md)" in readme


def test_every_relative_link_resolves_inside_the_repository():
  for page in _pages():
    for link in LINK.findall(_read(page)):
      if "://" in link or link.startswith("#"):
        continue
      target = os.path.normpath(os.path.join(
          REPO, os.path.dirname(page), link.split("#", 1)[0]))
      assert target.startswith(REPO + os.sep), (page, link)
      assert os.path.exists(target), (page, link)


def test_nothing_refers_to_files_outside_the_repository():
  for page in _pages():
    text = _read(page)
    assert "../" not in text.replace(".../", ""), page
    assert "/work/" not in text, page


# Gin snippets: a binding line (`scope/configurable.param = value`, or a
# `MACRO = value` after one) in a code block, a --gin_param value in a code
# block, and binding lines in the package's docstrings.
BINDING = re.compile(r"^(?:[\w.]+/)*[A-Za-z_][\w.]*\.[A-Za-z_]\w*\s*=\s*\S")
GIN_PARAM = re.compile(r"""--gin_param[= ](?:"([^"]*)"|'([^']*)')""")


class _Delegate(gin.config_parser.ParserDelegate):
  """Parses references and macros without resolving them."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return scoped_configurable_name

  def macro(self, macro_name):
    return macro_name


def _code_lines(text):
  """Lines of the Markdown code blocks (fenced, or indented 4 spaces)."""
  fenced, lines = False, []
  for line in text.splitlines():
    if line.lstrip().startswith("```"):
      fenced = not fenced
      continue
    if fenced or line.startswith("    "):
      lines.append(line.strip())
  return lines


def _depth(text):
  return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


def _gin_snippets(lines):
  """Bindings (one per line, or continued while a bracket is open) and
  --gin_param values."""
  snippets, binding = [], None
  for line in lines:
    if binding is not None:
      binding += "\n" + line
    else:
      for match in GIN_PARAM.finditer(line):
        snippets.append(match.group(1) or match.group(2))
      if BINDING.match(line):
        binding = line
    if binding is not None and _depth(binding) <= 0:
      snippets.append(binding)
      binding = None
  if binding is not None:
    snippets.append(binding)   # unclosed: fails to parse, as it should
  return snippets


def _docstring_lines(path):
  with open(path) as f:
    tree = ast.parse(f.read())
  lines = []
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
      doc = ast.get_docstring(node, clean=False)
      if doc:
        lines += [l.strip() for l in doc.splitlines() if l.startswith("    ")]
  return lines


def _parses(snippet):
  try:
    for _ in gin.config_parser.ConfigParser(snippet, _Delegate()):
      pass
  except SyntaxError as e:
    return f"{snippet!r}: {e}"
  return None


def test_every_gin_snippet_in_the_docs_parses():
  snippets = []  # (where, snippet)
  for page in _pages():
    snippets += [(page, s) for s in _gin_snippets(_code_lines(_read(page)))]
  for path in sorted(glob.glob(os.path.join(REPO, "conv_t5", "**", "*.py"),
                               recursive=True) +
                     glob.glob(os.path.join(REPO, "tasks", "**", "*.py"),
                               recursive=True)):
    where = os.path.relpath(path, REPO)
    snippets += [(where, s) for s in _gin_snippets(_docstring_lines(path))]
  # The hybrid schedules of docs/models.md and conv_t5/layers/hybrid.py and
  # the command lines of the README are among them.
  assert any("Hybrid.schedule" in s and p == "docs/models.md"
             for p, s in snippets)
  assert any("Hybrid.schedule" in s and p.endswith("hybrid.py")
             for p, s in snippets)
  assert any(p == "README.md" for p, _ in snippets)
  bad = [f"{page}: {error}" for page, snippet in snippets
         if (error := _parses(snippet))]
  assert not bad, "\n".join(bad)


def test_the_snippet_check_rejects_list_arithmetic():
  assert _parses("a.b = ['dilated'] * 10 + ['attention'] * 2")
  assert _parses("a.b = ['dilated', 'attention']") is None


def test_a_binding_continued_over_lines_is_one_snippet():
  lines = ["x/a.b = [", "@c.D,", "@e.F,", "]", "a.c = 1", "make data"]
  assert _gin_snippets(lines) == ["x/a.b = [\n@c.D,\n@e.F,\n]", "a.c = 1"]
  assert all(_parses(s) is None for s in _gin_snippets(lines))
