"""Exception hierarchy: one class per kind of failure, all rooted at :class:`EmoscoreError`."""

from __future__ import annotations


class EmoscoreError(Exception):
    """Base class of every error raised by emoscore."""


class LexiconError(EmoscoreError, ValueError):
    """A lexicon file or lexicon definition is malformed (the message names file and line)."""


class InputError(EmoscoreError, ValueError):
    """Input data has the wrong shape or type (the message names column, row and value)."""


class ColumnNotFoundError(InputError, KeyError):
    """A column named in the call is not in the data."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class BackendError(EmoscoreError, RuntimeError):
    """The requested compute backend is unknown or not usable on this machine."""


class IncompatibleStateError(InputError):
    """Two KPI states cannot be merged: they were built with different settings (both are named)."""


class StateFormatError(InputError):
    """Bytes given to ``from_bytes`` are not a state this version can read."""
