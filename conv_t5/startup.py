"""Quiet start-up for the package's own commands, before TensorFlow loads.

Run outside `make` (which exports TF_CPP_MIN_LOG_LEVEL=2), every command used
to print TensorFlow's C++ start-up lines (CUDA stubs, CPU features, TensorRT)
and setuptools' deprecation warning for `import pkg_resources` (made by
mesh-tensorflow and tensorflow_hub) before doing anything, even for --help.
`import conv_t5` calls `quiet()` when the process is one of the package's
commands:

  * `python -m conv_t5.<anything>` (demo, bench, convert, tasks.demo_data,
    cli, ...): while Python locates the module it imports the parent package
    with sys.argv[0] == "-m" (documented for -m), before the module's own
    imports, TensorFlow's included;
  * the console scripts of setup.cfg (sys.argv[0] is the script).

Importing conv_t5 as a library (a notebook, a test, `python -c`) changes
nothing. A value of TF_CPP_MIN_LOG_LEVEL set by the user is kept. TF 2.15
still prints three "Unable to register cuDNN/cuFFT/cuBLAS factory" lines at
level E (a known TensorFlow bug; only level 3 hides them, which would hide
real errors too).
"""

import os
import sys
import warnings

TF_CPP_MIN_LOG_LEVEL = "2"   # hide C++ INFO and WARNING lines, keep errors
CONSOLE_SCRIPTS = ("conv_t5_mesh_transformer", "conv_t5_convert")
PKG_RESOURCES_WARNING = r"pkg_resources is deprecated as an API"


def is_command(argv=None):
  """Whether this process runs one of the package's commands."""
  argv = sys.argv if argv is None else argv
  first = argv[0] if argv else ""
  script = os.path.splitext(os.path.basename(first))[0]  # Windows: .exe
  return first == "-m" or script in CONSOLE_SCRIPTS


def quiet():
  """TF_CPP_MIN_LOG_LEVEL defaults to 2; the pkg_resources warning is off."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_CPP_MIN_LOG_LEVEL)
  warnings.filterwarnings("ignore", message=PKG_RESOURCES_WARNING,
                          category=UserWarning)
