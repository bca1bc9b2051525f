"""The TFDS-backed tasks (c4.py, finetune.py, glue.py) and COGS.

TFDS never downloads here: every TFDS task runs through t5's mesh dataset
functions on hand-made examples served by tfds.testing.mock_data, built from
the real builders' feature specs (so the registered names, configs and
versions must exist in the installed TFDS).
"""

import os

import numpy as np
import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

import conv_t5.tasks  # noqa: F401  (registers the tasks)
from conv_t5.tasks import finetune
from conv_t5.tasks import glue
from conv_t5.tasks import sources
from t5.models import mesh_transformer

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "fixtures", "tasks")
SEQUENCE_LENGTH = {"inputs": 64, "targets": 16}

TOXICITY = [0.0, 0.49, 0.5, 0.9]
POLARITY = [0, 2, 4, 0]
CFQ_QUERY = "SELECT DISTINCT ?x0 WHERE {\n?x0 a ns:people.person .\n}"

TFDS_TASKS = sorted(
    ["c4_span_corruption", "civil_comments", "wikipedia_toxicity",
     "imdb_reviews", "sentiment140", "ag_news", "trec_coarse", "trec_fine",
     "squad_v11", "mnli_matched", "mnli_mismatched"]
    + [f"cfq_{s}" for s in finetune.CFQ_SPLITS]
    + [glue.glue_task_name(c) for c in tfds.text.glue.Glue.builder_configs])


def _fake_value(builder, key, spec, feature, i):
  if isinstance(spec, dict):
    return {k: _fake_value(builder, k, s, None, i) for k, s in spec.items()}
  if isinstance(feature, tfds.features.ClassLabel):
    return i % feature.num_classes
  if spec.shape.rank == 1:  # squad answers
    return ([f"answer {i}", "other"] if spec.dtype == tf.string else [0, 7])
  if spec.dtype == tf.string:
    if builder.name == "cfq" and key == "query":
      return CFQ_QUERY
    return f"{key} {i} <br /> text ."
  if spec.dtype.is_floating:
    return TOXICITY[i]
  if key == "polarity":
    return POLARITY[i]
  return i


def fake_as_dataset(self, split=None, decoders=None, read_config=None,
                    shuffle_files=False, **unused):
  """Four hand-made examples in the builder's real feature structure."""
  del split, decoders, read_config, shuffle_files
  spec = self.info.features.get_tensor_spec()
  examples = [{k: _fake_value(self, k, s, self.info.features[k], i)
               for k, s in spec.items()} for i in range(4)]
  return tf.data.Dataset.from_generator(lambda: iter(examples),
                                        output_signature=spec)


@pytest.fixture
def mocked_tfds(bind):
  bind("conv_t5.vocabulary_model.path", "seqio_test")
  seqio.utils.LazyTfdsLoader._MEMOIZED_BUILDERS.clear()  # pylint: disable=protected-access
  with tfds.testing.mock_data(as_dataset_fn=fake_as_dataset):
    yield
  seqio.utils.LazyTfdsLoader._MEMOIZED_BUILDERS.clear()  # pylint: disable=protected-access


def first(ds):
  return next(iter(tfds.as_numpy(ds.take(1))))


def pretokenized(task_name, split="train", key="targets"):
  task = seqio.get_mixture_or_task(task_name)
  ds = task.get_dataset(SEQUENCE_LENGTH, split=split, shuffle=False)
  return [ex[key + "_pretokenized"].decode() for ex in tfds.as_numpy(ds)]


def test_every_tfds_task_is_registered_on_a_tfds_source():
  ours = sorted(n for n in seqio.TaskRegistry.names()
                if isinstance(seqio.get_mixture_or_task(n).source,
                              sources.TfdsSource))
  assert ours == TFDS_TASKS


