"""The one exception type of the energy model.

Every message names the file (or operation), the entry, the field and the
offending value, so that ``energy`` can print it as is, without a traceback.
"""

from snnbits.errors import SnnbitsError


class EnergyError(SnnbitsError):
    """A user-facing error: a bad cost table, a bad trace/model pairing, a bad option."""
