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
from gin import config_parser

from conv_t5 import paths
from conv_t5.experiments import layout


class GridMismatchError(ValueError):
  """An output directory holds a grid run with a different configuration."""


@gin.configurable(module="conv_t5.grid")
@dataclasses.dataclass(frozen=True)
class GridSpec:
  """Everything that decides the grid's numbers (bound in gin/demo/*.gin).

  Attributes:
    archs: architecture names (experiments.layout: ARCHS and XATTN_ARCHS);
      model config = model_gin.format(arch=...).
    tasks: what each model is fine-tuned on: seqio Tasks, or Mixtures (one
      fine-tuning run on the mixture, each of its tasks evaluated), each
      with an eval metric.
    pair_task: the two-sequence task of the cross-attention study (RQ4),
      reported apart from the single-sequence tasks ("" if none).
    pretrain_task: the span-corruption task.
    model_gin: model config pattern, e.g. "models/{arch}.tiny.gin".
    model_overrides: gin files parsed right after the model config (sizes).
    pretrain_steps / finetune_steps: training steps per stage (fine-tuning
      from a checkpoint at step P trains to P + finetune_steps, as t5 does).
    batch_size: sequences per batch (packed), all training stages.
    eval_batch_size: sequences per decoding batch in eval (0: batch_size).
    pretrain_sequence_length / finetune_sequence_length: {"inputs", "targets"}.
    pretrain_gin / finetune_gin / eval_gin: stage gin files (optimizer,
      learning-rate schedule).
    bindings: extra gin bindings for every stage.
    eval_split: the split t5's eval decodes at every evaluated checkpoint and
      the checkpoint is chosen on (model selection).
    report_split: the split reported, at the checkpoint eval_split chose
      ("": report eval_split itself).
    eval_checkpoints: fine-tuning checkpoints evaluated, evenly spaced, the
      last one included (finetune_steps must be a multiple).
    seed: the first seed of conv_t5.train_model (weights, dropout, data order
      and span noise); None: unseeded, as T5 (then num_seeds must be 1).
    num_seeds: seeds seed, seed + 1, ...: every stage runs once per seed.
    scratch_archs: the architectures also trained from scratch (the control
      and the convolutions: RQ1 and the control compare them); () = all.
      The others (the cross-attention hybrids: RQ4 compares pre-trained
      models) are only fine-tuned from their pre-training.
    pretrained_from: where "pretrained" fine-tuning starts: "" for the
      grid's own pre-training stages, "release" for the shipped demo release
      (layout.RELEASE_DIR, `make demo-pretrain`), or a release directory.
      With a release the grid runs no pre-training: the fine-tuning seed
      seed + k starts from the release's k-th seed of that architecture,
      cyclically (experiments.release.init_checkpoint).
  """
  archs: tuple = layout.ARCHS
  tasks: tuple = ("demo_movie_sentiment", "demo_tweet_sentiment", "demo_topic")
  pair_task: str = ""
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
  report_split: str = ""
  eval_checkpoints: int = 1
  seed: int = None
  num_seeds: int = 1
  scratch_archs: tuple = ()
  pretrained_from: str = ""

  def __post_init__(self):
    for f in dataclasses.fields(self):  # gin binds lists; keep tuples
      if isinstance(getattr(self, f.name), list):
        object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

  @property
  def seeds(self):
    """The seeds every stage runs with: (None,) for an unseeded grid."""
    if self.seed is None:
      return (None,)
    return tuple(range(self.seed, self.seed + self.num_seeds))

  @property
  def release_dir(self):
    """The release fine-tuning starts from, or None (own pre-training)."""
    if not self.pretrained_from:
      return None
    if self.pretrained_from == "release":
      return layout.RELEASE_DIR
    return self.pretrained_from

  def inits(self, arch):
    """The initialisations `arch` is fine-tuned from."""
    if not self.scratch_archs or arch in self.scratch_archs:
      return layout.INITS
    return tuple(i for i in layout.INITS if i != "scratch")

  @property
  def save_every(self):
    """Fine-tuning checkpoint interval: eval_checkpoints per run."""
    return self.finetune_steps // self.eval_checkpoints

  def check(self):
    """Raises ValueError naming the first inconsistent field."""
    known = layout.ARCHS + layout.XATTN_ARCHS
    unknown = [a for a in self.archs + self.scratch_archs if a not in known]
    if unknown:
      raise ValueError(
          f"unknown architectures {unknown}; known: {list(known)}")
    if self.num_seeds < 1 or (self.seed is None and self.num_seeds != 1):
      raise ValueError(
          f"GridSpec.num_seeds = {self.num_seeds}: needs GridSpec.seed set "
          "(an integer) and num_seeds >= 1.")
    if (self.eval_checkpoints < 1
        or self.finetune_steps % self.eval_checkpoints):
      raise ValueError(
          f"GridSpec.eval_checkpoints = {self.eval_checkpoints} must be >= 1 "
          f"and divide GridSpec.finetune_steps = {self.finetune_steps}.")
    return self

  def to_json(self):
    return json.loads(json.dumps(dataclasses.asdict(self)))

  @classmethod
  def from_json(cls, d):
    return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)
                  if f.name in d})


