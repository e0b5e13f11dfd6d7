"""The command-line front ends: ``accel`` (:mod:`snnbits.cli.accel`) and ``energy``
(:mod:`snnbits.cli.energy`).

Everything that talks to a terminal or writes a user's output path lives here:
argument parsing and validation, the one place that maps errors to exit codes
(:mod:`snnbits.cli.dispatch`), safe output files and folders
(:mod:`snnbits.cli.output`), rich tables and progress bars (:mod:`snnbits.cli.ui`).
The libraries (``golden``, ``rtl``, ``accel``, ``energy``) never import this package.
"""
