"""The depthwise convolution core shared by every convolution sublayer.

One function computes, for each channel c of head h and each position t,

    y[t, h, c] = sum_j  k[t?, h, j] * x[t + o_j, h, c] * [same example(t, t + o_j)]

where the kernel k has K taps, tap j reads offset o_j = r * (j - left) (r the
dilation rate), `left` = K - 1 in the decoder (causal: t - r(K-1) .. t) and
(K - 1) // 2 in the encoder (centred, TF's SAME convention), and the kernel is
either one per head (lightweight, dilated) or one per head and position
(dynamic). Positions of another packed example, padding, and positions outside
the sequence contribute nothing: that is the same as the zero state that
step-by-step decoding starts from, so all modes compute the same function.

How it is computed (train, eval and first_part modes): the length axis is cut
into blocks of T steps (per dilation phase); each block sees a window of
S = T + K - 1 steps (its own plus the halo its taps reach) and the
convolution becomes one small banded matrix per (example, block, head):

    A[b, h, n, t, w] = sum_j k[h, j] * [w == t + j] * [seg(t) == seg(w)]
    y[b, h, n, t, c] = sum_w A[b, h, n, t, w] * window[b, h, n, w, c]

A costs tokens x heads x S numbers (not x channels), and the second product
is a batched matmul (tf.matmul through mtf.slicewise, laid out heads first so
that neither it nor its gradients transpose anything). On a 2-vCPU AMD EPYC
(commit 429bb77) this ran forward + backward at 0.86-1.62x the time of
tf.nn.depthwise_conv2d on the same shapes (`python -m conv_t5.bench`, core
table: 0.86-1.04x at 2x4096x512, 1.41-1.62x at 16x512x512), while also
masking packed examples, which the primitive cannot do (shift-and-sum over K
taps was 4-6x slower; the same banded product as mtf.einsum, 2-4x).

Heads of one channel (num_heads = channels, as `conv_t5.convert` writes the
authors' checkpoints) take another path, per_channel_conv, chosen by shape
alone: there A is ~(T + K - 1) times the size of the input and the matmuls
run on one-column slices, so the core sums the K shifted copies of x instead,
y = sum_j shift(x, -o_j) * k[.., j] * [seg(t) == seg(t + o_j)], the same
function (tests/layers/test_core_per_channel.py: the same outputs, gradients
and decoding within float32 rounding of a differently ordered sum). The K
copies come from one padded copy of x by K slices (mtf.shift would pad and
slice per tap). Its gradient is written out (mtf.custom_gradient): the
backward pass moves dy (and terms made from it) rather than x, instead of
keeping the K - 1 shifted copies of x from the forward pass, so a layer keeps
x and the kernel for its backward pass, not K copies of x. Its speed against
the authors' layers is in docs/performance.md ("The converted checkpoints"),
from `python -m conv_t5.bench`, which also times it against
tf.nn.depthwise_conv2d (the core table, shape 16x512x512x512x7). Heads of
more channels (the demo's 16, the paper's 64) keep the banded path,
unchanged.

Incremental (one decoding step) mode keeps the last r(K-1) inputs per layer as
its state, as fairseq's incremental convolutions do.

Dimension names: heads ("heads", sharded by the default heads:model layout
rule), channels per head ("d_head"), taps ("conv_width"); the internal
"conv_blocks", "conv_block_pos", "conv_window", "conv_phase" and the decoding
state's "conv_state" are never sharded.
"""

import mesh_tensorflow as mtf
import tensorflow.compat.v1 as tf

WIDTH_DIM = "conv_width"
STATE_DIM = "conv_state"
_BLOCKS, _POS, _WINDOW, _PHASE = (
    "conv_blocks", "conv_block_pos", "conv_window", "conv_phase")


def left_taps(kernel_width, causal):
  """Taps that read positions before t: K - 1 (causal) or (K - 1) // 2."""
  return kernel_width - 1 if causal else (kernel_width - 1) // 2


def offsets(kernel_width, dilation, causal):
  """Relative positions o_j read by tap j, in order: [r(j - left) for j]."""
  left = left_taps(kernel_width, causal)
  return [dilation * (j - left) for j in range(kernel_width)]


def state_size(kernel_width, dilation):
  """Length of the decoding state: the r(K-1) previous inputs."""
  return dilation * (kernel_width - 1)


