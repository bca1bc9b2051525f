"""`python -m conv_t5.results`: kept for the Makefile, the docs and users' scripts.

The code is conv_t5.experiments.results; its names are re-exported here.
"""

import sys

from conv_t5.experiments.results import *  # noqa: F401,F403
from conv_t5.experiments.results import main

if __name__ == "__main__":
  sys.exit(main())
