"""``python -m dyngen.cli``: the ``dyngen`` command without the installed script."""

import sys

from dyngen.cli import main

sys.exit(main())