def test_every_conv_t5_task_is_tested_somewhere():
  # Ours are the tasks on conv_t5's vocabulary: the TFDS ones here, COGS
  # here, local text in test_tasks_sources.py, the demo ones in
  # test_tasks_demo.py and test_tasks_demo_pairs.py.
  from conv_t5.tasks import vocab  # pylint: disable=g-import-not-at-top
  ours = {n for n in seqio.TaskRegistry.names()
          if seqio.get_mixture_or_task(n).output_features[
              "targets"].vocabulary is vocab.VOCABULARY}
  assert ours == set(TFDS_TASKS) | {
      "cogs", "local_text_span_corruption", "demo_span_corruption",
      "demo_movie_sentiment", "demo_tweet_sentiment", "demo_topic",
      "demo_same_sentiment"}
  mixtures = {n for n in seqio.MixtureRegistry.names()
              if {t.name for t in seqio.get_mixture_or_task(n).tasks} <= ours}
  assert mixtures == {"glue", "demo_finetune", "demo_multitask",
                      "demo_multitask_small"}


def test_names_do_not_clash_with_t5_registrations():
  # Importing t5's registrations beside ours raises on any duplicate name.
  import t5.data.mixtures  # noqa: F401  pylint: disable=g-import-not-at-top
  from conv_t5.tasks import vocab  # pylint: disable=g-import-not-at-top
  for name in TFDS_TASKS:
    features = seqio.get_mixture_or_task(name).output_features
    assert features["targets"].vocabulary is vocab.VOCABULARY
  assert seqio.get_mixture_or_task("glue_sst2_v002").output_features[
      "targets"].vocabulary is not vocab.VOCABULARY
  glue_mixture = seqio.get_mixture_or_task("glue")
  assert sorted(t.name for t in glue_mixture.tasks) == sorted(
      glue.GLUE_WEIGHTS)
  assert "glue_wnli" not in glue.GLUE_WEIGHTS  # as t5: WNLI left out
  assert glue_mixture.get_rate(seqio.get_mixture_or_task("glue_sst2")) == 67349


@pytest.mark.parametrize("name", TFDS_TASKS)
def test_tfds_task_through_mesh_dataset_fns(mocked_tfds, name):
  task = seqio.get_mixture_or_task(name)
  lengths = ({"inputs": 128, "targets": 32} if "span" in name
             else SEQUENCE_LENGTH)
  if "train" in task.splits:
    ex = first(mesh_transformer.mesh_train_dataset_fn(name, lengths,
                                                      shuffle=False))
    for key in ("inputs", "targets"):
      assert ex[key].shape == (lengths[key],)
      assert ex[key + "_segmentation"].shape == (lengths[key],)
      assert ex[key].max() > 0
  for split in ("validation", "test"):
    evals = mesh_transformer.mesh_eval_dataset_fn(name, lengths, split)
    if split not in task.splits:
      assert evals == []
      continue
    (ev,) = evals
    assert ev.name == name and ev.metric_fns == task.metric_fns
    ex = first(ev.dataset_fn())
    assert ex["inputs"].shape == (lengths["inputs"],)
    assert ex["targets"].shape == (lengths["targets"],)


@pytest.mark.parametrize("name,targets", [
    ("civil_comments", ["non-toxic", "non-toxic", "toxic", "toxic"]),
    ("wikipedia_toxicity", ["non-toxic", "non-toxic", "toxic", "toxic"]),
    ("sentiment140", ["negative", "positive", "negative"]),  # 2 = neutral
    ("imdb_reviews", ["negative", "positive", "negative", "positive"]),
    ("ag_news", ["World", "Sports", "Business", "Sci/Tech"]),
    ("trec_coarse", ["DESC", "ENTY", "ABBR", "HUM"]),
    ("trec_fine", ["manner", "cremat", "animal", "exp"]),
    ("glue_sst2", ["negative", "positive", "negative", "positive"]),
    ("mnli_matched", ["entailment", "neutral", "contradiction", "entailment"]),
    ("cfq_mcd1", ["SELECT DISTINCT ?x0 WHERE OB ?x0 a ns:people.person . CB"] * 4),
    ("squad_v11", ["answer 0", "answer 1", "answer 2", "answer 3"]),
])
def test_label_casting_is_exact(mocked_tfds, name, targets):
  assert pretokenized(name) == targets