# The names a binding may give GridSpec: short, partial and full.
GRID_SELECTORS = ("GridSpec", "grid.GridSpec", "conv_t5.grid.GridSpec")

# The grid's own pre-training. A grid that fine-tunes a release
# (pretrained_from) runs none: it takes these from the release's manifest
# (experiments.release.with_release_pretraining) and refuses them bound.
PRETRAIN_FIELDS = ("pretrain_task", "pretrain_steps",
                   "pretrain_sequence_length", "pretrain_gin")


class StatementsOnly(config_parser.ParserDelegate):
  """Parses references and macros to None: only the statements matter."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return None

  def macro(self, macro_name):
    return None


def check_bindings(bindings):
  """Refuses bindings that are not GridSpec.* ones.

  The grid parses the bindings into a GridSpec and passes nothing else on to
  its stages (the stages' gin config gets GridSpec.bindings), so any other
  binding would be silently dropped.

  Raises:
    ValueError: naming the bindings and where they belong instead.
  """
  other = []
  for binding in bindings:
    try:
      statements = list(config_parser.ConfigParser(binding, StatementsOnly()))
    except SyntaxError:  # gin's own message, when it parses them below
      continue
    if not all(
        isinstance(s, config_parser.BindingStatement) and not s.scope
        and s.arg_name and s.selector in GRID_SELECTORS for s in statements):
      other.append(binding)
  if other:
    shown = ", ".join(repr(b) for b in other)
    raise ValueError(
        f"--gin_param {shown}: the grid passes only GridSpec.* bindings on; "
        "a binding for the stages' gin config goes into GridSpec.bindings, "
        f"e.g. --gin_param \"GridSpec.bindings = [{shown}]\" (this replaces "
        "the profile's own GridSpec.bindings list).")


def spec_from_gin(gin_files, bindings=()):
  """Parses the profile gin files (which bind GridSpec.*) and `bindings`
  (GridSpec.* only: check_bindings); returns the spec."""
  check_bindings(bindings)
  paths.add_gin_search_paths()
  gin.clear_config()
  logging.disable(logging.ERROR)  # gin logs every search-path miss as an error
  try:
    gin.parse_config_files_and_bindings(list(gin_files), list(bindings))
  finally:
    logging.disable(logging.NOTSET)
  try:
    spec = GridSpec()
    bound = [f for f in PRETRAIN_FIELDS if _is_bound(f)]
  finally:
    gin.clear_config()
  if spec.pretrained_from and bound:
    raise ValueError(
        f"{', '.join('GridSpec.' + f for f in bound)} bound, but this grid "
        f"fine-tunes the pre-trained models of a release (GridSpec."
        f"pretrained_from = {spec.pretrained_from!r}) and runs no "
        "pre-training: its pre-training is the release's (its manifest.json "
        "says which). Remove the binding, or pre-train in the grid with "
        "GridSpec.pretrained_from = '' (e.g. --gin_file "
        "demo/own_pretraining.gin).")
  return spec.check()


def _is_bound(field):
  try:
    gin.query_parameter(f"conv_t5.grid.GridSpec.{field}")
  except ValueError:
    return False
  return True

