"""What wraps t5's training without changing it.

  lengths       check_sequence_length: lengths / batch sizes the model or mesh
                cannot take, refused before any graph is built
  checkpoints   compare_variables, check_checkpoint_compatible,
                ArchitectureGuard (refuses model_dir's checkpoint of another
                architecture), keep_operative_config_on_failure
  finite        NonFiniteLossGuard, FiniteCheckpointGuard (NaN / Inf)
  determinism   DETERMINISM_ENV, nondeterministic_env, seed_everything
                (importable without TensorFlow)
  train         conv_t5.train_model (gin): mesh-tensorflow's
                utils.train_model with all of the above, plus `seed`
  model         GuardedMtfModel: t5's MtfModel whose train() does the same
                (imports t5.models)
  ordered       conv_t5.OrderedUpdates (gin): an optimizer wrapper whose
                updates start after every gradient of the step

The `conv_t5_mesh_transformer` CLI applies train_model and OrderedUpdates
through gin/guards.gin. This package imports nothing itself, so that
`import conv_t5.training.determinism` stays free of TensorFlow.
"""
