"""Old path of the training guards, kept for saved configs and user code.

operative_config.gin files written by `conv_t5_mesh_transformer` before the
guards moved to conv_t5.training start with `import conv_t5.guards`; this
module keeps that import (and `from conv_t5 import guards`) working. New code:
conv_t5.training.{lengths,checkpoints,finite,determinism,train,model}.
"""

from conv_t5.training.checkpoints import ArchitectureGuard  # noqa: F401
from conv_t5.training.checkpoints import check_checkpoint_compatible  # noqa: F401
from conv_t5.training.checkpoints import checkpoint_step  # noqa: F401
from conv_t5.training.checkpoints import compare_variables  # noqa: F401
from conv_t5.training.checkpoints import keep_operative_config_on_failure  # noqa: F401
from conv_t5.training.checkpoints import OPERATIVE_CONFIG  # noqa: F401
from conv_t5.training.determinism import DETERMINISM_ENV  # noqa: F401
from conv_t5.training.determinism import nondeterministic_env  # noqa: F401
from conv_t5.training.determinism import seed_everything  # noqa: F401
from conv_t5.training.finite import FiniteCheckpointGuard  # noqa: F401
from conv_t5.training.finite import NonFiniteLossGuard  # noqa: F401
from conv_t5.training.lengths import check_sequence_length  # noqa: F401
from conv_t5.training.train import saving_listeners  # noqa: F401
from conv_t5.training.train import train_model  # noqa: F401
from conv_t5.training.train import training_hooks  # noqa: F401


def __getattr__(name):
  # GuardedMtfModel's module imports t5.models (and torch): only on first use,
  # as before the move, so `import conv_t5.guards` in a gin file stays light.
  if name == "GuardedMtfModel":
    from conv_t5.training import model  # pylint: disable=g-import-not-at-top
    return model.GuardedMtfModel
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