def test_inputs_format(mocked_tfds):
  assert pretokenized("civil_comments", key="inputs")[0] == (
      "civil_comments comment: text 0 text .")
  assert pretokenized("ag_news", key="inputs")[1] == (
      "ag_news title: title 1 text . description: description 1 text .")
  assert pretokenized("imdb_reviews", key="inputs")[0] == (
      "imdb review: text 0 text .")  # <br /> removed
  assert pretokenized("mnli_matched", key="inputs")[0] == (
      "mnli hypothesis: hypothesis 0 <br /> text . premise: premise 0 <br /> "
      "text .")  # t5's GLUE format, unchanged


def test_trec_labels_match_tfds_class_order():
  builder = tfds.builder("trec:1.0.0", data_dir="/nonexistent/tfds")
  for granularity in ("coarse", "fine"):
    assert finetune.TREC_LABELS[granularity] == tuple(
        builder.info.features[f"label-{granularity}"].names)


def _metrics(name, targets, predictions):
  task = seqio.get_mixture_or_task(name)
  post = task.postprocess_fn or (lambda x, **kw: x)
  # (t5's qa postprocessor reads a target's answers from its example.)
  t = [post(x, example={"answers": x}, is_target=True) for x in targets]
  p = [post(x) for x in predictions]
  out = {}
  for fn in task.metric_fns:
    out.update(fn(t, p))
  return out


def test_toxicity_metrics_are_exact():
  # targets 1,1,0,0,1; predictions 1,invalid,0,1,1.
  got = _metrics("civil_comments",
                 ["toxic", "toxic", "non-toxic", "non-toxic", "toxic"],
                 ["toxic", "junk", "non-toxic", "toxic", "toxic"])
  assert got["accuracy"] == pytest.approx(60.0)   # 3 of 5
  # the invalid prediction counts as wrong: TP 2, FP 1, FN 1 -> F1 2/3.
  assert got["f1"] == pytest.approx(200 / 3)


def test_classification_and_exact_match_metrics_are_exact():
  got = _metrics("trec_coarse", ["DESC", "HUM", "LOC", "NUM"],
                 ["DESC", "HUM", "loc", "ENTY"])
  assert got == {"accuracy": pytest.approx(50.0)}
  got = _metrics("cogs", ["a ( x _ 1 )", "b ( x _ 2 )", "c"],
                 ["a ( x _ 1 )", "b ( x _ 2 ) ", "c"])
  assert got == {"sequence_accuracy": pytest.approx(200 / 3)}
  got = _metrics("squad_v11", [["the cat", "a cat"], ["dog"]], ["cat", "a dog"])
  assert got["em"] == pytest.approx(100.0)   # normalised: articles dropped
  assert got["f1"] == pytest.approx(100.0)


