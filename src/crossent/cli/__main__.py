"""``python -m crossent.cli``: the ``crossent`` command."""

import sys

from crossent.cli import main

sys.exit(main())