def depthwise_conv(context, x, kernel, dilation=1, causal=False,
                   block_size=16):
  """Applies the convolution in whichever mode the context is in.

  Args:
    context: a transformer.Context (mode, sequence_id, decoding states).
    x: [batch..., length, heads, d_head] in train / eval / first_part mode;
      [batch..., heads, d_head] in incremental mode.
    kernel: a Tensor with the dim "conv_width" (K) and a subset of x's dims
      except "d_head": e.g. [heads, K] (one kernel per head) or
      [batch..., length, heads, K] (dynamic; no length in incremental mode).
    dilation: the dilation rate r >= 1.
    causal: read only t - r(K-1) .. t (decoder) instead of a centred window.
    block_size: T, the block length of the banded computation (a speed knob;
      the result does not depend on it).
  Returns:
    a Tensor with the shape of x.
  """
  width = kernel.shape.get_dim_by_name(WIDTH_DIM).size
  if context.mode == "incremental":
    if not causal:
      raise ValueError("incremental decoding needs a causal convolution")
    return _incremental(context, x, kernel, width, dilation)
  if context.mode == "first_part" and causal:
    _record_first_part_state(context, x, width, dilation)
  segment = context.sequence_id
  if not isinstance(segment, mtf.Tensor):
    segment = None  # None or 1: one example per row, no padding to mask
  if uses_per_channel(x):
    return per_channel_conv(x, kernel, context.length_dim, segment, dilation,
                            causal)
  return banded_conv(x, kernel, context.length_dim, segment, dilation, causal,
                     block_size)


def uses_per_channel(x):
  """Whether x (with its "d_head" dim) takes the per-channel path: d_head 1."""
  return x.shape.get_dim_by_name("d_head").size == 1


def per_channel_conv(x, kernel, length_dim, segment, dilation, causal):
  """The convolution as K shifted copies of x, weighted and summed.

  y = sum_j shift(x, -o_j) * k[..., j] * same_j, with same_j[t] =
  [seg(t) == seg(t + o_j)]: the function banded_conv computes (the same
  arguments but block_size), for heads of one channel (see the module
  docstring).

  Args:
    x: [batch..., length, heads, d_head]
    kernel: [*, conv_width] with * a subset of x's dims except d_head.
    length_dim: the length Dimension of x.
    segment: optional int [batch..., length] (as banded_conv).
    dilation: r.
    causal: bool.
  Returns:
    [batch..., length, heads, d_head]
  """
  width_dim = kernel.shape.get_dim_by_name(WIDTH_DIM)
  extra = set(kernel.shape.dims) - set(x.shape.dims) - {width_dim}
  if extra:
    raise ValueError(f"kernel dims {sorted(d.name for d in extra)} are not "
                     f"dims of x {x.shape}")
  offs = offsets(width_dim.size, dilation, causal)
  before, after = max(0, -min(offs)), max(0, max(offs))   # reach of the taps

  def taps(k):
    if width_dim.size == 1:
      return [mtf.reshape(k, k.shape - width_dim)]
    return mtf.unstack(k, width_dim)

  def windows(t):
    """[t moved by o_j for each tap j] (w_j[t] = t[t + o_j], zero outside):
    one pad, then a slice per tap (mtf.shift would pad and slice per tap)."""
    if not (before or after):
      return [t] * len(offs)
    t = mtf.pad(t, [before, after], length_dim.name)
    return [mtf.slice(t, before + o, length_dim.size, length_dim.name)
            for o in offs]

  def masked(ts):
    """ts[j] * same_j, same_j[t] = [seg(t) == seg(t + o_j)]."""
    if segment is None:
      return ts
    return [t if not o else t * mtf.cast(mtf.equal(segment, s), t.dtype)
            for t, o, s in zip(ts, offs, windows(segment))]

  def forward(x, kernel):
    y = None
    for xs, tap in zip(masked(windows(x)), taps(kernel)):
      y = xs * tap if y is None else y + xs * tap
    return y

  def moved(t, o):
    """t moved on by o: moved(t, o)[s] = t[s - o], zero outside."""
    return mtf.shift(t, o, length_dim, wrap=False) if o else t

  def backward(explicit_inputs, all_inputs, forward_operations, outputs,
               output_grads):
    """d/dx and d/dkernel from x, the kernel and dy alone (the forward pass's
    windows of x are not kept). Only tensors made from dy are moved
    (sum_t g[t] x[t + o] = sum_s g[s - o] x[s]), so every op here that reads x
    also reads dy and cannot run, and hold memory, before the backward pass
    (test_backward_reads_x_only_after_dy). Taking windows of x here instead,
    even gated on dy, peaked ~0.7 GB higher at base size
    (docs/performance.md, "The converted checkpoints")."""
    del forward_operations, outputs
    x, kernel = explicit_inputs
    dy = output_grads[0]
    dx, dtaps = None, []
    for g, tap, o in zip(masked([dy] * len(offs)), taps(kernel), offs):
      g_back = moved(g, o)                   # g_back[s] = g[s - o]
      dtap = mtf.einsum([g_back, x], output_shape=tap.shape)
      if length_dim in tap.shape.dims:       # a kernel per position (dynamic)
        dtaps.append(moved(dtap, -o))
        back = moved(g * tap, o)
      else:
        dtaps.append(dtap)
        back = g_back * tap
      dx = back if dx is None else dx + back
    if width_dim.size == 1:
      dkernel = mtf.reshape(dtaps[0], kernel.shape)
    else:
      dkernel = mtf.stack(dtaps, width_dim.name,
                          axis=kernel.shape.dims.index(width_dim))
    return [dx, dkernel] + [None] * (len(all_inputs) - 2)

  return mtf.custom_gradient(forward, backward, [x, kernel])


