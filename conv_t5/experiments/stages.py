"""The grid's units of work, in run order, and the gin files each parses.

For every architecture: span-corruption pre-training, then for each task the
model fine-tuned from that checkpoint and the model trained from scratch,
each followed by t5's eval. Stage names are the model dirs' relative paths
(experiments.layout), plus " eval" for an eval stage.
"""

import dataclasses

from conv_t5.experiments import layout


@dataclasses.dataclass(frozen=True)
class Stage:
  """One unit of work: kind "pretrain", "finetune" or "eval"."""
  kind: str
  arch: str
  init: str = ""
  task: str = ""

  @property
  def name(self):
    if self.kind == "pretrain":
      return layout.relative_dir(self.arch)
    base = layout.relative_dir(self.arch, self.init, self.task)
    return base + (" eval" if self.kind == "eval" else "")

  def model_dir(self, root):
    if self.kind == "pretrain":
      return layout.model_dir(root, self.arch)
    return layout.model_dir(root, self.arch, self.init, self.task)

  @property
  def marker(self):
    return "eval_done.json" if self.kind == "eval" else "train_done.json"

  def train_stage(self):
    """The training stage whose checkpoint an eval stage reads."""
    return dataclasses.replace(self, kind="finetune")

  def steps(self, spec):
    if self.kind == "pretrain":
      return spec.pretrain_steps
    return spec.finetune_steps if self.kind == "finetune" else 0


def stages(spec):
  """All stages in run order: per arch, pre-train, then per task the
  fine-tuned and the from-scratch model, each followed by its eval."""
  out = []
  for arch in spec.archs:
    out.append(Stage("pretrain", arch))
    for task in spec.tasks:
      for init in layout.INITS:
        out += [Stage("finetune", arch, init, task),
                Stage("eval", arch, init, task)]
  return out


def stage_gin(spec, stage):
  """The gin files a stage parses: model config, its overrides, cpu.gin,
  then the stage's own recipe."""
  files = [spec.model_gin.format(arch=stage.arch), *spec.model_overrides,
           "cpu.gin"]
  files += {"pretrain": spec.pretrain_gin, "finetune": spec.finetune_gin,
            "eval": spec.eval_gin}[stage.kind]
  return files
