"""`python -m conv_t5.tasks.demo_data` (what `make data` runs)."""

import sys

from conv_t5.tasks.demo_data import main

sys.exit(main())
