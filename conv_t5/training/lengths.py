"""Sequence lengths and batch sizes the model or the mesh cannot take.

  check_sequence_length   -> errors.SequenceLengthError naming the length, the
                          limit and the fix, before any graph is built
                          (train_model and GuardedMtfModel call it)
"""

from conv_t5 import errors


def check_sequence_length(sequence_length, model=None, model_type="bitransformer",
                          batch_size=None, mesh_shape=None, layout_rules=None):
  """Checks that the model and mesh can take these lengths and batch size.

  Args:
    sequence_length: {"inputs": int, "targets": int} (or an int for both).
    model: optional built transformer.Bitransformer / Unitransformer: its
      learned or sinusoid position embeddings cap the length at max_length.
    model_type: "bitransformer" needs inputs and targets lengths; the language
      model types ("lm", "delimited_lm", "aligned") need targets.
    batch_size: optional int, the global batch size (sequences).
    mesh_shape, layout_rules: optional, inputs to mtf.convert_to_shape /
      convert_to_layout_rules: a dim the layout splits over the mesh must be
      divisible by the size of its mesh dimension.
  Returns:
    the lengths as a dict.
  Raises:
    errors.SequenceLengthError naming the length, the limit and the fix.
  """
  if isinstance(sequence_length, int) and not isinstance(sequence_length, bool):
    sequence_length = {"inputs": sequence_length, "targets": sequence_length}
  if not isinstance(sequence_length, dict):
    raise errors.SequenceLengthError(
        f"sequence_length must be a dict like {{'inputs': 512, 'targets': 114}}"
        f", got {sequence_length!r}; set utils.run.sequence_length.")
  needed = ["inputs", "targets"] if model_type == "bitransformer" else ["targets"]
  for key in needed:
    if key not in sequence_length:
      raise errors.SequenceLengthError(
          f"sequence_length {sequence_length} has no {key!r} length, which a "
          f"{model_type} model needs; set utils.run.sequence_length = "
          "{'inputs': ..., 'targets': ...}.")
  for key, value in sequence_length.items():
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise errors.SequenceLengthError(
          f"sequence_length[{key!r}] = {value!r}: a length must be a positive "
          "integer number of tokens.")
  for key, stack in _stacks(model, model_type):
    if key not in sequence_length:
      continue
    if getattr(stack, "positional_embedding", False) or getattr(
        stack, "sinusoid_positional_embedding", False):
      limit = stack.max_length_dim.size
      if sequence_length[key] > limit:
        raise errors.SequenceLengthError(
            f"sequence_length[{key!r}] = {sequence_length[key]} is longer than "
            f"the {key} stack's position embedding (max_length = {limit}): "
            "positions past it have no embedding. Use a length <= "
            f"{limit}, or raise transformer.Unitransformer.max_length (a new "
            "model), or use relative attention / convolutions, which need no "
            "position embedding.")
  if mesh_shape is not None and layout_rules is not None:
    _check_divisible(sequence_length, batch_size, mesh_shape, layout_rules)
  return dict(sequence_length)


def _stacks(model, model_type):
  if model is None:
    return []
  if model_type == "bitransformer" and hasattr(model, "encoder"):
    return [("inputs", model.encoder), ("targets", model.decoder)]
  return [("targets", model)]


def _check_divisible(sequence_length, batch_size, mesh_shape, layout_rules):
  import mesh_tensorflow as mtf  # pylint: disable=g-import-not-at-top
  mesh_shape = mtf.convert_to_shape(mesh_shape)
  layout_rules = mtf.convert_to_layout_rules(layout_rules)
  sizes = [("length", f"sequence_length[{k!r}]", v)
           for k, v in sorted(sequence_length.items())]
  if batch_size is not None:
    sizes.append(("batch", "the batch size (sequences)", batch_size))
  for dim_name, what, size in sizes:
    axis = layout_rules.tensor_dimension_to_mesh_axis(
        mtf.Dimension(dim_name, size), mesh_shape)
    if axis is None:
      continue
    mesh_dim = mesh_shape.dims[axis]
    if size % mesh_dim.size:
      raise errors.SequenceLengthError(
          f"{what} = {size} is not divisible by the mesh dimension "
          f"{mesh_dim.name}:{mesh_dim.size} that the layout rule "
          f"{dim_name}:{mesh_dim.name} splits it over (mesh_shape "
          f"{mesh_shape}). Use a multiple of {mesh_dim.size}, or change "
          "utils.run.mesh_shape / layout_rules.")
