"""The authors' checkpoints through t5's command line, as released and
converted (conv_t5_mesh_transformer, in one cli_runner process).

A tiny authors' lightweight model (models/authors_lconv.base.gin at d_model 32)
is trained for 2 steps on demo_topic, as the released checkpoints were trained
(float32 master weights here, so that the comparison below is exact to
float32). Then, from that checkpoint:
  * fine-tuning as released: the authors' gin config with
    utils.run.init_checkpoint (t5's mechanism);
  * conversion: `python -m conv_t5.convert`'s code (conv_t5.convert.cli.main);
  * fine-tuning the converted checkpoint with the model.gin it wrote;
  * t5's other mechanism, MtfModel.finetune(pretrained_model_dir=...), on
    the converted directory: it reads the operative_config.gin written there
    (t5 0.9.4's --mode=finetune command line cannot be used: it passes
    MtfModel.finetune arguments it does not take);
  * the as-released config given the converted checkpoint: refused by the
    init-checkpoint guard (mesh-tensorflow would start the missing weights
    from random values).
Both fine-tunings see the same batches (seed, no packing, no dropout), so
their first losses, computed from the restored weights, must agree.
"""

import os

import numpy as np
import pytest

import cli_helpers as h
import convert_harness as ch

LCONV = ch.CONFIGS["lconv"]
TRAINED = 2   # steps of the "released" model
COMMON = [
    "--module_import=conv_t5.tasks",
    "--gin_file=dataset.gin",
]
PARAMS = [
    "MIXTURE_NAME = 'demo_topic'",
    "utils.run.sequence_length = {'inputs': 64, 'targets': 4}",
    "utils.run.batch_size = ('sequences_per_batch', 8)",
    "utils.run.iterations_per_loop = 1",
    "utils.get_variable_dtype.master_dtype = 'float32'",
    "dropout_rate = 0.0",
    "mesh_train_dataset_fn.pack = False",
    "conv_t5.train_model.seed = 1",
    "conv_t5.train_model.disable_meta_optimizer = True",
]


MODEL_API = """
import t5
import conv_t5.tasks
from conv_t5 import config
config.parse(["cpu.gin"], ["utils.get_variable_dtype.master_dtype = 'float32'",
                           "dropout_rate = 0.0"])
model = t5.models.MtfModel(
    model_dir="{model_dir}", tpu=None, mesh_shape="",
    batch_size=("sequences_per_batch", 8),
    sequence_length={{"inputs": 64, "targets": 4}},
    learning_rate_schedule=0.001, save_checkpoints_steps=1,
    iterations_per_loop=1)
model.finetune("demo_topic", finetune_steps=1,
               pretrained_model_dir="{pretrained}")
"""


def argv(model_dir, gin_files, params):
  return (COMMON + [f"--model_dir={model_dir}"]
          + [f"--gin_file={g}" for g in gin_files] + ["--gin_file=cpu.gin"]
          + [f"--gin_param={p}" for p in PARAMS + params])


@pytest.mark.slow
def test_released_and_converted_checkpoints_fine_tune_alike(tmp_path,
                                                            demo_data_dir):
  d = str(tmp_path)
  authors = os.path.join(d, "authors")
  converted = os.path.join(d, "converted")
  init = f"utils.run.init_checkpoint = '{{}}/model.ckpt-{TRAINED}'"
  steps = f"utils.run.train_steps = {TRAINED + 2}"
  convert_args = [f"--checkpoint={authors}", f"--model={LCONV}",
                  f"--output_dir={converted}"] + [
                      f"--gin_param={b}" for b in ch.TINY]
  cases = [
      {"name": "train", "argv": argv(authors, [LCONV], ch.TINY + [
          f"utils.run.train_steps = {TRAINED}",
          f"utils.run.save_checkpoints_steps = {TRAINED}"])},
      {"name": "convert", "python": (
          "from conv_t5.convert import cli\n"
          f"assert cli.main({convert_args!r}) == 0\n")},
      {"name": "released", "argv": argv(
          os.path.join(d, "released_ft"), [LCONV],
          ch.TINY + [init.format(authors), steps])},
      {"name": "converted", "argv": argv(
          os.path.join(d, "converted_ft"), [os.path.join(converted,
                                                         "model.gin")],
          [init.format(converted), steps])},
      {"name": "model_api", "python": MODEL_API.format(
          model_dir=os.path.join(d, "model_api_ft"), pretrained=converted)},
      {"name": "mismatch", "argv": argv(
          os.path.join(d, "mismatch_ft"), [LCONV],
          ch.TINY + [init.format(converted), steps])},
  ]
  for c in cases:
    c["log"] = os.path.join(d, c["name"] + ".log")
  results = h.run_batch(cases, d, timeout=900, CONV_T5_DATA_DIR=demo_data_dir)

  def log(name):
    with open(os.path.join(d, name + ".log")) as f:
      return f.read()

  for name in ("train", "convert", "released", "converted", "model_api"):
    assert results[name]["status"] == 0, (name, results[name],
                                          log(name)[-3000:])
  assert h.latest_step(authors) == TRAINED
  assert h.latest_step(converted) == TRAINED
  for name in ("released", "converted"):
    assert h.latest_step(os.path.join(d, f"{name}_ft")) == TRAINED + 2
  assert h.latest_step(os.path.join(d, "model_api_ft")) == TRAINED + 1
  released, ours = h.losses(log("released")), h.losses(log("converted"))
  assert len(released) == len(ours) == 2, (released, ours)
  assert np.isfinite(released + ours).all()
  # Same weights, same batch, same function: the same first loss.
  assert abs(released[0] - ours[0]) <= 1e-4 * max(1.0, abs(released[0])), (
      released, ours)
  print(f"first fine-tuning loss: released {released[0]:.6f}, converted "
        f"{ours[0]:.6f}; seconds: " + ", ".join(
            f"{n} {r['seconds']}" for n, r in results.items()))

  refusal = results["mismatch"]
  assert refusal["status"] == 2, refusal
  assert "does not fit the configured model" in refusal["message"]
  assert "LocalConvAttnBlock" in refusal["message"]
  assert "the model.gin beside it" in refusal["message"]
  assert not os.path.exists(os.path.join(d, "mismatch_ft", "checkpoint"))
