"""`python -m conv_t5.demo`: kept for the Makefile, the docs and users' scripts.

The code is conv_t5.experiments.demo; its names are re-exported here.
"""

import sys

from conv_t5.experiments.demo import *  # noqa: F401,F403
from conv_t5.experiments.demo import main

if __name__ == "__main__":
  sys.exit(main())
