"""What the converter refuses, and that a refusal writes nothing.

A checkpoint of another architecture or size, one with a variable missing,
one that is not the authors' at all, a window our block cannot compute, a
path with no checkpoint, an output directory in use: each gets one message
that names the problem and the fix, exit status 2 from the command line, and
leaves no output (not even a temporary directory). Also: --dry_run writes
nothing, and a bfloat16 checkpoint (mesh-tensorflow's default master dtype)
converts into bfloat16.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import convert_harness as h
from conv_t5 import convert
from conv_t5.convert import checkpoints
from conv_t5.convert import refusals

LCONV = h.CONFIGS["lconv"]


@pytest.fixture(scope="module")
def authors(tmp_path_factory):
  """A tiny authors' lightweight checkpoint: its directory."""
  src = tmp_path_factory.mktemp("authors") / "lconv"
  h.run([LCONV], h.TINY, {"logits"}, save_dir=str(src))
  return str(src)


def refused(tmp_path, checkpoint, model=LCONV, bindings=h.TINY, output=None):
  """Converts and expects a refusal; returns its message. Checks that
  nothing was written beside or at the output."""
  out = output or str(tmp_path / "out")
  before = sorted(os.listdir(os.path.dirname(out)))
  with pytest.raises(refusals.ConversionError) as e:
    convert.convert(checkpoint, out, model, bindings, log=lambda *_: None)
  assert sorted(os.listdir(os.path.dirname(out))) == before
  return str(e.value)


def rewrite(src_dir, dst_dir, change):
  """A copy of a checkpoint with change(name, value) -> value or None (drop)."""
  reader = checkpoints.Reader(checkpoints.resolve(src_dir))
  os.makedirs(dst_dir)
  items = []
  for name in sorted(reader.shapes):
    value = change(name, reader.get(name))
    if value is not None:
      items.append((name, value))
  name = f"model.ckpt-{h.STEP}"
  checkpoints.write(os.path.join(dst_dir, name), iter(items))
  checkpoints.write_index(dst_dir, name)
  return dst_dir


def test_another_architecture_is_refused(tmp_path, authors):
  message = refused(tmp_path, authors, model=h.CONFIGS["dconv"])
  assert "is of another architecture than the model" in message
  assert "lightweight-convolution model" in message
  assert "lightwt_depthwise_dense_0/kernel" in message      # not in the model
  assert "dyn_conv_depthwise_dense_0/kernel" in message     # not in the ckpt
  assert "--model=models/authors_lconv.base.gin" in message  # the fix
  assert "nothing was written" in message


def test_another_size_is_refused(tmp_path, authors):
  bigger = [b for b in h.TINY if not b.startswith("d_ff")] + ["d_ff = 128"]
  message = refused(tmp_path, authors, bindings=bigger)
  assert "is of another size than the model" in message
  assert "DenseReluDense/wi/kernel [32, 128] vs [32, 64]" in message
  assert "'d_ff = 64'" in message


def test_a_missing_variable_is_refused(tmp_path, authors):
  gone = "decoder/block_000/layer_000/LocalConvAttnBlock/lightwt_depthwise_dense_4/kernel"
  broken = rewrite(authors, str(tmp_path / "broken"),
                   lambda n, v: None if n == gone else v)
  message = refused(tmp_path, broken)
  assert "lacks variables of the model" in message
  assert f"1 model variables are missing from the checkpoint: {gone}" in message
  assert "incomplete" in message


def test_a_converted_checkpoint_is_not_converted_again(tmp_path, authors):
  out = str(tmp_path / "converted")
  convert.convert(authors, out, LCONV, h.TINY, log=lambda *_: None)
  message = refused(tmp_path, out)
  assert "conv_t5's own layers (already converted?)" in message
  assert "needs no conversion" in message


def test_a_window_our_block_cannot_compute_is_refused(tmp_path, authors):
  shifted = h.TINY + [
      "encoder/transformer.transformer_layers.LocalConvAttnBlock."
      "min_relative_pos = -3",
      "encoder/transformer.transformer_layers.LocalConvAttnBlock."
      "max_relative_pos = 5"]
  message = refused(tmp_path, authors, bindings=shifted)
  assert "has the window -3..5" in message and "centred" in message


def test_no_checkpoint_and_a_used_output_dir_are_refused(tmp_path, authors):
  empty = tmp_path / "empty"
  empty.mkdir()
  assert "holds no checkpoint" in refused(tmp_path, str(empty))
  used = tmp_path / "used"
  used.mkdir()
  (used / "keep.txt").write_text("mine")
  message = refused(tmp_path, authors, output=str(used))
  assert "exists and is not empty" in message
  assert os.listdir(used) == ["keep.txt"]


