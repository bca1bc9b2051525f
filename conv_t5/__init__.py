"""conv_t5: pre-trained convolutional seq2seq models in the T5 / Mesh TensorFlow stack.

Reproduces Tay et al., "Are Pre-trained Convolutions Better than Pre-trained
Transformers?" (ACL 2021). Importing the package first applies the TF 2.13+
compatibility fix for mesh-tensorflow (see `conv_t5.compat`), so
`import conv_t5` followed by `import mesh_tensorflow` works on every TF version
the constraints allow.
"""

from conv_t5 import compat as _compat

_compat.apply_mesh_tensorflow_fix()

__version__ = "0.1.0"
