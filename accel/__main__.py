"""``python -m accel`` = the ``accel`` command (the front end lives in :mod:`snnbits.cli.accel`)."""

import sys

from snnbits.cli.accel import main

sys.exit(main())
