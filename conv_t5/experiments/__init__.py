"""The paper's grid as stages of the t5 pipeline, the demo and its results.

  layout        the architectures, initialisations and model-dir layout
                (<root>/<arch>/{pretrain, pretrained/<task>, scratch/<task>});
                the one place they are written
  spec          GridSpec (gin: conv_t5.grid.GridSpec), parsed from a profile
  stages        the units of work in run order, the gin files of each
  markers       what a run records on disk; which stages are done
  worker        the worker process that runs one architecture's stages
  hooked_model  the MtfModel subclass the stages run on, the progress hook
  progress      the driver's progress line and time-left estimate
  demo          `make demo`: data, workers, table (`python -m conv_t5.demo`)
  results       the table from t5's eval outputs (`python -m conv_t5.results`)
  params        parameter counts of model configs (`python -m conv_t5.params`)

This package imports nothing itself: launch/paper_grid.py imports `layout`
without TensorFlow.
"""
