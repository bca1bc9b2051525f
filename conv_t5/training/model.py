"""GuardedMtfModel: t5's MtfModel whose train() runs conv_t5.train_model.

Importing this module imports t5.models (and with it torch, which
t5/models/hf_model.py imports); nothing else in conv_t5.training does, so
only the drivers that use the class pay for it (the old path
`conv_t5.guards.GuardedMtfModel` imports this module on first use).
"""

import functools

from mesh_tensorflow.transformer import utils as mtf_utils
from t5.models import mesh_transformer
from t5.models import mtf_model

from conv_t5.training import lengths
from conv_t5.training import ordered
from conv_t5.training import train


class GuardedMtfModel(mtf_model.MtfModel):
  """t5.models.MtfModel whose train() runs conv_t5.training.train.train_model.

  Same constructor as MtfModel plus `seed` (see train_model) and
  `cpu_devices`; the optimizer defaults to conv_t5.training.ordered's
  OrderedUpdates (Adafactor, updates after all gradients). Other methods
  (eval, predict, finetune...) are MtfModel's.
  """

  def __init__(self, *args, seed=None, cpu_devices=None, **kwargs):
    if kwargs.get("optimizer") is None:
      kwargs["optimizer"] = ordered.OrderedUpdates
    super().__init__(*args, **kwargs)
    self._seed = seed
    self._cpu_devices = cpu_devices

  def train(self, mixture_or_task_name, steps, init_checkpoint=None,
            split="train"):
    vocabulary = mesh_transformer.get_vocabulary(mixture_or_task_name)
    model = mtf_utils.build_model(
        model_type=self._model_type,
        input_vocab_size=mtf_utils.inputs_vocabulary(vocabulary).vocab_size,
        output_vocab_size=mtf_utils.targets_vocabulary(vocabulary).vocab_size,
        layout_rules=self._layout_rules, mesh_shape=self._mesh_shape)
    lengths.check_sequence_length(
        self._sequence_length, model=model, model_type=self._model_type,
        batch_size=self.batch_size, mesh_shape=self._mesh_shape,
        layout_rules=self._layout_rules)
    dataset_fn = functools.partial(
        mesh_transformer.mesh_train_dataset_fn,
        mixture_or_task_name=mixture_or_task_name)
    train.train_model(
        self.estimator(vocabulary, init_checkpoint), vocabulary,
        self._sequence_length, self.batch_size, dataset_fn, steps,
        self._ensemble_inputs, dataset_split=split, seed=self._seed,
        check_lengths=False, cpu_devices=self._cpu_devices,
        init_checkpoint=init_checkpoint or "")
