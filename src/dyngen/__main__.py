"""``python -m dyngen`` (and ``torchrun -m dyngen``): the command line."""

import sys

from dyngen.cli import main

sys.exit(main())
