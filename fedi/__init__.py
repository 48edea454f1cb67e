"""fedi: puts an archive of recorded talks on the fediverse."""

__version__ = "0.1.0"
