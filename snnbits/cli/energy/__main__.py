"""``python -m snnbits.cli.energy`` = the ``energy`` command."""

import sys

from snnbits.cli.energy import main

sys.exit(main())
