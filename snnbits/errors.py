"""The root of every user-facing error of the project.

Each library has one exception type of its own (``golden.errors.GoldenError``,
``accel.errors.AccelError``, ``energy.errors.EnergyError``, ...), and every one
of them derives from :class:`SnnbitsError`.  A front end catches this one type,
prints its message as ``error: ...`` and exits with code 2; anything else that
escapes is a bug.

Messages name the operation or file, the field and the offending value, so
that they can be shown as they are, without a traceback.
"""


class SnnbitsError(ValueError):
    """A user mistake: bad input file, bad option, impossible size or width."""
