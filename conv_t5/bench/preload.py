"""What the benchmark's fork server imports before it forks any worker.

Workers are forked from a multiprocessing fork server that imported this
module once (see `proc`): TensorFlow, Mesh TensorFlow, t5 (through the gin
search path) and conv_t5's layers are loaded before any fork, so a worker
starts in about a second instead of re-importing them (tens of seconds on a
busy 2-core machine). No TF session or graph exists in the server; each worker builds its
own after the fork.
"""

import conv_t5  # noqa: F401  (TF compatibility fix before mesh_tensorflow)
from conv_t5 import startup

# The fork server is a process of its own (not `python -m`): the benchmark's
# quiet start-up again, before TensorFlow loads here.
startup.quiet()

import mesh_tensorflow  # noqa: E402,F401  pylint: disable=unused-import
from mesh_tensorflow.transformer import transformer  # noqa: E402,F401  pylint: disable=unused-import
from mesh_tensorflow.transformer import utils  # noqa: E402,F401  pylint: disable=unused-import
import tensorflow.compat.v1 as tf  # noqa: E402,F401  (worker.py: preload.tf)

from conv_t5 import paths  # noqa: E402
import conv_t5.layers  # noqa: E402,F401  pylint: disable=unused-import

paths.add_gin_search_paths(with_mesh=True)  # imports t5 for its gin directory

