"""FincasKV: a persistent, Redis-compatible key/value store (Python package)."""

from fincaskv._native import __version__

__all__ = ["__version__"]
