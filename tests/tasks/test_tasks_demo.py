"""The offline demo tasks (demo.py) on the real demo data, through t5.

Uses the session's demo build (see test_tasks_demo_data.py; the second call
is the builder's fast no-op) and the 8k vocabulary trained with it.
"""

import copy
import glob
import os

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

import conv_t5.tasks  # noqa: F401  (registers the tasks)
from conv_t5 import errors
from conv_t5.tasks import config
from conv_t5.tasks import demo
from conv_t5.tasks import demo_data
from conv_t5.tasks import vocab
from conv_t5.tasks.demo_data import archives
from t5.models import mesh_transformer

LENGTHS = {"inputs": 64, "targets": 8}
DEMO_TASKS = ["demo_movie_sentiment", "demo_tweet_sentiment", "demo_topic"]


def _raw_dir(tmp_path_factory):
  raw = os.path.join(config.data_dir(), "raw")
  if all(glob.glob(os.path.join(raw, s.pattern))
         for s in archives.SOURCES.values()):
    return raw
  return str(tmp_path_factory.getbasetemp() / "demo_raw")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  # Same directory as test_tasks_demo_data.py: built once per session.
  return demo_data.build(str(tmp_path_factory.getbasetemp() / "demo_data"),
                         raw_dir=_raw_dir(tmp_path_factory))


@pytest.fixture
def gin_state():
  saved = copy.deepcopy(gin.config._CONFIG)  # pylint: disable=protected-access
  yield
  gin.config._CONFIG.clear()  # pylint: disable=protected-access
  gin.config._CONFIG.update(saved)  # pylint: disable=protected-access


@pytest.fixture
def on_demo_data(built, gin_state):
  del gin_state
  with gin.unlock_config():
    gin.bind_parameter("conv_t5.data_dir.path", built["data_dir"])
  return built


def read_split(path):
  with open(path, encoding="utf-8") as f:
    return [tuple(l.split("\t")) for l in f.read().splitlines()[1:]]


def test_registrations():
  assert sorted(demo.FINETUNE_TASKS) == sorted(DEMO_TASKS)
  for name in DEMO_TASKS:
    task = seqio.get_mixture_or_task(name)
    assert tuple(task.splits) == ("train", "validation", "test")
    assert [f.__name__ for f in task.metric_fns] == ["accuracy"]
    assert task.output_features["targets"].vocabulary is vocab.VOCABULARY
  mixture = seqio.get_mixture_or_task("demo_finetune")
  assert sorted(t.name for t in mixture.tasks) == sorted(DEMO_TASKS)
  task = seqio.get_mixture_or_task("demo_span_corruption")
  assert tuple(task.splits) == ("train", "validation") and not task.metric_fns


def test_offline_vocabulary_is_the_8k_model(on_demo_data):
  assert vocab.vocabulary_model() == on_demo_data["spm_model"]
  assert vocab.VOCABULARY.vocab_size == 8000 + vocab.EXTRA_IDS
  ids = vocab.VOCABULARY.encode("positive")
  assert vocab.VOCABULARY.decode(ids) == "positive"


@pytest.mark.parametrize("name", DEMO_TASKS)
def test_examples_are_the_files_exactly(on_demo_data, name):
  set_name = demo.FINETUNE_TASKS[name]
  prefix = demo_data.FINETUNE_SETS[set_name][0]
  rows = read_split(on_demo_data[set_name]["test"])
  ds = seqio.get_mixture_or_task(name).get_dataset(
      LENGTHS, split="test", shuffle=False)
  got = [(ex["targets_pretokenized"].decode(), ex["inputs_pretokenized"].decode())
         for ex in tfds.as_numpy(ds)]
  assert got == [(label, f"{prefix} {text}") for label, text in rows]


@pytest.mark.parametrize("name", DEMO_TASKS + ["demo_finetune",
                                               "demo_span_corruption"])