def test_the_command_line_refuses_with_status_2(tmp_path, authors):
  out = tmp_path / "out"
  proc = subprocess.run(
      [sys.executable, "-m", "conv_t5.convert", f"--checkpoint={authors}",
       f"--model={h.CONFIGS['dconv']}", f"--output_dir={out}"]
      + [f"--gin_param={b}" for b in h.TINY],
      capture_output=True, text=True, check=False)
  assert proc.returncode == 2, proc.stderr[-2000:]
  errors = [l for l in proc.stderr.splitlines()
            if l.startswith("conv_t5.convert: error:")]
  assert len(errors) == 1 and "another architecture" in errors[0]
  assert "Traceback" not in proc.stderr
  assert sorted(os.listdir(tmp_path)) == []


def test_dry_run_writes_nothing(tmp_path, authors):
  lines = []
  summary = convert.convert(authors, str(tmp_path / "out"), LCONV, h.TINY,
                            dry_run=True, log=lines.append)
  assert os.listdir(tmp_path) == []
  assert summary["variant"] == "lightweight" and summary["step"] == h.STEP
  assert "nothing written" in lines[-1]


def test_a_bfloat16_checkpoint_converts_into_bfloat16(tmp_path, authors):
  bf16 = tf.bfloat16.as_numpy_dtype
  src = rewrite(authors, str(tmp_path / "bf16"), lambda n, v: (
      v.astype(bf16) if v.dtype == np.float32 else v))
  out = str(tmp_path / "out")
  convert.convert(src, out, LCONV, h.TINY, log=lambda *_: None)
  reader = tf.train.load_checkpoint(os.path.join(out, f"model.ckpt-{h.STEP}"))
  dtypes = reader.get_variable_to_dtype_map()
  assert {d for n, d in dtypes.items() if n != "global_step"} == {tf.bfloat16}
  # The folded projection, from the bfloat16 values, rounded once.
  src_reader = tf.train.load_checkpoint(os.path.join(src,
                                                     f"model.ckpt-{h.STEP}"))
  s = "encoder/block_000/layer_000/LocalConvAttnBlock/"
  w_p = src_reader.get_tensor(s + "separable_conv1d/pointwise_dense/kernel")
  w_o = src_reader.get_tensor(s + "local_conv_attn_op_projection/kernel")
  want = (w_p.astype(np.float64) @ w_o.astype(np.float64)).astype(bf16)
  got = reader.get_tensor(
      "encoder/block_000/layer_000/LightweightConvolution/wo/kernel")[:, 0]
  np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("d_model,blocks,d_ff,kind,fits", [
    (512, 6, 2048, "lightweight", "models/authors_lconv.small.gin"),
    (768, 12, 3072, "lightweight", "models/authors_lconv.base.gin"),
    (1024, 24, 4096, "dynamic", "models/authors_dconv.large.gin"),
])
def test_a_released_size_is_recognised(d_model, blocks, d_ff, kind, fits):
  layer = ("lightwt_depthwise_dense_0/kernel" if kind == "lightweight"
           else "dyn_conv_depthwise_dense_0/kernel")
  entries = {"shared/embedding": (32128, d_model),
             "encoder/block_000/layer_001/DenseReluDense/wi/kernel":
                 (d_model, d_ff)}
  for b in range(blocks):
    entries[f"encoder/block_{b:03d}/layer_000/LocalConvAttnBlock/{layer}"] = (
        d_model,)
  info = refusals.describe(entries)
  assert (info["kind"], info["d_model"], info["blocks"], info["d_ff"]) == (
      kind, d_model, blocks, d_ff)
  assert f"--model={fits}" in refusals.suggestion(info)


def test_the_entry_point_is_installed():
  import importlib.metadata  # pylint: disable=g-import-not-at-top
  (ep,) = [e for e in importlib.metadata.entry_points(group="console_scripts")
           if e.name == "conv_t5_convert"]
  assert ep.value == "conv_t5.convert.cli:console_entry_point"
  assert os.path.exists(os.path.join(os.path.dirname(sys.executable),
                                     "conv_t5_convert"))


def test_an_unreachable_location_is_one_clear_error(tmp_path):
  """Storage errors (here a filesystem TensorFlow does not have; offline,
  gs:// fails the same way) become one message with the fix."""
  message = refused(tmp_path, "nofs://bucket/lconv_base")
  assert "nofs://bucket/lconv_base cannot be reached" in message
  assert "gsutil -m cp -r" in message and "Nothing was written" in message
