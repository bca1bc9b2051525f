"""What a grid run records on disk, and how it tells what is done.

  <out_dir>/grid.json               the GridSpec the run was started with,
                                    and the sha256 of every gin file its
                                    stages parse
  <model_dir>/train_done.json       a training stage finished (its result)
  <model_dir>/eval_done.json        an eval stage finished (its metrics)
  <model_dir>/grid_stage.json       what a training stage was started with
                                    (and its gin files' sha256)

A run resumed in the same <out_dir> must be the same grid: the same GridSpec
and the same contents of the gin files (a gin file is named in the spec, so
the name alone would not tell an edit). Files recorded before the sha256
were: the first resume records them, later ones check them.

Markers are written last, through a temp file and a rename (conv_t5.files);
a stage is done when its marker exists. All access goes through
tf.io.gfile, so <out_dir> may be a gs:// path.
"""

import hashlib
import json
import os

from gin import config_parser

from conv_t5 import files
from conv_t5.experiments import spec as spec_lib

GRID_FILE = "grid.json"
INTENT_FILE = "grid_stage.json"
GIN_SHA256 = "gin_sha256"
# conv_t5.config.parse parses mesh-tensorflow's defaults.gin before a stage's
# own files (experiments.stages.stage_gin).
PARSED_FIRST = ("defaults.gin",)


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


def gin_sha256(names):
  """{name: sha256 of the file's contents} of gin files and of every file
  they include, recursively; each found as conv_t5.config.parse finds it
  (the gin search path: conv_t5's gin/, t5's, mesh-tensorflow's).

  Raises:
    errors.ConfigError: a file is not on the search path.
  """
  from conv_t5 import config  # pylint: disable=g-import-not-at-top
  found, todo = {}, list(names)
  while todo:
    name = todo.pop(0)
    if name in found:
      continue
    with open(config.resolve(name), "rb") as f:
      data = f.read()
    found[name] = hashlib.sha256(data).hexdigest()
    todo += [s.filename for s in config_parser.ConfigParser(
        data.decode("utf-8"), spec_lib.StatementsOnly())
             if isinstance(s, config_parser.IncludeStatement)]
  return found


def stage_gin_sha256(spec, stage):
  """gin_sha256 of the files `stage` parses."""
  from conv_t5.experiments import stages as stages_lib  # pylint: disable=g-import-not-at-top
  return gin_sha256(PARSED_FIRST + tuple(stages_lib.stage_gin(spec, stage)))


def grid_gin_sha256(spec):
  """gin_sha256 of the files any stage of the grid parses."""
  from conv_t5.experiments import stages as stages_lib  # pylint: disable=g-import-not-at-top
  names = dict.fromkeys(PARSED_FIRST)
  for stage in stages_lib.stages(spec):
    names.update(dict.fromkeys(stages_lib.stage_gin(spec, stage)))
  return gin_sha256(list(names))


def changed_gin(old, new):
  """The names whose sha256 differs (or that one side lacks), sorted."""
  return sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))


def init_out_dir(spec, out_dir):
  """Records the spec and its gin files' sha256 in <out_dir>/grid.json, or
  checks they match (a grid.json without the sha256 gets them recorded).

  Raises:
    GridMismatchError: out_dir was run with a different GridSpec, or with
      other contents of its gin files; its finished stages would not belong
      to this grid.
  """
  path = os.path.join(out_dir, GRID_FILE)
  gfile().makedirs(out_dir)
  recorded = read_json(path)
  hashes = grid_gin_sha256(spec)
  if recorded is None:
    files.atomic_write_json(path, {"spec": spec.to_json(),
                                   GIN_SHA256: hashes})
    return
  # Through from_json: a field added since (at its default) is no difference.
  old = spec_lib.GridSpec.from_json(recorded["spec"]).to_json()
  new = spec.to_json()
  diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
  if diff:
    raise spec_lib.GridMismatchError(
        f"{out_dir} holds a grid run with a different configuration ("
        + "; ".join(diff) + "). Its finished stages are kept: use another "
        "--out_dir, or delete that directory to start over.")
  if GIN_SHA256 not in recorded:  # recorded before hashing: pin them now
    files.atomic_write_json(path, dict(recorded, **{GIN_SHA256: hashes}))
    return
  changed = changed_gin(recorded[GIN_SHA256], hashes)
  if changed:
    raise spec_lib.GridMismatchError(
        f"{out_dir} holds a grid run whose gin files had other contents: "
        f"{', '.join(changed)} changed since it started, so its finished "
        "stages were not trained with the configuration this run would use. "
        "Use another --out_dir, or delete that directory to start over.")


def load_spec(out_dir):
  """The GridSpec recorded in <out_dir>/grid.json."""
  recorded = read_json(os.path.join(out_dir, GRID_FILE))
  if recorded is None:
    raise FileNotFoundError(f"{out_dir}/{GRID_FILE} is missing")
  return spec_lib.GridSpec.from_json(recorded["spec"])


def check_intent(model_dir, fingerprint):
  """Refuses a model dir that another configuration started training.

  A fingerprint recorded before the gin files' sha256 were (GIN_SHA256
  missing, the rest equal) is accepted and gets them recorded.
  """
  path = os.path.join(model_dir, INTENT_FILE)
  recorded = read_json(path)
  fingerprint = json.loads(json.dumps(fingerprint))
  if recorded is None or (
      GIN_SHA256 not in recorded and recorded == {
          k: v for k, v in fingerprint.items() if k != GIN_SHA256}):
    files.atomic_write_json(path, fingerprint)
    return
  if recorded == fingerprint:
    return
  rest = [k for k in set(recorded) | set(fingerprint)
          if k != GIN_SHA256 and recorded.get(k) != fingerprint.get(k)]
  if not rest:
    changed = changed_gin(recorded.get(GIN_SHA256, {}),
                          fingerprint.get(GIN_SHA256, {}))
    raise spec_lib.GridMismatchError(
        f"{model_dir} was started with other contents of its gin files: "
        f"{', '.join(changed)} changed since; this run would mix the two. "
        "Use another --out_dir, or delete that model dir to retrain it.")
  raise spec_lib.GridMismatchError(
      f"{model_dir} was started with another configuration "
      f"({recorded}); this run would mix the two. Delete it to retrain.")
