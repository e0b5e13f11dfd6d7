"""``python -m snnbits.cli.accel`` = the ``accel`` command."""

import sys

from snnbits.cli.accel import main

sys.exit(main())
