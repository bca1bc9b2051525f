"""Parameter counts of the model configs, computed by building the models.

    python -m conv_t5.params models/conv_dynamic.base.gin models/transformer.base.gin

builds each config's Bitransformer graph in Mesh TensorFlow (no variables are
initialised, nothing runs) and counts the variables it creates.
"""

import argparse
import collections

from conv_t5 import config

T5_VOCAB_SIZE = 32128  # T5's SentencePiece model (32000 + 100 sentinels, padded)


def count(gin_file, vocab_size=T5_VOCAB_SIZE, bindings=()):
  """Parameters of a model config, by top-level group.

  Args:
    gin_file: a model config, e.g. "models/conv_lightweight.base.gin".
    vocab_size: input and output vocabulary size.
    bindings: extra gin bindings.
  Returns:
    an OrderedDict {"total": n, "encoder": n, "decoder": n, "shared": n}.
  """
  import mesh_tensorflow as mtf  # pylint: disable=g-import-not-at-top
  from mesh_tensorflow.transformer import transformer  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  config.parse([gin_file, "cpu.gin"], list(bindings))
  with tf.Graph().as_default():
    model = transformer.make_bitransformer(
        input_vocab_size=vocab_size, output_vocab_size=vocab_size,
        layout="", mesh_shape="")
    graph = mtf.Graph()
    mesh = mtf.Mesh(graph, "mesh")
    dims = [mtf.Dimension("batch", 1), mtf.Dimension("length", 8)]
    ids = mtf.ones(mesh, mtf.Shape(dims), tf.int32)
    model.call_simple(ids, ids, compute_loss=True, mode="train",
                      variable_dtype=mtf.VariableDType(tf.float32))
    groups = collections.OrderedDict(total=0, encoder=0, decoder=0, shared=0)
    for v in graph.all_variables:
      size = v.shape.size
      groups["total"] += size
      top = v.name.split("/")[0]
      groups[top if top in ("encoder", "decoder") else "shared"] += size
    return groups


def markdown_table(gin_files, vocab_size=T5_VOCAB_SIZE):
  """A markdown table of parameter counts (millions) for the configs."""
  rows = ["| config | total | encoder | decoder | shared (embeddings) |",
          "| --- | ---: | ---: | ---: | ---: |"]
  for f in gin_files:
    c = count(f, vocab_size)
    rows.append(f"| `{f}` | " + " | ".join(
        f"{c[k] / 1e6:.1f}M" for k in ("total", "encoder", "decoder",
                                         "shared")) + " |")
  return "\n".join(rows)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("gin_files", nargs="+")
  parser.add_argument("--vocab_size", type=int, default=T5_VOCAB_SIZE)
  args = parser.parse_args(argv)
  print(markdown_table(args.gin_files, args.vocab_size))


if __name__ == "__main__":
  main()
