"""`python -m conv_t5.bench` (what `make bench` runs): see conv_t5.bench.runner."""

import sys

from conv_t5.bench import runner

sys.exit(runner.main())
