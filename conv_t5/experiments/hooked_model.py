"""The model class the grid's stages run on, and the hook that reports steps.

  HookedMtfModel   t5's MtfModel with conv_t5.train_model around train()
                   (conv_t5.training.model.GuardedMtfModel: sequence-length
                   check, architecture check of model_dir, NaN stop, finite
                   checkpoints, seed), plus extra hooks in every
                   Estimator.train call
  ProgressHook     reports the global step about once a second

Imports t5.models (through training.model): the worker imports this module
when it runs a stage.
"""

import time

import tensorflow.compat.v1 as tf

from conv_t5.training import model as guarded


class ProgressHook(tf.train.SessionRunHook):
  """Reports {"ev": "step"} events; remembers the pure stepping time.

  Args:
    emit: called with each event (a JSON-able dict).
    stage: the stages.Stage being trained.
    target: its final step.
  """

  def __init__(self, emit, stage, target):
    self._emit, self._stage, self._target = emit, stage, target
    self.first = None
    self.last = None
    self._reported = 0.0

  def begin(self):
    self._step = tf.train.get_global_step()

  def before_run(self, run_context):
    return tf.train.SessionRunArgs(self._step)

  def after_run(self, run_context, run_values):
    step, now = int(run_values.results) + 1, time.time()
    self.first = self.first or (step, now)
    self.last = (step, now)
    if now - self._reported >= 1.0 or step >= self._target:
      self._reported = now
      self._emit({"ev": "step", "stage": self._stage.name, "step": step,
                  "target": self._target})


class HookedMtfModel(guarded.GuardedMtfModel):
  """GuardedMtfModel, plus `hooks` passed to every Estimator.train call."""

  def __init__(self, *args, hooks=(), **kwargs):
    super().__init__(*args, **kwargs)
    self._extra_hooks = list(hooks)

  def estimator(self, *args, **kwargs):
    est = super().estimator(*args, **kwargs)
    train, extra = est.train, self._extra_hooks

    def train_with_hooks(input_fn, hooks=None, **kw):
      return train(input_fn, hooks=list(hooks or []) + extra, **kw)
    est.train = train_with_hooks
    return est
