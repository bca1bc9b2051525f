"""`python -m conv_t5.convert` / `conv_t5_convert`: the command line.

    python -m conv_t5.convert \\
        --checkpoint=gs://pretrainedconvs/lconv_base \\
        --model=models/authors_lconv.base.gin \\
        --output_dir=gs://BUCKET/converted/lconv_base

Exit status 0 when written (or checked, with --dry_run); 2 with one message
naming the problem and the fix when the checkpoint or config is refused
(nothing is written then).
"""

import argparse
import sys

from conv_t5 import errors

CONFIG_ERROR_STATUS = 2


def parse_args(argv):
  p = argparse.ArgumentParser(
      prog="python -m conv_t5.convert",
      description="Convert an authors' released checkpoint (mesh-tensorflow "
      "LocalConvAttnBlock, gs://pretrainedconvs) into conv_t5's "
      "LightweightConvolution / DynamicConvolution layers.")
  p.add_argument("--checkpoint", required=True,
                 help="model directory (its latest checkpoint) or checkpoint "
                 "prefix .../model.ckpt-<step>; local or gs://")
  p.add_argument("--step", type=int, default=None,
                 help="checkpoint step within --checkpoint's directory")
  p.add_argument("--model", required=True,
                 help="the authors' gin config it was trained with, e.g. "
                 "models/authors_lconv.base.gin (see docs/authors_checkpoints.md)")
  p.add_argument("--gin_param", action="append", default=[],
                 help="extra gin binding for that config (repeatable)")
  p.add_argument("--output_dir", required=False, default=None,
                 help="new directory for the converted checkpoint and its "
                 "model.gin; local or gs://")
  p.add_argument("--dry_run", "--dry-run", action="store_true",
                 help="check and plan the conversion, print its summary "
                 "(parameter counts), write nothing")
  args = p.parse_args(argv)
  if not args.dry_run and not args.output_dir:
    p.error("--output_dir is required (or --dry_run)")
  return args


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  from conv_t5.convert import run  # pylint: disable=g-import-not-at-top
  try:
    run.convert(args.checkpoint, args.output_dir, args.model,
                gin_params=args.gin_param, step=args.step,
                dry_run=args.dry_run)
  except errors.ConfigError as e:
    sys.stderr.write(f"conv_t5.convert: error: {e}\n")
    return CONFIG_ERROR_STATUS
  return 0


def console_entry_point():
  sys.exit(main())
