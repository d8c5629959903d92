"""The lens-vdb exception tree.

    LensError                      root of every error lens-vdb raises on purpose
    ├── LensDependencyError        an optional dependency is missing (also an ImportError)
    ├── LensInputError             bad user input: a text, a vector, an argument (also a ValueError)
    │   └── LensTypeError          an argument of the wrong type (also a TypeError)
    ├── LensModelError             a checkpoint or graph is corrupt, incomplete or mismatched
    ├── LensSchemaError            a vector-store collection exists with another schema
    ├── LensConnectionError        a vector-store server cannot be reached
    └── LensUnavailableError       an attribute the chosen backend does not have (also an AttributeError)

The built-in base classes stay, so code written against Python's own errors keeps working
(``except ValueError`` catches every LensInputError, ``hasattr`` is False for an unavailable
attribute), and ``except LensError`` catches everything lens-vdb raises on purpose.

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
    "LensTypeError",
    "LensUnavailableError",
]


class LensError(Exception):
    """Root of the lens-vdb exception tree."""


class LensDependencyError(LensError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class LensInputError(LensError, ValueError):
    """Input that lens-vdb cannot use; the message names the bad item."""


class LensTypeError(LensInputError, TypeError):
    """An argument of the wrong type (a str where a list of str is expected); also a TypeError."""


class LensModelError(LensError):
    """A model checkpoint, head file or exported graph is corrupt or does not match."""


class LensSchemaError(LensError):
    """An existing collection has a schema other than the one asked for."""


class LensConnectionError(LensError):
    """A vector-store server could not be reached or stopped answering."""


class LensUnavailableError(LensError, AttributeError):
    """An attribute the object's backend does not have (an exported graph has no torch model).

    Also an AttributeError, so ``hasattr`` and ``getattr(obj, name, default)`` work as usual.
    """
