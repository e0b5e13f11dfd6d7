"""``python -m energy`` = the ``energy`` command."""

import sys

from .cli import main

sys.exit(main())
