"""``python -m energy`` = the ``energy`` command (the front end lives in :mod:`snnbits.cli.energy`)."""

import sys

from snnbits.cli.energy import main

sys.exit(main())
