"""The one exception type of the accelerator model (``accel``)."""

from snnbits.errors import SnnbitsError


class AccelError(SnnbitsError):
    """A user error in the accelerator model: bad config file, array shape, trace or option.

    Messages name the operation or file, the field and the offending value; the
    ``accel`` CLI prints them as ``error: ...`` (exit code 2) without a traceback.
    """
