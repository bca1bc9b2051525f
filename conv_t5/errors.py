"""Clear messages for bad input: each names the problem and the fix.

Error classes (the CLI prints their message and exits with the status given):

  ConfigError            bad configuration or input data (exit status 2);
                         the tasks' DatasetNotPreparedError and DataFormatError
                         and the guards' errors below derive from it
  SequenceLengthError    a sequence length the model / mesh cannot take
  CheckpointMismatchError  model_dir holds a checkpoint of another architecture
  NonFiniteLossError     training produced a NaN / Inf loss (exit status 1)
"""

import difflib

from conv_t5 import paths


class ConfigError(ValueError):
  """A user-facing configuration error; the message says what to change."""


class SequenceLengthError(ConfigError):
  """A sequence length (or batch size) the configured model cannot take."""


class CheckpointMismatchError(ConfigError):
  """model_dir holds a checkpoint whose variables differ from the model's."""


class NonFiniteLossError(RuntimeError):
  """The training loss (or the weights about to be saved) became NaN / Inf."""


def _closest(name, candidates, n=5):
  return difflib.get_close_matches(name, candidates, n=n, cutoff=0.3)


def unknown_gin_file(path, search_path=None):
  """Message for a gin file that is not on the search path."""
  search_path = search_path or paths.gin_search_path()
  prefix = path.split("/")[0] if "/" in path else ""
  available = paths.available_configs(prefix)
  near = _closest(path, available)
  lines = [f"Unknown gin file {path!r}: not found in {search_path}."]
  if near:
    lines.append("Did you mean: " + ", ".join(near) + "?")
  lines.append(f"Available{' ' + prefix if prefix else ''} configs ({len(available)}): "
               + ", ".join(available))
  lines.append("Pass a path relative to the search path (e.g. "
               "--gin_file=models/conv_lightweight.tiny.gin) after "
               "--module_import=conv_t5.tasks, or an absolute path.")
  return "\n".join(lines)


def unknown_task(name, max_listed=80):
  """Message for a task or mixture name that is not registered."""
  import seqio  # pylint: disable=g-import-not-at-top
  tasks = sorted(seqio.TaskRegistry.names())
  mixtures = sorted(seqio.MixtureRegistry.names())
  near = _closest(name, tasks + mixtures)
  lines = [f"Unknown task or mixture {name!r}: it is not in the seqio registry "
           f"({len(tasks)} tasks, {len(mixtures)} mixtures registered)."]
  if near:
    lines.append("Closest names: " + ", ".join(near))
  if len(tasks) + len(mixtures) <= max_listed:
    lines.append("Registered tasks: " + ", ".join(tasks))
    lines.append("Registered mixtures: " + ", ".join(mixtures))
  lines.append("Import the module that registers it, e.g. "
               "--module_import=conv_t5.tasks, and check the spelling.")
  return "\n".join(lines)
