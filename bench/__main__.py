"""`python -m bench`: the whole benchmark run (see bench/main.py)."""

import sys

from bench.main import main

sys.exit(main())
