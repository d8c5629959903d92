"""The lens-vdb exception tree.

    LensError                      root of every error lens-vdb raises on purpose
    ├── LensDependencyError        an optional dependency is missing (also an ImportError)
    ├── LensInputError             bad user input: a text, a vector, an argument (also a ValueError)
    ├── LensModelError             a checkpoint or graph is corrupt, incomplete or mismatched
    ├── LensSchemaError            a vector-store collection exists with another schema
    └── LensConnectionError        a vector-store server cannot be reached

Each message names the bad item and says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "LensError",
    "LensDependencyError",
    "LensInputError",
    "LensModelError",
    "LensSchemaError",
    "LensConnectionError",
]


class LensError(Exception):
    """Root of the lens-vdb exception tree."""


class LensDependencyError(LensError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class LensInputError(LensError, ValueError):
    """Input that lens-vdb cannot use; the message names the bad item."""


class LensModelError(LensError):
    """A model checkpoint, head file or exported graph is corrupt or does not match."""


class LensSchemaError(LensError):
    """An existing collection has a schema other than the one asked for."""


class LensConnectionError(LensError):
    """A vector-store server could not be reached or stopped answering."""
