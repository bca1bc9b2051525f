"""Old path of the grid, kept for saved profiles and configs.

Gin profiles (`import conv_t5.grid`, then `GridSpec.*` bindings) and the
worker command `python -m conv_t5.grid --worker ...` keep working; the code
is in conv_t5.experiments (layout, spec, stages, markers, worker).
"""

import sys

from conv_t5.experiments.layout import ARCHS  # noqa: F401
from conv_t5.experiments.layout import INITS  # noqa: F401
from conv_t5.experiments.layout import MODELS_SUBDIR  # noqa: F401
from conv_t5.experiments.layout import models_root  # noqa: F401
from conv_t5.experiments.markers import GRID_FILE  # noqa: F401
from conv_t5.experiments.markers import init_out_dir  # noqa: F401
from conv_t5.experiments.markers import is_done  # noqa: F401
from conv_t5.experiments.markers import load_spec  # noqa: F401
from conv_t5.experiments.markers import marker_path  # noqa: F401
from conv_t5.experiments.markers import read_json  # noqa: F401
from conv_t5.experiments.markers import read_marker  # noqa: F401
from conv_t5.experiments.spec import GridMismatchError  # noqa: F401
from conv_t5.experiments.spec import GridSpec  # noqa: F401
from conv_t5.experiments.spec import spec_from_gin  # noqa: F401
from conv_t5.experiments.stages import Stage  # noqa: F401
from conv_t5.experiments.stages import stages  # noqa: F401
from conv_t5.experiments.worker import latest_step  # noqa: F401
from conv_t5.experiments.worker import main
from conv_t5.experiments.worker import PROGRESS_PREFIX  # noqa: F401
from conv_t5.experiments.worker import run_eval_stage  # noqa: F401
from conv_t5.experiments.worker import run_train_stage  # noqa: F401
from conv_t5.experiments.worker import run_worker  # noqa: F401
from conv_t5.machine import summary as machine  # noqa: F401

if __name__ == "__main__":
  sys.exit(main())