def test_tfds_not_prepared_fails_fast_with_instructions(tmp_path, bind,
                                                        monkeypatch):
  """Fast whatever the machine's load: neither TFDS's bucket lookup nor a
  download (the network accesses that retry for minutes offline) runs."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core import dataset_builder  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.utils import gcs_utils  # pylint: disable=g-import-not-at-top

  # Recorded, and raised as an error no code here catches (TfdsSource turns
  # an AssertionError into DatasetNotPreparedError).
  network = []

  def no_network(path):
    network.append(f"bucket lookup of {path}")
    raise RuntimeError(network[-1])
  monkeypatch.setattr(gcs_utils, "exists", no_network)

  def no_download(self, *args, **kwargs):
    network.append(f"download of {self.name}")
    raise RuntimeError(network[-1])
  monkeypatch.setattr(dataset_builder.DatasetBuilder, "download_and_prepare",
                      no_download)
  temp_dirs = []
  real_mkdtemp = tempfile.mkdtemp

  def mkdtemp(suffix=None, *args, **kwargs):
    if suffix == "tfds":  # DatasetInfo.initialize_from_bucket's
      temp_dirs.append(suffix)
    return real_mkdtemp(suffix, *args, **kwargs)
  monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
  bind("conv_t5.tfds_options.data_dir", str(tmp_path))
  bind("conv_t5.vocabulary_model.path", "seqio_test")
  seqio.utils.LazyTfdsLoader._MEMOIZED_BUILDERS.clear()  # pylint: disable=protected-access
  with pytest.raises(sources.DatasetNotPreparedError) as e:
    mesh_transformer.mesh_train_dataset_fn("glue_sst2", SEQUENCE_LENGTH)
  message = str(e.value)
  assert "'glue/sst2:2.0.0'" in message and str(tmp_path) in message
  assert f"tfds build glue/sst2:2.0.0 --data_dir={tmp_path}" in message
  assert "conv_t5.tfds_options.download = True" in message
  assert not temp_dirs  # TFDS's bucket lookup would leave one behind
  assert network == []


def test_tfds_download_is_opt_in(bind):
  source = seqio.get_mixture_or_task("imdb_reviews").source
  assert source.tfds_dataset._read_only  # pylint: disable=protected-access
  bind("conv_t5.tfds_options.download", True)
  assert not source.tfds_dataset._read_only  # pylint: disable=protected-access


# ------------------------------------------------------------------ COGS

def test_cogs_reads_the_release_format(bind):
  bind("conv_t5.vocabulary_model.path", "seqio_test")
  bind("conv_t5.cogs_data.path", os.path.join(FIXTURES, "cogs"))
  task = seqio.get_mixture_or_task("cogs")
  assert set(task.splits) == {"train", "validation", "test", "gen"}
  assert pretokenized("cogs", "test", "inputs") == ["cogs sentence: The mouse froze ."]
  assert pretokenized("cogs", "test") == [
      "* mouse ( x _ 1 ) ; freeze . theme ( x _ 2 , x _ 1 )"]
  assert task.num_input_examples("gen") == 2
  ex = first(mesh_transformer.mesh_train_dataset_fn("cogs", SEQUENCE_LENGTH,
                                                    shuffle=False))
  assert ex["inputs"].shape == (64,) and ex["targets"].max() > 0
  (ev,) = mesh_transformer.mesh_eval_dataset_fn("cogs", SEQUENCE_LENGTH, "gen")
  assert first(ev.dataset_fn())["targets"].shape == (16,)


def test_cogs_malformed_line_names_file_and_line(tmp_path, bind):
  for split_file in finetune.COGS_FILES.values():
    with open(os.path.join(FIXTURES, "cogs", split_file)) as f:
      (tmp_path / split_file).write_text(f.read())
  with open(tmp_path / "dev.tsv", "a") as f:
    f.write("A dog ran .\tdog ( x _ 1 ) AND run . agent ( x _ 2 , x _ 1 )\n")
  bind("conv_t5.vocabulary_model.path", "seqio_test")
  bind("conv_t5.cogs_data.path", str(tmp_path))
  with pytest.raises(sources.DataFormatError,
                     match=r"dev\.tsv:3: expected 3 tab-separated fields"):
    mesh_transformer.mesh_eval_dataset_fn("cogs", SEQUENCE_LENGTH,
                                          "validation")[0].dataset_fn()


def test_cogs_needs_its_path():
  from conv_t5 import errors  # pylint: disable=g-import-not-at-top
  with pytest.raises(errors.ConfigError, match="conv_t5.cogs_data.path"):
    finetune.cogs_file("train")


def test_fake_examples_cover_every_feature():
  # Guard for the mocks above: they must follow the real feature specs.
  builder = tfds.builder("squad/v1.1:3.0.0", data_dir="/nonexistent/tfds")
  ex = first(fake_as_dataset(builder))
  assert list(ex["answers"]["text"]) == [b"answer 0", b"other"]
  assert np.asarray(ex["answers"]["answer_start"]).tolist() == [0, 7]
