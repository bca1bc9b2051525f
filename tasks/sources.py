"""Data sources shared by the task modules.

  TfdsSource        a seqio.TfdsDataSource that reads prepared TFDS data only
                    (unless gin allows downloading) and, when the data is not
                    prepared, fails at once naming the dataset, the data_dir
                    and the command that prepares it -- instead of TFDS's
                    minutes of download retries offline. Without
                    download, TFDS's lookup of pre-computed metadata in its
                    public bucket (gs://tfds-data) is switched off too: nothing
                    is fetched at run time.
  TsvSource         small tab-separated files (one per split) read eagerly
                    by read_tsv: a malformed line raises DataFormatError
                    naming file and line number.
  text_line_dataset lazy reader of (possibly large) text files, one document a
                    line; a line that is not UTF-8 fails naming file and line.
"""

import contextlib

import tensorflow as tf
import tensorflow_datasets as tfds
import seqio

from conv_t5 import errors
from conv_t5.tasks import config


class DatasetNotPreparedError(errors.ConfigError):
  """A TFDS dataset is not prepared in the data directory that was searched."""


class DataFormatError(errors.ConfigError):
  """A line of a local data file does not have the expected format."""


def not_prepared_message(tfds_name, data_dir_root):
  return (
      f"TFDS dataset {tfds_name!r} is not prepared in {data_dir_root} "
      "(conv_t5 does not let TFDS download it during a run: offline that "
      "retries for minutes before failing).\n"
      "Prepare it once on a machine with internet access:\n"
      f"    tfds build {tfds_name} --data_dir={data_dir_root}\n"
      "  (or in Python: tfds.builder("
      f"{tfds_name!r}, data_dir={str(data_dir_root)!r}).download_and_prepare())\n"
      "and copy that directory here, or point conv_t5 at a prepared copy with "
      "--t5_tfds_data_dir=DIR or --gin_param=\"conv_t5.tfds_options.data_dir "
      "= 'DIR'\". To let TFDS download on first use instead, add "
      "--gin_param=\"conv_t5.tfds_options.download = True\".")


class TfdsSource(seqio.TfdsDataSource):
  """A TFDS source whose data_dir and download policy come from gin at use.

  Registration happens at import, before gin is parsed, so the loader is built
  lazily from `conv_t5.tfds_options` (t5's --t5_tfds_data_dir, which seqio
  applies as an override, still wins).
  """

  def __init__(self, tfds_name, splits):
    """Args: tfds_name 'name/config:version'; splits: canonical -> TFDS split."""
    if not isinstance(splits, dict):
      splits = {s: s for s in splits}
    self._tfds_name = tfds_name
    self._split_map = dict(splits)
    self._loaders = {}
    super().__init__(tfds_name=tfds_name, splits=splits, read_only=True)

  @property
  def tfds_name(self):
    return self._tfds_name

  @property
  def tfds_dataset(self):
    data_dir, download = config.tfds_options()
    key = (data_dir, download)
    if key not in self._loaders:
      self._loaders[key] = _Loader(
          self._tfds_name, data_dir=data_dir, split_map=self._split_map,
          read_only=not download)
    return self._loaders[key]

  def get_dataset(self, split=tfds.Split.TRAIN, shuffle=True, seed=None,
                  shard_info=None, **kwargs):
    try:
      return super().get_dataset(split, shuffle, seed, shard_info, **kwargs)
    except AssertionError as e:  # DatasetBuilder.as_dataset: no data found
      builder = self.tfds_dataset.builder
      if builder.is_prepared():
        raise
      raise DatasetNotPreparedError(
          not_prepared_message(self._tfds_name, builder.data_dir_root)
      ) from e

  def num_input_examples(self, split):
    """The split's size from the prepared dataset's info, else None (unknown:
    not prepared, or served by tfds.testing.mock_data)."""
    try:
      return super().num_input_examples(split)
    except KeyError:
      return None


class _Loader(seqio.utils.LazyTfdsLoader):
  """seqio's lazy loader; without downloads, its builders are made offline.

  Every use of a TFDS source (datasets, splits, sizes, files) gets its
  DatasetBuilder from `_get_builder`, so this is the one place to keep TFDS
  from reaching for its bucket (see `no_tfds_bucket`).
  """

  def _get_builder(self, split=None):
    with no_tfds_bucket(self._read_only):
      return super()._get_builder(split)


@contextlib.contextmanager
def no_tfds_bucket(active=True):
  """Switches off TFDS's metadata lookup in gs://tfds-data while active.

  A DatasetBuilder whose data is not prepared asks the public bucket for
  pre-computed metadata (DatasetInfo.initialize_from_bucket): a network
  access offline (slow or hanging where packets are dropped), and a
  temporary directory per builder that TFDS creates before the lookup and
  never removes. Reading prepared data never needs it: while active, the
  lookup is skipped altogether.
  """
  from tensorflow_datasets.core import dataset_info  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.utils import gcs_utils  # pylint: disable=g-import-not-at-top
  saved = gcs_utils._is_gcs_disabled  # pylint: disable=protected-access
  saved_init = dataset_info.DatasetInfo.__dict__["initialize_from_bucket"]
  if active:
    gcs_utils._is_gcs_disabled = True  # pylint: disable=protected-access
    dataset_info.DatasetInfo.initialize_from_bucket = lambda self: None
  try:
    yield
  finally:
    gcs_utils._is_gcs_disabled = saved  # pylint: disable=protected-access
    dataset_info.DatasetInfo.initialize_from_bucket = saved_init


