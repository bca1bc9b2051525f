"""Where a decoding step's time goes at long inputs (a one-off diagnosis).

    python docs/bench/decode_inputs/step_cost/step_cost.py MODEL LI T [trace]

Builds the bench's greedy-decoding point (small size, B = 16, Li inputs,
exactly T targets; conv_t5.bench.decode.Worker), runs one warm-up decode and
two timed ones and prints their times. The cost of one decoder step is the
difference between two runs at different T, divided by the difference in T.
With `trace`, one more decode runs under TensorFlow's full trace and the 30
ops with the most time (summed over the while loop's iterations) are printed.
Run alone on an idle machine.
"""

import collections
import sys

import conv_t5  # noqa: F401  (makes mesh_tensorflow importable)
from conv_t5.bench import decode
from conv_t5.bench import points


def main(argv):
  model, li, t = argv[1], int(argv[2]), int(argv[3])
  point = points.decode_point(model, "small", "D", 16, li, t, 32128)
  worker = decode.Worker(point)
  worker.steps(1)
  times = worker.steps(2)
  print("RESULT", model, li, t, "times", [round(x, 2) for x in times],
        "build", round(worker.build_s, 1), flush=True)
  if len(argv) > 4:
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    metadata = tf.RunMetadata()
    worker.sess.run(worker.output, options=options, run_metadata=metadata)
    total, count = collections.Counter(), collections.Counter()
    for dev in metadata.step_stats.dev_stats:
      for node in dev.node_stats:
        label = node.timeline_label
        op = (label.split("=")[-1].split("(")[0].strip() if label
              else node.node_name)
        key = (node.node_name.rsplit("/", 1)[0][-60:], op)
        total[key] += (node.op_end_rel_micros - node.op_start_rel_micros
                       if node.op_end_rel_micros else node.all_end_rel_micros)
        count[key] += 1
    print("total op us", sum(total.values()))
    for key, micros in total.most_common(30):
      print(f"{micros / 1e6:8.3f}s {count[key]:6d} {key}")


if __name__ == "__main__":
  main(sys.argv)
