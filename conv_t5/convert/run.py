"""convert(): one checkpoint of the authors' into one of conv_t5's layers.

Steps, each of which may refuse (refusals.ConversionError) before anything is
written:
  1. find the checkpoint (a directory's latest, or a prefix) and list it;
  2. build the authors' model from its gin config (vocabulary size read from
     the checkpoint) and compare its variables with the checkpoint's: a
     checkpoint of another architecture or size, or one with a variable
     missing, is refused with what it holds and the config that fits;
  3. check that our block can compute the same function (models.conv_settings)
     and build the converted model from the gin file it will be given;
  4. plan every variable (mapping.make_plan) and check the plan covers the
     converted model exactly;
then write, in a temporary directory published at the end: the checkpoint
(model.ckpt-<same step>, `checkpoint`), model.gin (our layers), t5's
operative_config.gin of the converted model (so that MtfModel.finetune's
pretrained_model_dir works on the directory) and conversion.json.
"""

import json
import os

import conv_t5
from conv_t5.training import checkpoints as guard_checkpoints
from conv_t5.convert import checkpoints
from conv_t5.convert import gin_text
from conv_t5.convert import mapping
from conv_t5.convert import models
from conv_t5.convert import refusals

RECORD = "conversion.json"


def _vocab_size(reader):
  shape = reader.shapes.get("shared/embedding")
  if shape is None or len(shape) != 2:
    raise refusals.ConversionError(
        f"{reader.prefix} has no shared/embedding [vocab, d_model] variable: "
        f"it holds {refusals.summary(refusals.describe(reader.shapes))}. "
        + refusals.suggestion(refusals.describe(reader.shapes)))
  return shape[0]


def check_source(reader, source, model_gin):
  """Refuses a checkpoint whose weights differ from the authors' model's."""
  entries = {n: list(s) for n, s in reader.shapes.items()
             if n != checkpoints.GLOBAL_STEP}
  missing, unexpected, reshaped = guard_checkpoints.compare_variables(
      {n: list(s) for n, s in source.variables.items()}, entries)
  if missing or unexpected or reshaped:
    raise refusals.mismatch(reader.prefix, model_gin, missing, unexpected,
                            reshaped, refusals.describe(reader.shapes))


def convert(checkpoint, output_dir, model_gin, gin_params=(), step=None,
            dry_run=False, log=print):
  """Converts an authors' checkpoint; returns a summary dict.

  Args:
    checkpoint: a model directory or checkpoint prefix, local or gs://.
    output_dir: a new directory (local or gs://) for the converted model.
    model_gin: the authors' gin config it was trained with, e.g.
      "models/authors_lconv.base.gin".
    gin_params: extra gin bindings for that config.
    step: optional checkpoint step within a directory.
    dry_run: check and plan everything, write nothing.
    log: a function printing one line.
  Raises:
    refusals.ConversionError: the checkpoint or config cannot be converted;
      nothing was written.
  """
  if not dry_run:
    checkpoints.check_output_dir(output_dir)
  prefix = checkpoints.resolve(checkpoint, step)
  reader = checkpoints.Reader(prefix)
  vocab = _vocab_size(reader)
  source = models.build([model_gin], gin_params, vocab)
  check_source(reader, source, model_gin)
  variant, width = models.conv_settings(source, model_gin)
  text = gin_text.converted_gin(model_gin, list(gin_params), variant, width,
                                source.d_model, checkpoint=prefix)
  target = models.build_text(text, vocab)
  plan = mapping.make_plan(source, target, reader.shapes, variant, width)
  summary = {
      "source": prefix, "source_config": model_gin,
      "source_bindings": list(gin_params), "variant": variant,
      "kernel_width": width, "d_model": source.d_model,
      "step": checkpoints.step_of(prefix),
      "source_parameters": _count(source),
      "converted_parameters": _count(target),
      "converted_layers": len(source.conv_layers),
      "variables_written": len(plan.targets),
      "optimizer_slots_left_out": len(plan.dropped_slots),
      "dtypes": sorted({str(d.name) for d in reader.dtypes.values()}),
      "conv_t5_version": conv_t5.__version__,
  }
  log(f"{prefix}: {variant} convolution, d_model {source.d_model}, "
      f"K = {width}, {len(source.conv_layers)} conv layers; "
      f"{summary['source_parameters']:,} parameters -> "
      f"{summary['converted_parameters']:,} (pointwise projection folded).")
  if dry_run:
    log("dry run: checked and planned; nothing written.")
    return summary
  name = os.path.basename(prefix)
  with checkpoints.staging(output_dir) as tmp:
    checkpoints.write(os.path.join(tmp, name),
                      mapping.values(plan, reader, target.variables))
    checkpoints.write_index(tmp, name)
    with open(os.path.join(tmp, gin_text.MODEL_GIN), "w") as f:
      f.write(text)
    with open(os.path.join(tmp, "operative_config.gin"), "w") as f:
      f.write(target.operative_config)
    with open(os.path.join(tmp, RECORD), "w") as f:
      json.dump(summary, f, indent=1, sort_keys=True)
      f.write("\n")
  log(f"wrote {output_dir}/{name} and {output_dir}/{gin_text.MODEL_GIN}; "
      f"fine-tune with --gin_file={output_dir}/{gin_text.MODEL_GIN} "
      f"--gin_param=\"utils.run.init_checkpoint = "
      f"'{output_dir}/{name}'\".")
  return summary


def _count(model):
  """Parameters of a built model (its variables' sizes)."""
  total = 0
  for shape in model.variables.values():
    n = 1
    for d in shape:
      n *= d
    total += n
  return total