def banded_conv(x, kernel, length_dim, segment, dilation, causal, block_size):
  """The convolution over a whole sequence (see the module docstring).

  Args:
    x: [batch..., length, heads, d_head]
    kernel: [*, conv_width] with * a subset of x's dims except d_head.
    length_dim: the length Dimension of x.
    segment: optional int [batch..., length]: example ids of packed rows,
      0 for padding. None: all positions belong to one example.
    dilation: r.
    causal: bool.
    block_size: T (raised to K - 1 if smaller).
  Returns:
    [batch..., length, heads, d_head]
  """
  mesh = x.mesh
  width = kernel.shape.get_dim_by_name(WIDTH_DIM).size
  left = left_taps(width, causal)
  right = width - 1 - left
  steps = -(-length_dim.size // dilation)        # positions per phase
  block = min(max(block_size, width - 1, 1), steps)
  block = max(block, width - 1)
  num_blocks = -(-steps // block)
  padded = num_blocks * block * dilation

  blocks_dim = mtf.Dimension(_BLOCKS, num_blocks)
  pos_dim = mtf.Dimension(_POS, block)
  phase_dim = mtf.Dimension(_PHASE, dilation)
  window_dim = mtf.Dimension(_WINDOW, block + width - 1)

  def to_blocks(t):
    """[..., length, ...] -> [..., blocks, pos, phase, ...] (zero padded)."""
    if padded != length_dim.size:
      t = mtf.pad(t, [0, padded - length_dim.size], length_dim.name)
    dims = t.shape.dims
    i = [d.name for d in dims].index(length_dim.name)
    return mtf.reshape(
        t, dims[:i] + [blocks_dim, pos_dim, phase_dim] + dims[i + 1:])

  def windows(t):
    """[..., blocks, pos, ...] -> [..., blocks, window, ...] with halos.

    Each halo is sliced from its block before the shift to the neighbouring
    block, so only K - 1 steps per block are copied twice, not the tensor.
    """
    parts = []
    if left:
      parts.append(mtf.shift(mtf.slice(t, block - left, left, _POS), 1,
                             blocks_dim, wrap=False))
    parts.append(t)
    if right:
      parts.append(mtf.shift(mtf.slice(t, 0, right, _POS), -1, blocks_dim,
                             wrap=False))
    t = mtf.concat(parts, _POS) if len(parts) > 1 else t
    return mtf.rename_dimension(t, _POS, _WINDOW)

  if segment is None:
    segment = mtf.ones(mesh, mtf.Shape([length_dim]), dtype=tf.int32)
  seg = to_blocks(segment)                               # [b, n, T, r]
  same = mtf.cast(mtf.equal(seg, windows(seg)), x.dtype)  # [b, n, T, r, S]

  # band[t, w, j] = 1 where window step w is what tap j reads for step t.
  t_idx = mtf.range(mesh, pos_dim, tf.int32)
  w_idx = mtf.range(mesh, window_dim, tf.int32)
  width_dim = kernel.shape.get_dim_by_name(WIDTH_DIM)
  j_idx = mtf.range(mesh, width_dim, tf.int32)
  band = mtf.cast(mtf.equal(w_idx, t_idx + j_idx), x.dtype)

  xb = to_blocks(x)                                      # [b, n, T, r, h, d]
  dims = xb.shape.dims
  i = dims.index(blocks_dim)
  before, rest = dims[:i], dims[i + 3:]
  # Computed with heads ahead of the blocks and d_head last,
  # [b, h, n, r, T, d]: the product below is then a batched matmul of
  # [T, S] by [S, d] on contiguous memory, with no transposes inside it.
  lead = before + rest[:-1] + [blocks_dim, phase_dim]
  xt = mtf.transpose(xb, mtf.Shape(lead + [pos_dim] + rest[-1:]))
  if length_dim in kernel.shape.dims:                    # dynamic kernel
    kernel = to_blocks(kernel)
  # A[b, h, n, r, t, w]: the banded matrix of each block, masked by example
  # (kernel x band first: [h, T, S] for a kernel per head, not per position).
  kb = mtf.einsum([kernel, band], reduced_dims=[width_dim])
  union = set(kb.shape.dims) | set(same.shape.dims)
  extra = union - set(lead + [pos_dim, window_dim])
  if extra:
    raise ValueError(f"kernel dims {sorted(d.name for d in extra)} are not "
                     f"dims of x {x.shape}")
  a = mtf.einsum([kb, same], output_shape=mtf.Shape(
      [d for d in lead if d in union] + [pos_dim, window_dim]))
  a_shape = mtf.Shape(lead + [pos_dim, window_dim])
  if a.shape != a_shape:
    a = mtf.broadcast(a, a_shape)
  # y = A @ window, as tf.matmul slice by slice: TF differentiates it into
  # matmuls with adjoint flags; mtf.einsum's gradients (dy first) run in TF
  # with transposes of the large operand, about 3x slower on CPU.
  yt = mtf.slicewise(tf.matmul, [a, windows(xt)], output_shape=xt.shape,
                     splittable_dims=before + rest, name="banded_matmul")
  y = mtf.transpose(yt, xb.shape)
  padded_dim = mtf.Dimension(length_dim.name, padded)
  y = mtf.reshape(y, dims[:i] + [padded_dim] + dims[i + 3:])
  if padded != length_dim.size:
    y = mtf.slice(y, 0, length_dim.size, length_dim.name)
  return y


def _state_dim(width, dilation):
  return mtf.Dimension(STATE_DIM, state_size(width, dilation))


def _record_first_part_state(context, x, width, dilation):
  """Records the inputs just before context.initial_position as the state.

  Args:
    context: a Context in first_part mode.
    x: [batch..., length, heads, d_head]
    width: K.
    dilation: r.
  """
  size = state_size(width, dilation)
  if size == 0:
    return
  state_dim = _state_dim(width, dilation)
  start = context.initial_position - size                 # [batch...] or int
  indices = mtf.range(x.mesh, state_dim, tf.int32) + start
  # Indices below 0 gather nothing (one_hot of a negative index is all zeros),
  # which is the zero state decoding starts from.
  state = mtf.gather(x, indices, context.length_dim,
                     output_shape=_state_shape(x.shape, context.length_dim,
                                               state_dim))
  context.record_new_states([state])


def _state_shape(x_shape, length_dim, state_dim):
  """x's shape with the length dim replaced by the state dim."""
  return mtf.Shape([state_dim if d == length_dim else d for d in x_shape.dims])


def _incremental_state_shape(step_shape, state_dim):
  """[batch..., heads, d_head] -> [batch..., conv_state, heads, d_head]."""
  dims = step_shape.dims
  return mtf.Shape(dims[:-2] + [state_dim] + dims[-2:])


def _incremental(context, x, kernel, width, dilation):
  """One decoding step.

  Args:
    context: a Context in incremental mode.
    x: [batch..., heads, d_head], the input at the current position.
    kernel: [*, conv_width].
    width: K.
    dilation: r.
  Returns:
    [batch..., heads, d_head]
  """
  size = state_size(width, dilation)
  width_dim = kernel.shape.get_dim_by_name(WIDTH_DIM)
  if size == 0:
    return x * mtf.reduce_sum(kernel, reduced_dim=width_dim)
  state_dim = _state_dim(width, dilation)
  state_shape = _incremental_state_shape(x.shape, state_dim)
  state, = context.get_states(1)                 # [b..., conv_state, h, d]
  if state.shape != state_shape:                 # e.g. reordered by a beam
    state = mtf.transpose(state, state_shape)
  full_dim = mtf.Dimension(STATE_DIM, size + 1)
  step = mtf.reshape(x, _incremental_state_shape(
      x.shape, mtf.Dimension(STATE_DIM, 1)))     # x as a one-step window
  window = mtf.concat([state, step], STATE_DIM)  # oldest first, x last
  context.record_new_states([mtf.slice(window, 1, size, STATE_DIM)])
  # Tap j reads window[r * j] (offset r(j - (K-1)) from the last position).
  w_idx = mtf.range(x.mesh, full_dim, tf.int32)
  j_idx = mtf.range(x.mesh, width_dim, tf.int32)
  select = mtf.cast(mtf.equal(w_idx, j_idx * dilation), x.dtype)
  weights = mtf.einsum([kernel, select], reduced_dims=[width_dim])
  return mtf.einsum([weights, window], reduced_dims=[full_dim],
                    output_shape=x.shape)
