"""One cross-attention product of a decoding step, three ways (a one-off).

    python docs/bench/decode_inputs/step_cost/einsum_lowering.py

q [B, heads, d_kv] against the encoder's keys at B = 16, Li = 2,048, 8
heads, d_kv = 64 (67 MB of float32, one layer's keys of the small model):
"naive" is mesh-tensorflow's lowering of that einsum (one input holds every
dimension, so mtf broadcasts, multiplies and reduces), "einsum" is
tf.einsum on the same [B, Li, heads, d_kv] layout, "bmm" is tf.einsum on
keys stored [B, heads, Li, d_kv] (a batched matrix product, no transpose).
Prints the mean of 20 runs each. Run alone on an idle machine.
"""

import time

import numpy as np
import tensorflow.compat.v1 as tf


def main():
  tf.disable_v2_behavior()
  b, li, h, d = 16, 2048, 8, 64
  k = tf.Variable(np.random.randn(b, li, h, d).astype(np.float32))
  kt = tf.Variable(np.random.randn(b, h, li, d).astype(np.float32))
  q = tf.Variable(np.random.randn(b, h, d).astype(np.float32))
  ops = [("naive", tf.reduce_sum(k * q[:, None], axis=3)),
         ("einsum", tf.einsum("bhd,blhd->bhl", q, k)),
         ("bmm", tf.einsum("bhd,bhld->bhl", q, kt))]
  sess = tf.Session()
  sess.run(tf.global_variables_initializer())
  for name, op in ops:
    sess.run(op)
    start = time.perf_counter()
    for _ in range(20):
      sess.run(op.op)
    print(name, round((time.perf_counter() - start) / 20 * 1e3, 2), "ms")


if __name__ == "__main__":
  main()
