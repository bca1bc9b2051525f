"""Local data sources (sources.py) and the local-text span corruption task."""

import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

import conv_t5.tasks  # noqa: F401  (registers the tasks)
from conv_t5 import errors
from conv_t5.tasks import sources
from t5.models import mesh_transformer


def rows(ds):
  return list(tfds.as_numpy(ds))


# ------------------------------------------------------------------ TSV

def test_read_tsv_reads_columns_and_checks_header(tmp_path):
  path = tmp_path / "a.tsv"
  path.write_bytes(b"label\ttext\npositive\tgood \xc3\xa9\r\nnegative\tbad\n")
  assert sources.read_tsv(str(path), ("label", "text")) == {
      "label": ["positive", "negative"], "text": ["good \u00e9", "bad"]}
  with pytest.raises(sources.DataFormatError, match=r"a\.tsv:1: expected the header"):
    sources.read_tsv(str(path), ("text", "label"))


@pytest.mark.parametrize("body,message", [
    (b"label\ttext\npositive\tok\nno tab here\n",
     r"b\.tsv:3: expected 2 tab-separated fields \(label, text\), found 1"),
    (b"label\ttext\npositive\tok\textra\n", r"b\.tsv:2: expected 2 .* found 3"),
    (b"label\ttext\npositive\t \n", r"b\.tsv:2: the text field is empty"),
    (b"label\ttext\nneutral\tmeh\n",
     r"b\.tsv:2: label 'neutral' is not one of \['negative', 'positive'\]"),
    (b"label\ttext\npositive\tok\npositive\tbad \xff byte\n",
     r"b\.tsv:3: not valid UTF-8"),
])
def test_read_tsv_names_file_and_line_of_a_malformed_line(tmp_path, body,
                                                          message):
  path = tmp_path / "b.tsv"
  path.write_bytes(body)
  with pytest.raises(sources.DataFormatError, match=message):
    sources.read_tsv(str(path), ("label", "text"),
                     allowed={"label": ("negative", "positive")})


def test_tsv_source_shuffles_fully_and_shards(tmp_path):
  path = tmp_path / "c.tsv"
  path.write_text("".join(f"{i}\n" for i in range(50)))
  source = sources.TsvSource(lambda split: str(path), ["train"], ["n"],
                             header=False)
  assert source.num_input_examples("train") == 50
  assert source.list_shards("train") == [str(path)]
  ordered = [int(r["n"]) for r in rows(source.get_dataset("train", shuffle=False))]
  assert ordered == list(range(50))
  shuffled = [int(r["n"]) for r in rows(source.get_dataset("train", seed=1))]
  assert sorted(shuffled) == ordered and shuffled != ordered
  shard = seqio.ShardInfo(index=1, num_shards=5)
  part = [int(r["n"]) for r in rows(
      source.get_dataset("train", shuffle=False, shard_info=shard))]
  assert part == list(range(1, 50, 5))


# ------------------------------------------------------------------ text lines

def test_text_line_dataset_skips_blank_lines(tmp_path):
  (tmp_path / "a.txt").write_bytes(b"one doc\r\n\n  \nsecond doc\n")
  (tmp_path / "b.txt").write_text("third\n")
  ds = sources.text_line_dataset([str(tmp_path / "b.txt"),
                                  str(tmp_path / "a.txt")])
  assert [r["text"] for r in rows(ds)] == [b"one doc", b"second doc", b"third"]


def test_text_line_dataset_reports_file_and_line_of_bad_utf8(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"fine\n\nstill fine \xe2\x82\xac\nbroken \xff here\n")
  ds = sources.text_line_dataset([str(path)])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=rf"{path}:4: malformed line, not valid UTF-8"):
    rows(ds)


def test_local_text_span_corruption_through_mesh_fns(tmp_path, bind):
  text = " ".join(f"word{i % 7} and more text" for i in range(60))
  (tmp_path / "t.txt").write_text(f"{text}\n\n{text}\n")
  bind("conv_t5.vocabulary_model.path", "seqio_test")
  bind("conv_t5.local_text_files.patterns",
       {"train": str(tmp_path / "*.txt"), "validation": str(tmp_path / "t.txt")})
  lengths = {"inputs": 64, "targets": 16}
  ex = next(iter(tfds.as_numpy(mesh_transformer.mesh_train_dataset_fn(
      "local_text_span_corruption", lengths, shuffle=False).take(1))))
  assert ex["inputs"].shape == (64,) and ex["targets"].shape == (16,)
  vocab_size = seqio.get_mixture_or_task(
      "local_text_span_corruption").output_features["targets"].vocabulary
  # span corruption puts sentinels (the extra ids at the top) in both features
  sentinel = vocab_size.vocab_size - 1
  assert sentinel in ex["inputs"] and sentinel in ex["targets"]
  (ev,) = mesh_transformer.mesh_eval_dataset_fn(
      "local_text_span_corruption", lengths, "validation")
  assert next(iter(tfds.as_numpy(ev.dataset_fn().take(1))))["inputs"].shape == (64,)


def test_local_text_configuration_errors(tmp_path, bind):
  with pytest.raises(errors.ConfigError, match="No local text files"):
    mesh_transformer.mesh_train_dataset_fn(
        "local_text_span_corruption", {"inputs": 64, "targets": 16})
  bind("conv_t5.local_text_files.patterns", {"train": str(tmp_path / "*.txt")})
  with pytest.raises(errors.ConfigError, match="matches no file"):
    mesh_transformer.mesh_train_dataset_fn(
        "local_text_span_corruption", {"inputs": 64, "targets": 16})
  with pytest.raises(errors.ConfigError, match="has no 'validation' split"):
    mesh_transformer.mesh_eval_dataset_fn(
        "local_text_span_corruption", {"inputs": 64, "targets": 16},
        "validation")[0].dataset_fn()
