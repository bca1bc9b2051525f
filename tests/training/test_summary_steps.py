"""conv_t5.train_model.summary_steps: the Estimator's summary interval (the
notebook's loss curve reads the summaries it writes)."""

import types

import tensorflow as tf

from conv_t5.training import train


def _estimator():
  return types.SimpleNamespace(_config=tf.estimator.RunConfig(),
                               _session_config=None)


def test_summary_steps_sets_the_estimators_summary_interval():
  est = _estimator()
  assert est._config.save_summary_steps == 100  # pylint: disable=protected-access
  train._apply_run_options(est, None, None, None, summary_steps=10)  # pylint: disable=protected-access
  assert est._config.save_summary_steps == 10  # pylint: disable=protected-access
  assert est._session_config is None  # pylint: disable=protected-access


def test_without_summary_steps_the_interval_stays():
  est = _estimator()
  train._apply_run_options(est, 3, None, None)  # pylint: disable=protected-access
  assert est._config.save_summary_steps == 100  # pylint: disable=protected-access
  assert est._config.tf_random_seed == 3  # pylint: disable=protected-access
