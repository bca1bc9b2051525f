"""The benchmark: training and decoding speed, peak memory and FLOPs against length.

    python -m conv_t5.bench [--quick] [...]       # `make bench`; see runner

  runner    the command line and the run (`python -m conv_t5.bench` runs
            runner.main)
  models    the models compared, as gin files + bindings per size
  group     one (workload, shape): its workers built, warmed up, timed
            round-robin within the memory budget
  proc      worker processes (fork server) and the memory guard
  worker    a worker's entry point; preload: what the fork server imports
  step      the t5 pipeline's training step, built and timed in a worker
  decode    greedy decoding (workload D) and teacher-forced scoring (S),
            built and timed in a worker
  points    workloads, point shapes and labels, the decoding grid
  core      our depthwise core against tf.nn.depthwise_conv2d
  flops     analytic and profiler FLOP counts
  report    records, targets, markdown table and plot
  decode_report  the same for decoding and scoring

The machine's description comes from conv_t5.machine. This package imports
nothing itself (the fork server imports `conv_t5.bench.preload` alone).
"""
