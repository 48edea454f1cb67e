"""Content negotiation: AS2 JSON for fediverse servers, HTML for browsers (docs/receivers.md, Content types)."""

from __future__ import annotations

AS2 = "application/activity+json"
LD_JSON = "application/ld+json"
AS2_TYPES = frozenset({AS2, LD_JSON})
JRD = "application/jrd+json"


def wants_as2(accept: str | None) -> bool:
    """True when Accept names activity+json or ld+json (with or without the AS2 profile) with a non-zero q."""
    if not accept:
        return False
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() not in AS2_TYPES:
            continue
        q = next((f[2:] for f in fields[1:] if f.lower().startswith("q=")), "1")
        try:
            if float(q) > 0:
                return True
        except ValueError:
            return True
    return False


def is_as2_content_type(value: str | None) -> bool:
    """A body we accept as AS2: activity+json, or ld+json (any profile: Mastodon and PeerTube send both)."""
    if not value:
        return False
    return value.split(";")[0].strip().lower() in AS2_TYPES
