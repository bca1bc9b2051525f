"""GridSpec: everything that decides the grid's numbers, bound in gin.

The demo's profiles (gin/demo/default.gin, quick.gin) bind `GridSpec.*`;
`spec_from_gin` parses them and returns the spec. The gin name is
`conv_t5.grid.GridSpec` (registered before the grid became a package; saved
profiles and operative configs use it).
"""

import dataclasses
import json
import logging

import gin

from conv_t5 import paths
from conv_t5.experiments import layout


class GridMismatchError(ValueError):
  """An output directory holds a grid run with a different configuration."""


@gin.configurable(module="conv_t5.grid")
@dataclasses.dataclass(frozen=True)
class GridSpec:
  """Everything that decides the grid's numbers (bound in gin/demo/*.gin).

  Attributes:
    archs: architecture names; model config = model_gin.format(arch=...).
    tasks: fine-tuning tasks (seqio names), each with an eval metric.
    pretrain_task: the span-corruption task.
    model_gin: model config pattern, e.g. "models/{arch}.tiny.gin".
    model_overrides: gin files parsed right after the model config (sizes).
    pretrain_steps / finetune_steps: training steps per stage (fine-tuning
      from a checkpoint at step P trains to P + finetune_steps, as t5 does).
    batch_size: sequences per batch (packed), all training stages.
    eval_batch_size: sequences per decoding batch in eval (0: batch_size).
    pretrain_sequence_length / finetune_sequence_length: {"inputs", "targets"}.
    pretrain_gin / finetune_gin / eval_gin: stage gin files (optimizer,
      learning-rate schedule, checkpoint interval).
    bindings: extra gin bindings for every stage.
    eval_split: the split t5's eval decodes and scores.
    seed: conv_t5.train_model's seed (weights, dropout, data order and
      noise), the same for every stage; None: unseeded, as T5.
  """
  archs: tuple = layout.ARCHS
  tasks: tuple = ("demo_movie_sentiment", "demo_tweet_sentiment", "demo_topic")
  pretrain_task: str = "demo_span_corruption"
  model_gin: str = "models/{arch}.tiny.gin"
  model_overrides: tuple = ()
  pretrain_steps: int = 1000
  finetune_steps: int = 300
  batch_size: int = 16
  eval_batch_size: int = 0
  pretrain_sequence_length: dict = dataclasses.field(
      default_factory=lambda: {"inputs": 64, "targets": 16})
  finetune_sequence_length: dict = dataclasses.field(
      default_factory=lambda: {"inputs": 64, "targets": 4})
  pretrain_gin: tuple = ("demo/pretrain.gin",)
  finetune_gin: tuple = ("demo/finetune.gin",)
  eval_gin: tuple = ()
  bindings: tuple = ()
  eval_split: str = "validation"
  seed: int = None

  def __post_init__(self):
    for f in dataclasses.fields(self):  # gin binds lists; keep tuples
      if isinstance(getattr(self, f.name), list):
        object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

  def to_json(self):
    return json.loads(json.dumps(dataclasses.asdict(self)))

  @classmethod
  def from_json(cls, d):
    return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)
                  if f.name in d})


def spec_from_gin(gin_files, bindings=()):
  """Parses the profile gin files (which bind GridSpec.*); returns the spec."""
  paths.add_gin_search_paths()
  gin.clear_config()
  logging.disable(logging.ERROR)  # gin logs every search-path miss as an error
  try:
    gin.parse_config_files_and_bindings(list(gin_files), list(bindings))
  finally:
    logging.disable(logging.NOTSET)
  spec = GridSpec()
  gin.clear_config()
  unknown = [a for a in spec.archs if a not in layout.ARCHS]
  if unknown:
    raise ValueError(
        f"unknown architectures {unknown}; known: {list(layout.ARCHS)}")
  return spec

