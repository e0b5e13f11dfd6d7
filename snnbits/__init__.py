"""snnbits: error-free ANN-to-SNN conversion, from golden model to RTL.

This package holds what sits beside or above the four libraries (``golden``,
``rtl``, ``accel``, ``energy``): the root exception every library derives its
own from (:mod:`snnbits.errors`), and the front ends built on top of them.
Importing ``snnbits`` imports nothing else.
"""
