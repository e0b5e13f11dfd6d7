"""The one exception type of the golden model.

Every message names the operation (or file), the field and the offending value,
so that a command-line front end can print it as is, without a traceback.
"""

from snnbits.errors import SnnbitsError


class GoldenError(SnnbitsError):
    """A user-facing error: a bad model file, a bad argument, an impossible width."""
