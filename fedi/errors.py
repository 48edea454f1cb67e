"""The exception tree. Every message names the file, field or URL at fault and, where it can, how to fix it.

    FediError(Exception)
    ├── ConfigError        the config file is missing, unreadable or invalid
    ├── EntryError         a talk entry in the archive folder is invalid
    ├── KeyFileError       a key file is unreadable, malformed or too open
    ├── StoreError         the store cannot be opened or written (disk full, read-only)
    ├── SignatureError     an incoming signature is missing or invalid (carries the HTTP status)
    ├── ActivityError      an incoming activity is malformed or not allowed (carries the HTTP status)
    └── RemoteError        another server could not be reached or answered badly
        ├── BlockedAddressError  the SSRF guard refused the destination before connecting
        └── DeliveryError  a delivery attempt failed (``permanent`` says whether to retry)
"""

from __future__ import annotations


class FediError(Exception):
    """Base of every error fedi raises on purpose."""


class ConfigError(FediError):
    pass


class EntryError(FediError):
    pass


class KeyFileError(FediError):
    pass


class StoreError(FediError):
    pass


class SignatureError(FediError):
    """A request's signature cannot be trusted; ``status`` is 401, or 403 for a blocked signer."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ActivityError(FediError):
    """An incoming activity is rejected; ``status`` is the 4xx to answer with."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class RemoteError(FediError):
    """Another server failed us; ``status`` is its HTTP status when it answered at all."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BlockedAddressError(RemoteError):
    pass


class DeliveryError(RemoteError):
    """``permanent``: retrying cannot help; ``retry_after``: seconds the server asked us to wait (429/503)."""

    def __init__(self, message: str, status: int | None = None, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.permanent = permanent
        self.retry_after = retry_after
