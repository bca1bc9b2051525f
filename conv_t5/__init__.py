"""conv_t5: pre-trained convolutional seq2seq models in the T5 / Mesh TensorFlow stack.

Reproduces Tay et al., "Are Pre-trained Convolutions Better than Pre-trained
Transformers?" (ACL 2021). Importing the package arranges the TF 2.13+
compatibility fix for mesh-tensorflow (see `conv_t5.compat`): it is applied
when TensorFlow loads (at once if it is loaded already), so `import conv_t5`
followed by `import mesh_tensorflow` works on every TF version the
constraints allow, and the parts of the package that need no TensorFlow do
not import it.

Subpackages: `layers` (the paper's sublayers), `training` (what wraps t5's
training: guards, ordered updates, determinism settings), `experiments` (the
paper's grid, the demo, results, parameter counts), `bench` (the benchmark)
and `tasks` (the seqio registrations, from the repository's tasks/).
"""

from conv_t5 import startup as _startup

if _startup.is_command():  # before anything imports TensorFlow
  _startup.quiet()

from conv_t5 import compat as _compat  # noqa: E402

_compat.apply_when_tensorflow_loads()

__version__ = "0.1.0"
