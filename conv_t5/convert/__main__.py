"""`python -m conv_t5.convert`: see conv_t5.convert.cli."""

import sys

from conv_t5.convert import cli

sys.exit(cli.main())
