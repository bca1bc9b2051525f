"""Clear messages for bad input: each names the problem and the fix."""

import difflib

from conv_t5 import paths


class ConfigError(ValueError):
  """A user-facing configuration error; the message says what to change."""


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


def unknown_task(name):
  """Message for a task or mixture name that is not registered."""
  import seqio  # pylint: disable=g-import-not-at-top
  tasks = sorted(seqio.TaskRegistry.names())
  mixtures = sorted(seqio.MixtureRegistry.names())
  ours = [n for n in tasks + mixtures if n.startswith(("conv_t5", "demo_"))]
  near = _closest(name, tasks + mixtures)
  lines = [f"Unknown task or mixture {name!r}: it is not in the seqio registry "
           f"({len(tasks)} tasks, {len(mixtures)} mixtures registered)."]
  if near:
    lines.append("Closest names: " + ", ".join(near))
  lines.append("Registered tasks and mixtures: " + ", ".join(sorted(tasks + mixtures)))
  lines.append("Import the module that registers it, e.g. "
               "--module_import=conv_t5.tasks, and check the spelling.")
  del ours
  return "\n".join(lines)
