"""conv_t5.training.lengths: sequence lengths and batch sizes the model or the
mesh cannot take are refused with a message that names them."""

import types

import pytest

from conv_t5 import errors
from conv_t5.training.lengths import check_sequence_length


def _model(max_length=None):
  def stack(n):
    return types.SimpleNamespace(
        positional_embedding=n is not None, sinusoid_positional_embedding=False,
        max_length_dim=types.SimpleNamespace(size=n))
  return types.SimpleNamespace(encoder=stack(max_length), decoder=stack(max_length))


def test_sequence_length_accepts_what_fits():
  lengths = {"inputs": 64, "targets": 16}
  assert check_sequence_length(lengths, model=_model(64)) == lengths
  assert check_sequence_length(32) == {"inputs": 32, "targets": 32}
  assert check_sequence_length(
      lengths, model=_model(), batch_size=8, mesh_shape="batch:2,model:2",
      layout_rules="batch:batch,heads:model") == lengths


@pytest.mark.parametrize("lengths,kwargs,expected", [
    ({"inputs": 64}, {}, "no 'targets' length"),
    ({"targets": 0, "inputs": 8}, {}, "positive integer"),
    ({"targets": 8.5, "inputs": 8}, {}, "positive integer"),
    ({"inputs": 65, "targets": 8}, {"model": _model(64)}, "max_length = 64"),
    ({"inputs": 8, "targets": 8}, {"batch_size": 6,
                                   "mesh_shape": "batch:4",
                                   "layout_rules": "batch:batch"},
     "batch size (sequences) = 6 is not divisible by the mesh dimension batch:4"),
    ({"inputs": 10, "targets": 8}, {"mesh_shape": "model:4",
                                    "layout_rules": "length:model"},
     "sequence_length['inputs'] = 10 is not divisible"),
])
def test_sequence_length_refuses_what_does_not(lengths, kwargs, expected):
  with pytest.raises(errors.SequenceLengthError) as e:
    check_sequence_length(lengths, **kwargs)
  assert expected in str(e.value)
  assert isinstance(e.value, errors.ConfigError)


def test_lm_needs_only_targets():
  assert check_sequence_length({"targets": 8}, model_type="lm") == {"targets": 8}
