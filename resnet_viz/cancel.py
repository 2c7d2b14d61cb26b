"""How a long computation is stopped from outside: its progress callback raises :class:`Cancelled`.

Library functions that take a ``progress`` callback call it between their slices of work and
clean up in ``finally``; the app's Cancel button sets a flag that the next call turns into this
exception, so the computation ends at its next slice and gives the model back.
"""

from __future__ import annotations

__all__ = ["Cancelled"]


class Cancelled(Exception):
    """The visitor (or the server) stopped a long computation before it finished."""
