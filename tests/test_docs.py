"""The README and docs/: short README, every page linked, every link resolves,
nothing points outside the repository."""

import glob
import os
import re

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
