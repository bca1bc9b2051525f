"""What a grid run records on disk, and how it tells what is done.

  <out_dir>/grid.json               the GridSpec the run was started with
  <model_dir>/train_done.json       a training stage finished (its result)
  <model_dir>/eval_done.json        an eval stage finished (its metrics)
  <model_dir>/grid_stage.json       what a training stage was started with

Markers are written last, through a temp file and a rename (conv_t5.files);
a stage is done when its marker exists. All access goes through
tf.io.gfile, so <out_dir> may be a gs:// path.
"""

import json
import os

from conv_t5 import files
from conv_t5.experiments import spec as spec_lib

GRID_FILE = "grid.json"
INTENT_FILE = "grid_stage.json"


def gfile():
  """tf.io.gfile (TensorFlow is imported on first use)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def read_json(path):
  fs = gfile()
  if not fs.exists(path):
    return None
  with fs.GFile(path) as f:
    return json.load(f)


def marker_path(stage, root):
  return os.path.join(stage.model_dir(root), stage.marker)


def read_marker(stage, root):
  return read_json(marker_path(stage, root))


def is_done(stage, root):
  return gfile().exists(marker_path(stage, root))


def init_out_dir(spec, out_dir):
  """Records the spec in <out_dir>/grid.json, or checks it matches.

  Raises:
    GridMismatchError: out_dir was run with a different GridSpec; its
      finished stages would not belong to this grid.
  """
  path = os.path.join(out_dir, GRID_FILE)
  gfile().makedirs(out_dir)
  recorded = read_json(path)
  if recorded is None:
    files.atomic_write_json(path, {"spec": spec.to_json()})
    return
  old, new = recorded["spec"], spec.to_json()
  diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
  if diff:
    raise spec_lib.GridMismatchError(
        f"{out_dir} holds a grid run with a different configuration ("
        + "; ".join(diff) + "). Its finished stages are kept: use another "
        "--out_dir, or delete that directory to start over.")


def load_spec(out_dir):
  """The GridSpec recorded in <out_dir>/grid.json."""
  recorded = read_json(os.path.join(out_dir, GRID_FILE))
  if recorded is None:
    raise FileNotFoundError(f"{out_dir}/{GRID_FILE} is missing")
  return spec_lib.GridSpec.from_json(recorded["spec"])


def check_intent(model_dir, fingerprint):
  """Refuses a model dir that another configuration started training."""
  path = os.path.join(model_dir, INTENT_FILE)
  recorded = read_json(path)
  if recorded is None:
    files.atomic_write_json(path, fingerprint)
  elif recorded != json.loads(json.dumps(fingerprint)):
    raise spec_lib.GridMismatchError(
        f"{model_dir} was started with another configuration "
        f"({recorded}); this run would mix the two. Delete it to retrain.")
