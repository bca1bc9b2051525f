"""seqio Tasks and Mixtures of conv_t5; import with --module_import=conv_t5.tasks.

Importing this module
  * applies the TF compatibility fix (via `import conv_t5`),
  * puts conv_t5's gin directory and t5's on gin's search path, so
    `--gin_file=models/conv_lightweight.base.gin` resolves without a path,
  * registers every task and mixture of the package.
"""

import conv_t5  # noqa: F401  (TF compatibility fix before mesh/t5 imports)
from conv_t5 import paths as _paths

_paths.add_gin_search_paths()

# Registrations (import order does not matter; each module registers its own).
from conv_t5.tasks import local  # noqa: E402,F401
from conv_t5.tasks import c4  # noqa: E402,F401
from conv_t5.tasks import demo  # noqa: E402,F401
from conv_t5.tasks import finetune  # noqa: E402,F401
from conv_t5.tasks import glue  # noqa: E402,F401