def test_through_mesh_dataset_fns(on_demo_data, name):
  del on_demo_data
  span = name == "demo_span_corruption"
  lengths = {"inputs": 128, "targets": 32} if span else LENGTHS
  ds = mesh_transformer.mesh_train_dataset_fn(name, lengths, shuffle=False)
  ex = next(iter(tfds.as_numpy(ds.take(1))))
  for key in ("inputs", "targets"):
    assert ex[key].shape == (lengths[key],)
    assert ex[key + "_segmentation"].max() >= 1
  if span:
    sentinel = vocab.VOCABULARY.vocab_size - 1
    assert sentinel in ex["inputs"] and sentinel in ex["targets"]
  for split in ("validation", "test"):
    evals = mesh_transformer.mesh_eval_dataset_fn(name, lengths, split)
    if span and split == "test":
      assert evals == []
      continue
    for ev in evals:
      ex = next(iter(tfds.as_numpy(ev.dataset_fn().take(1))))
      assert ex["inputs"].shape == (lengths["inputs"],)
      if not span:
        labels = demo_data.FINETUNE_SETS[demo.FINETUNE_TASKS[ev.name]][1]
        target = vocab.VOCABULARY.decode(
            [int(i) for i in ex["targets"] if i > 1])
        assert target in labels


def test_accuracy_after_label_postprocessing_is_exact():
  task = seqio.get_mixture_or_task("demo_topic")
  targets = ["work", "science", "politics", "computers", "work"]
  predictions = ["work", "science", "law", "work", "Work"]
  t = [task.postprocess_fn(x, is_target=True) for x in targets]
  p = [task.postprocess_fn(x) for x in predictions]
  assert t == [3, 2, 1, 0, 3] and p == [3, 2, -1, 3, -1]
  assert task.metric_fns[0](t, p) == {"accuracy": pytest.approx(40.0)}


def test_missing_demo_data_says_how_to_build(tmp_path, gin_state):
  del gin_state
  with gin.unlock_config():
    gin.bind_parameter("conv_t5.data_dir.path", str(tmp_path))
  with pytest.raises(errors.ConfigError, match=r"not built: .*make data"):
    mesh_transformer.mesh_train_dataset_fn("demo_topic", LENGTHS)


def _summary_values(directory):
  values = {}
  for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        values[v.tag] = v.simple_value
  return values


@pytest.mark.slow
def test_demo_tasks_train_and_evaluate_through_the_t5_pipeline(
    on_demo_data, tmp_path):
  import t5.models  # pylint: disable=g-import-not-at-top
  from conv_t5 import config as gin_config  # pylint: disable=g-import-not-at-top
  gin_config.parse(
      ["dataset.gin", "models/transformer.tiny.gin", "cpu.gin"],
      [f"conv_t5.data_dir.path = '{on_demo_data['data_dir']}'",
       "mesh_eval_dataset_fn.num_eval_examples = 8"])
  model_dir = str(tmp_path / "model")
  model = t5.models.MtfModel(
      model_dir=model_dir, tpu=None, mesh_shape="",
      batch_size=("sequences_per_batch", 8),
      sequence_length={"inputs": 64, "targets": 16},
      learning_rate_schedule=0.01, save_checkpoints_steps=100,
      iterations_per_loop=1)
  # Pre-train, then fine-tune on the mixture from that checkpoint.
  model.train("demo_span_corruption", steps=2)
  model.train("demo_finetune", steps=4)
  assert os.path.exists(os.path.join(model_dir, "model.ckpt-4.index"))

  os.makedirs(os.path.join(model_dir, "validation_eval"))
  model.eval("demo_finetune", checkpoint_steps=-1, split="validation",
             compute_sequence_length=False)
  eval_dir = os.path.join(model_dir, "validation_eval")
  summaries = _summary_values(eval_dir)
  for name in DEMO_TASKS:
    with open(os.path.join(eval_dir, f"{name}_targets")) as f:
      targets = [int(x) for x in f.read().split()]
    with open(os.path.join(eval_dir, f"{name}_4_predictions")) as f:
      predictions = [int(x) for x in f.read().split()]
    assert len(targets) == len(predictions) == 8
    labels = demo_data.FINETUNE_SETS[demo.FINETUNE_TASKS[name]][1]
    assert set(targets) <= set(range(len(labels)))
    assert set(predictions) <= set(range(-1, len(labels)))
    expected = 100 * np.mean(np.array(targets) == np.array(predictions))
    assert summaries[f"eval/{name}/accuracy"] == pytest.approx(expected,
                                                              abs=1e-4)
