"""Parameter counts computed by building the models, checked by hand formulas."""

import pytest

from conv_t5.experiments import params

V, D, FF, H, DKV, LAYERS, BUCKETS = 128, 32, 64, 2, 16, 2, 32


def stacks(mixer_per_block, self_attention=False):
  """encoder + decoder parameters of a tiny config, by hand."""
  ffn = 2 * D * FF
  encdec = 4 * D * H * DKV
  bias = H * BUCKETS if self_attention else 0  # relative bias, one per stack
  encoder = sum(2 * D + m + ffn for m in mixer_per_block) + D + bias
  decoder = sum(3 * D + m + encdec + ffn for m in mixer_per_block) + D + bias
  return encoder, decoder


GLU_AND_OUT = 3 * D * D  # W_I, W_S: d_model -> channels; W_O: channels -> d_model
EXPECTED = {
    "models/transformer.tiny.gin": stacks([4 * D * H * DKV] * LAYERS, True),
    "models/conv_lightweight.tiny.gin": stacks([GLU_AND_OUT + H * 7] * LAYERS),
    # The predictor maps the channels (H x d_head = D) to H x K logits.
    "models/conv_dynamic.tiny.gin": stacks([GLU_AND_OUT + D * H * 7] * LAYERS),
    # Per-block kernel widths [4, 7] (gin/models/conv_dilated.tiny.gin).
    "models/conv_dilated.tiny.gin": stacks([GLU_AND_OUT + H * 4,
                                            GLU_AND_OUT + H * 7]),
}


@pytest.mark.parametrize("gin_file", sorted(EXPECTED))
def test_counts_match_the_formula(gin_file):
  got = params.count(gin_file, vocab_size=V)
  encoder, decoder = EXPECTED[gin_file]
  assert got["encoder"] == encoder
  assert got["decoder"] == decoder
  assert got["shared"] == V * D  # one embedding shared with the softmax
  assert got["total"] == encoder + decoder + V * D


def test_markdown_table_lists_every_config():
  table = params.markdown_table(["models/conv_dynamic.tiny.gin"], V)
  assert "`models/conv_dynamic.tiny.gin`" in table and "M |" in table
