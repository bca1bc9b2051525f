"""The grid's units of work, in run order, and the gin files each parses.

For every architecture and seed (a unit, run by one worker): span-corruption
pre-training, then for each fine-tuning task (or mixture) the model
fine-tuned from that checkpoint and the model trained from scratch, each
followed by t5's eval. Stage names are the model dirs' relative paths
(experiments.layout), plus " eval" for an eval stage.
"""

import dataclasses

from conv_t5.experiments import layout


@dataclasses.dataclass(frozen=True)
class Stage:
  """One step of a unit: kind "pretrain", "finetune" or "eval"."""
  kind: str
  arch: str
  init: str = ""
  task: str = ""
  seed: int = None

  @property
  def name(self):
    if self.kind == "pretrain":
      return layout.relative_dir(self.arch, seed=self.seed)
    base = layout.relative_dir(self.arch, self.init, self.task, self.seed)
    return base + (" eval" if self.kind == "eval" else "")

  @property
  def unit(self):
    return Unit(self.arch, self.seed)

  def model_dir(self, root):
    if self.kind == "pretrain":
      return layout.model_dir(root, self.arch, seed=self.seed)
    return layout.model_dir(root, self.arch, self.init, self.task, self.seed)

  @property
  def marker(self):
    return "eval_done.json" if self.kind == "eval" else "train_done.json"

  def train_stage(self):
    """The training stage whose checkpoints an eval stage reads."""
    return dataclasses.replace(self, kind="finetune")

  def pretrain_stage(self):
    """The pre-training stage a fine-tuning from "pretrained" starts from."""
    return Stage("pretrain", self.arch, seed=self.seed)

  def steps(self, spec):
    if self.kind == "pretrain":
      return spec.pretrain_steps
    return spec.finetune_steps if self.kind == "finetune" else 0


@dataclasses.dataclass(frozen=True)
class Unit:
  """An architecture and a seed: the stages one worker runs in order."""
  arch: str
  seed: int = None

  @property
  def name(self):
    return self.arch if self.seed is None else f"{self.arch}@{self.seed}"

  @classmethod
  def from_name(cls, name):
    arch, _, seed = name.partition("@")
    return cls(arch, int(seed) if seed else None)

  def stages(self, spec):
    """Pre-training (unless the grid starts from a release), then per task
    the fine-tuned and the from-scratch model, each followed by its eval."""
    out = ([] if spec.release_dir else
           [Stage("pretrain", self.arch, seed=self.seed)])
    for task in spec.tasks:
      for init in spec.inits(self.arch):
        out += [Stage("finetune", self.arch, init, task, self.seed),
                Stage("eval", self.arch, init, task, self.seed)]
    return out


def units(spec):
  """Every (architecture, seed) of the grid, seed-major: the first seed of
  every architecture comes first, so a partial run has comparable cells."""
  return [Unit(arch, seed) for seed in spec.seeds for arch in spec.archs]


def stages(spec):
  """All stages, unit by unit, in run order."""
  return [s for unit in units(spec) for s in unit.stages(spec)]


def stage_gin(spec, stage):
  """The gin files a stage parses: model config, its overrides, cpu.gin,
  then the stage's own recipe."""
  files = [spec.model_gin.format(arch=stage.arch), *spec.model_overrides,
           "cpu.gin"]
  files += {"pretrain": spec.pretrain_gin, "finetune": spec.finetune_gin,
            "eval": spec.eval_gin}[stage.kind]
  return files