def read_tsv(path, columns, header=True, allowed=None):
  """Reads a small tab-separated file eagerly, checking every line.

  Args:
    path: a local or gs:// path.
    columns: the column names, in file order.
    header: whether the first line must be the tab-joined column names.
    allowed: optional {column: collection of allowed values}.
  Returns:
    {column: [str, ...]} with one entry per data line.
  Raises:
    DataFormatError naming the file and 1-based line number of a bad line.
  """
  with tf.io.gfile.GFile(path, "rb") as f:
    raw = f.read()
  out = {c: [] for c in columns}
  lines = raw.split(b"\n")
  if lines and lines[-1] == b"":
    lines.pop()
  for number, line in enumerate(lines, start=1):
    where = f"{path}:{number}"
    try:
      text = line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as e:
      raise DataFormatError(f"{where}: not valid UTF-8 ({e.reason} at byte "
                            f"{e.start}); fix or remove the line.") from None
    fields = text.split("\t")
    if number == 1 and header:
      if fields != list(columns):
        raise DataFormatError(
            f"{where}: expected the header {'<TAB>'.join(columns)!r}, found "
            f"{text[:80]!r}.")
      continue
    if len(fields) != len(columns):
      raise DataFormatError(
          f"{where}: expected {len(columns)} tab-separated fields "
          f"({', '.join(columns)}), found {len(fields)}: {text[:80]!r}.")
    for column, value in zip(columns, fields):
      if not value.strip():
        raise DataFormatError(f"{where}: the {column} field is empty.")
      if allowed and column in allowed and value not in allowed[column]:
        raise DataFormatError(
            f"{where}: {column} {value!r} is not one of "
            f"{sorted(allowed[column])}.")
      out[column].append(value)
  return out


class TsvSource(seqio.DataSource):
  """Small TSV files, one per split, read eagerly and checked line by line.

  The whole split is in memory, so shuffling is a full shuffle (reshuffled
  each epoch) rather than a buffer over an unshuffled stream.
  """

  def __init__(self, path_fn, splits, columns, header=True, allowed=None):
    """Args: path_fn(split) -> file path, called at use (after gin parsing);
    splits, columns, header, allowed: as read_tsv."""
    self._path_fn = path_fn
    self._columns = tuple(columns)
    self._header = header
    self._allowed = allowed
    super().__init__(splits=splits)

  @property
  def supports_arbitrary_sharding(self):
    return True

  def list_shards(self, split):
    return [self._path_fn(split)]

  def num_input_examples(self, split):
    with tf.io.gfile.GFile(self._path_fn(split), "rb") as f:
      return sum(1 for line in f if line.strip()) - int(self._header)

  def get_dataset(self, split=tfds.Split.TRAIN, shuffle=True, seed=None,
                  shard_info=None, **unused_kwargs):
    data = read_tsv(self._path_fn(split), self._columns, header=self._header,
                    allowed=self._allowed)
    ds = tf.data.Dataset.from_tensor_slices(
        {c: tf.constant(v, dtype=tf.string) for c, v in data.items()})
    if shard_info:
      ds = ds.shard(shard_info.num_shards, shard_info.index)
    if shuffle:
      ds = ds.shuffle(len(data[self._columns[0]]), seed=seed,
                      reshuffle_each_iteration=True)
    return ds


def _checked_line(path, number, line):
  """Fails with 'path:number: ...' if `line` is not valid UTF-8."""
  valid = tf.equal(
      tf.strings.unicode_transcode(line, "UTF-8", "UTF-8", errors="replace"),
      line)
  message = tf.strings.join([
      path, ":", tf.strings.as_string(number),
      ": malformed line, not valid UTF-8 text; fix or remove it "
      "(e.g. `iconv -c -f utf-8 -t utf-8`)."])
  check = tf.debugging.Assert(valid, [message])
  with tf.control_dependencies([check]):
    return tf.identity(line)


def text_line_dataset(files, shuffle_files=False, seed=None):
  """Lines of text files (one document a line; blank lines skipped).

  Args:
    files: a list of file paths.
    shuffle_files: shuffle the order of the files.
    seed: the shuffle seed.
  Returns:
    a tf.data.Dataset of {"text": string}.
  """
  ds = tf.data.Dataset.from_tensor_slices(tf.constant(sorted(files)))
  if shuffle_files:
    ds = ds.shuffle(len(files), seed=seed)

  def read(path):
    lines = tf.data.TextLineDataset(path).enumerate(start=1)
    return lines.map(lambda number, line: _checked_line(path, number, line))

  ds = ds.interleave(read, cycle_length=1)
  ds = ds.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)
  return ds.map(lambda line: {"text": line})
