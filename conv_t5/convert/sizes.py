"""Parameter counts of the authors' released configs, built, by part.

    python -m conv_t5.convert.sizes            # the table in docs/authors_checkpoints.md
    python -m conv_t5.convert.sizes --search   # ... and which counting rules fit

Each config is built as t5 would build it (mesh-tensorflow's defaults.gin,
then gin/models/authors_<v>.<size>.gin, T5's 32,128-entry vocabulary) and its
variables are counted by part, beside the sizes the authors published in
google-research/pretrained_conv/README.md. Other counting conventions are
columns of the same table, so that the published figures can be compared
with each.
"""

import argparse
import collections
import itertools
import re

import conv_t5  # noqa: F401  (TF compatibility fix before mesh_tensorflow)

T5_VOCAB_SIZE = 32128
# gs://pretrainedconvs, as published (google-research/pretrained_conv/README.md).
PUBLISHED = collections.OrderedDict([
    ("models/authors_lconv.small.gin", ("lconv_small", 67e6)),
    ("models/authors_lconv.base.gin", ("lconv_base", 210e6)),
    ("models/authors_lconv.large.gin", ("lconv_large", 741e6)),
    ("models/authors_dconv.base.gin", ("dconv_base", 324e6)),
    ("models/authors_dconv.large.gin", ("dconv_large", 1.2e9)),
])
# Parts of the model, by variable name (first match).
PARTS = [
    ("token embedding", r"^shared/embedding$"),
    ("position embedding", r"positional_embedding"),
    ("GLU W_I, W_S", r"local_conv_inp_\d/kernel"),
    ("kernel (lightweight)", r"lightwt_depthwise_dense_\d+/kernel"),
    ("kernel predictor (dynamic)", r"dyn_conv_depthwise_dense_\d+/kernel"),
    ("pointwise W_p", r"pointwise_dense/kernel"),
    ("output W_O", r"local_conv_attn_op_projection/kernel"),
    ("biases (GLU, predictor, depthwise, W_p, W_O)", r"/bias$"),
    ("feed-forward", r"DenseReluDense"),
    ("encoder-decoder attention", r"EncDecAttention"),
    ("RMS norm scales", r"rms_norm"),
]


def breakdown(gin_file, vocab_size=T5_VOCAB_SIZE):
  """{part: parameters} of a config, and "total"."""
  from conv_t5.convert import models  # pylint: disable=g-import-not-at-top
  built = models.build([gin_file], (), vocab_size)
  parts = collections.OrderedDict((p, 0) for p, _ in PARTS)
  parts["other"] = 0
  for name, shape in built.variables.items():
    size = 1
    for d in shape:
      size *= d
    part = next((p for p, pattern in PARTS if re.search(pattern, name)),
                "other")
    parts[part] += size
  parts["total"] = sum(parts.values())
  parts["d_model"] = built.d_model
  return parts


def conventions(parts, vocab_size=T5_VOCAB_SIZE):
  """The count under other conventions, from a breakdown."""
  total = parts["total"]
  pointwise = parts["pointwise W_p"] + 2 * parts["d_model"] * (
      parts["pointwise W_p"] // parts["d_model"] ** 2)
  embeddings = parts["token embedding"] + parts["position embedding"]
  return collections.OrderedDict([
      ("built", total),
      ("converted (W_p folded)", total - pointwise),
      ("non-embedding", total - embeddings),
      ("separate softmax", total + parts["token embedding"]),
      ("vocabulary 32,000", total - (vocab_size - 32000) * parts["d_model"]),
  ])


def search(counted, tolerance=0.01, loose=("dconv_large",), loose_tolerance=0.05):
  """Every counting rule "these parts, the token embedding 0, 1 or 2 times"
  that matches the most published sizes.

  Args:
    counted: {gin file: breakdown}.
    tolerance: relative tolerance of a match.
    loose: checkpoints published with fewer digits ("1.2B"), matched within
      loose_tolerance.
  Returns:
    (best number of matches, [(embedding multiplicity, parts, matched names)]).
  """
  parts = [p for p, _ in PARTS if p != "token embedding"] + ["other"]
  best, rules = -1, []
  for times in (0, 1, 2):
    for r in range(len(parts) + 1):
      for subset in itertools.combinations(parts, r):
        matched = []
        for g, b in counted.items():
          name, published = PUBLISHED[g]
          n = times * b["token embedding"] + sum(b[p] for p in subset)
          tol = loose_tolerance if name in loose else tolerance
          if abs(n / published - 1) <= tol:
            matched.append(name)
        if len(matched) > best:
          best, rules = len(matched), []
        if len(matched) == best:
          rules.append((times, subset, matched))
  return best, rules


def _m(n):
  return f"{n / 1e9:.3f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def count_all(vocab_size=T5_VOCAB_SIZE):
  return collections.OrderedDict(
      (g, breakdown(g, vocab_size)) for g in PUBLISHED)


def markdown(vocab_size=T5_VOCAB_SIZE, counted=None):
  """Two tables: the counts under each convention, and the parts."""
  rows, parts_rows = [], []
  counted = counted or count_all(vocab_size)
  names = list(conventions(next(iter(counted.values())), vocab_size))
  rows.append("| checkpoint | config | published | " + " | ".join(names) +
              " |")
  rows.append("| --- | --- | ---: | " + " | ".join("---:" for _ in names) +
              " |")
  for g, parts in counted.items():
    ckpt, published = PUBLISHED[g]
    values = conventions(parts, vocab_size)
    rows.append(f"| {ckpt} | `{g}` | {_m(published)} | " + " | ".join(
        f"{_m(v)} ({100 * (v / published - 1):+.1f}%)"
        for v in values.values()) + " |")
  labels = [p for p in next(iter(counted.values())) if p not in (
      "total", "d_model")]
  parts_rows.append("| part | " + " | ".join(
      PUBLISHED[g][0] for g in counted) + " |")
  parts_rows.append("| --- | " + " | ".join("---:" for _ in counted) + " |")
  for label in labels + ["total"]:
    if label == "other" and not any(p["other"] for p in counted.values()):
      continue
    parts_rows.append(f"| {label} | " + " | ".join(
        f"{p[label]:,}" for p in counted.values()) + " |")
  return "\n".join(rows) + "\n\n" + "\n".join(parts_rows)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--vocab_size", type=int, default=T5_VOCAB_SIZE)
  parser.add_argument("--search", action="store_true",
                      help="also try every subset of the parts as the count")
  args = parser.parse_args(argv)
  counted = count_all(args.vocab_size)
  print(markdown(args.vocab_size, counted))
  if args.search:
    best, rules = search(counted)
    print(f"\nCounting any subset of the parts, with the token embedding 0, 1 "
          f"or 2 times, matches at most {best} of the {len(PUBLISHED)} "
          "published sizes within 1% (5% for dconv_large, published as "
          f"1.2B); {len(rules)} rules do, e.g.:")
    for times, subset, matched in rules[:5]:
      print(f"  embedding x{times} + {' + '.join(subset) or 'nothing'}: "
            f"{', '.join(matched)}")


if __name__ == "__main__":
  main()
