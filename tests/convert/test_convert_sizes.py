"""conv_t5.convert.sizes: the parameter counts docs/authors_checkpoints.md
reports, checked against conv_t5.params and a hand count."""

from conv_t5.experiments import params
from conv_t5.convert import sizes


def test_small_is_counted_by_part_and_in_total():
  gin_file = "models/authors_lconv.small.gin"
  parts = sizes.breakdown(gin_file)
  assert parts["total"] == params.count(gin_file)["total"]
  d, layers, d_ff, vocab = 512, 6, 2048, 32128
  conv = 4 * d * d + 14 * d   # GLU 2(d^2 + d), 9d taps, b_dw, W_p, W_O + biases
  encoder = layers * (conv + 2 * d * d_ff + 2 * d) + d
  decoder = layers * (conv + 4 * d * 512 + 2 * d * d_ff + 3 * d) + d
  assert parts["total"] == encoder + decoder + vocab * d + 512 * d
  assert parts["other"] == 0
  conventions = sizes.conventions(parts)
  assert conventions["built"] == parts["total"]
  # The converted model has no W_p, b_p, b_dw: d^2 + 2d per conv layer.
  assert conventions["converted (W_p folded)"] == (
      parts["total"] - 2 * layers * (d * d + 2 * d))
  assert conventions["non-embedding"] == parts["total"] - vocab * d - 512 * d


def test_every_released_checkpoint_has_a_config():
  import os  # pylint: disable=g-import-not-at-top
  from conv_t5 import paths  # pylint: disable=g-import-not-at-top
  for gin_file, (name, published) in sizes.PUBLISHED.items():
    assert os.path.isfile(os.path.join(paths.gin_dir(), gin_file)), gin_file
    variant, size = name.split("_")
    assert gin_file == f"models/authors_{variant}.{size}.gin"
    assert published > 0


def test_the_rule_search_finds_a_rule_that_fits():
  """If the published sizes were "feed-forward and one token embedding, not
  the pointwise projection" (every other part 0), the search would say so
  (5 of 5): its rules are exactly those, with or without the empty parts."""
  import itertools  # pylint: disable=g-import-not-at-top
  counted = {}
  for gin_file, (_, published) in sizes.PUBLISHED.items():
    parts = {p: 0 for p, _ in sizes.PARTS}
    parts.update({"other": 0, "feed-forward": int(published * 0.9),
                  "pointwise W_p": int(published * 0.2),
                  "token embedding": int(published * 0.1)})
    counted[gin_file] = parts
  best, rules = sizes.search(counted)
  assert best == 5
  names = [n for n, _ in sizes.PUBLISHED.values()]
  empty = [p for p, _ in sizes.PARTS if p not in (
      "token embedding", "feed-forward", "pointwise W_p")] + ["other"]
  want = {(1, frozenset(("feed-forward",) + extra))
          for r in range(len(empty) + 1)
          for extra in itertools.combinations(empty, r)}
  assert {(times, frozenset(subset)) for times, subset, _ in rules} == want
  assert len(rules) == len(want)
  assert all(matched == names for _, _, matched in rules)
