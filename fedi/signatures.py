"""HTTP Signatures, pure: draft-cavage-12 (what Mastodon and PeerTube send and accept) and RFC 9421.

No network and no clock: ``now`` is always a parameter. Only ``client`` signs; only the inbox and the
authorized-fetch path verify. Verification has two steps because the signer's key is fetched in between:
``parse`` reads the headers (cheap, so junk is refused before any fetch), ``verify`` checks coverage, the
time window, the body digest and finally the signature. Every refusal is a ``SignatureError`` whose
reason says what was wrong.

Coverage we require (docs/receivers.md, Mastodon: signatures, and PeerTube: signatures):
- draft-cavage: ``(request-target)``, ``host``, ``date`` or ``(created)``; and ``digest`` unless GET/HEAD.
- RFC 9421: ``@method``; the target as ``@target-uri``, ``@request-target``, or ``@path`` (plus ``@query``
  when the request has one); the host as ``@target-uri``, ``@authority`` or the ``host`` field; a ``created``
  parameter or a covered ``date``; and ``content-digest`` unless GET/HEAD. ``@method`` + ``@path`` +
  ``@authority`` is thus as good as ``@method`` + ``@target-uri``: together they name the same resource
  (the scheme aside, which the TLS connection fixes anyway).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, mktime_tz, parsedate_tz
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from multidict import CIMultiDict, CIMultiDictProxy

from . import structured_fields as sf
from .errors import SignatureError

CAVAGE = "cavage"
RFC9421 = "rfc9421"

CLOCK_SKEW = 3600
"""Seconds a signature may be dated in the future (Mastodon's CLOCK_SKEW_MARGIN)."""
LABEL = "sig1"
ACTIVITY_JSON = "application/activity+json"

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_CAVAGE_ALGS = frozenset({"rsa-sha256", "hs2019"})  # Mastodon accepts exactly these two
_RFC9421_ALGS = frozenset({"rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519"})
_PSEUDO = frozenset({"(request-target)", "(created)", "(expires)"})
_DERIVED = frozenset({"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"})
_BODILESS = frozenset({"GET", "HEAD"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SET_BY_US = frozenset({"host", "date", "digest", "content-digest", "signature", "signature-input"})

_PKCS1 = padding.PKCS1v15()
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)  # RFC 9421 §3.3.1: salt of 64 bytes
_SHA256 = hashes.SHA256()
_SHA512 = hashes.SHA512()


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What ``parse`` read from a request: enough to fetch the key, then to ``verify``."""

    style: str
    key_id: str
    algorithm: str | None
    """Lowercased as sent; None when absent (cavage: hs2019, RFC 9421: chosen by the key type)."""
    components: tuple[str, ...]
    """Covered headers / components, lowercased, in the sender's order."""
    created: int | None
    expires: int | None
    signature: bytes
    method: str
    target: str
    """Path and query string as received."""
    headers: Mapping[str, str] = field(repr=False, compare=False)
    label: str | None = None
    params_line: str | None = None
    """RFC 9421: the re-serialized signature parameters, the last line of the signature base."""


# ---------------------------------------------------------------- digests and dates


def digest(body: bytes) -> str:
    """The ``Digest`` header, spelled ``SHA-256=`` exactly: PeerTube compares the string case-sensitively."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` header (a structured dictionary with one byte sequence)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def _epoch(now: datetime) -> float:
    if now.tzinfo is None:  # a naive datetime is taken as UTC, never as local time
        now = now.replace(tzinfo=UTC)
    return now.timestamp()


_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_IMF_FIXDATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) ([A-Z][a-z]{2}) ([0-9]{4}) "
                          r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT")


_last_date: tuple[str, float] = ("", 0.0)
"""The last IMF-fixdate read: the requests of one second, from every sender, carry the same Date."""


def _http_date(value: str) -> float:
    """Seconds since the epoch of an HTTP-date; IMF-fixdate fast, the obsolete forms (RFC 9110 §5.6.7) too."""
    global _last_date
    last = _last_date
    if value == last[0]:
        return last[1]
    m = _IMF_FIXDATE.fullmatch(value)
    try:
        if m is not None and m.group(2) in _MONTHS:
            day, mon, year, hh, mm, ss = m.groups()
            seconds = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=UTC).timestamp()
            _last_date = (value, seconds)
            return seconds
        parsed = parsedate_tz(value)
        if parsed is not None:
            if parsed[9] is None:  # no zone given: HTTP dates are always GMT
                parsed = (*parsed[:9], 0)
            return float(mktime_tz(parsed))
    except (ValueError, TypeError, IndexError, OverflowError):
        pass
    raise SignatureError("date malformed")


# ---------------------------------------------------------------- headers


def _fold(headers: Mapping[str, str]) -> Mapping[str, str]:
    """Headers looked up case-insensitively: aiohttp's multidicts as they are, anything else lowercased once."""
    if isinstance(headers, (CIMultiDictProxy, CIMultiDict)):
        return headers
    folded: dict[str, str] = {}
    for name, value in headers.items():
        key, value = name.lower(), value.strip(" \t")
        folded[key] = f"{folded[key]}, {value}" if key in folded else value
    return folded


def _field(headers: Mapping[str, str], name: str) -> str | None:
    """One field's value, trimmed; several field lines joined by ", " (cavage-12 §2.3, RFC 9421 §2.1)."""
    if isinstance(headers, dict):
        return headers.get(name)
    values = headers.getall(name, None)  # type: ignore[attr-defined]
    if not values:
        return None
    if len(values) == 1:
        return values[0].strip(" \t")
    return ", ".join(v.strip(" \t") for v in values)


def _uri(url: str) -> tuple[str, str, str, str]:
    """(scheme, authority, path, query) with the host lowercased and a default port dropped (RFC 9110 §4.2.3)."""
    parts = urlsplit(url)
    port = parts.port  # raises ValueError on a bad port
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if not scheme or not host:
        raise ValueError(f"not an absolute URL: {url!r}")
    if ":" in host:
        host = f"[{host}]"
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return scheme, authority, parts.path or "/", parts.query


def _encode(lines: list[str]) -> bytes:
    try:
        return "\n".join(lines).encode("utf-8", "surrogateescape")  # aiohttp decodes headers this way
    except UnicodeEncodeError:
        raise SignatureError("header value malformed") from None


# ---------------------------------------------------------------- parse


def parse(method: str, target: str, headers: Mapping[str, str]) -> SignedRequest:
    """Read the signature of an incoming request; RFC 9421 when ``Signature-Input`` is present, else cavage.

    ``target`` is the path with its query string as received; ``headers`` a case-insensitive multidict
    (aiohttp) or any mapping.
    """
    h = _fold(headers)
    method = method.upper()
    signature_input = _field(h, "signature-input")
    signature = _field(h, "signature")
    if signature_input is not None:  # Mastodon's rule for telling the two apart
        if signature is None:
            raise SignatureError("signature header missing")
        return _parse_rfc9421(method, target, h, signature_input, signature)
    if signature is None:
        authorization = _field(h, "authorization")
        if authorization is None or authorization[:10].lower() != "signature ":
            raise SignatureError("no signature")
        signature = authorization[10:]  # cavage-12 §3: the same parameters in an Authorization header
    return _parse_cavage(method, target, h, signature)


_CAVAGE_PARAM = re.compile(r'[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(?:"([^"]*)"|([^",\s]*))[ \t]*(,|\Z)')


def _cavage_params(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos = 0
    while True:
        m = _CAVAGE_PARAM.match(value, pos)
        if m is None or m.group(1) in params:
            raise SignatureError("signature header malformed")
        params[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
        if not m.group(4):
            return params
        pos = m.end()


def _seconds(value: Any, name: str) -> int | None:
    """A created/expires value: digits (cavage sends them bare or quoted) or an sf-integer."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    if type(value) is int and value >= 0:
        return value
    raise SignatureError(f"{name} malformed")


def _parse_cavage(method: str, target: str, headers: Mapping[str, str], value: str) -> SignedRequest:
    p = _cavage_params(value)
    key_id = p.get("keyId")
    if not key_id:
        raise SignatureError("keyId missing")
    encoded = p.get("signature")
    if not encoded:
        raise SignatureError("signature missing")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise SignatureError("signature not base64") from None
    algorithm = p["algorithm"].lower() if p.get("algorithm") else None
    if algorithm is not None and algorithm not in _CAVAGE_ALGS:
        raise SignatureError("algorithm not supported")
    names = p.get("headers")
    if names is None:  # Mastodon's defaults: (created) for hs2019, date for rsa-sha256
        components: tuple[str, ...] = ("date",) if algorithm == "rsa-sha256" else ("(created)",)
    else:
        components = tuple(names.lower().split())
        if not components or len(set(components)) != len(components):
            raise SignatureError("headers list malformed")
    created, expires = _seconds(p.get("created"), "created"), _seconds(p.get("expires"), "expires")
    for name in components:
        if name.startswith("(") and name not in _PSEUDO:
            raise SignatureError(f"pseudo-header {name} not supported")
    for name, param in (("(created)", created), ("(expires)", expires)):
        if name in components:
            if algorithm == "rsa-sha256":  # cavage-12 §2.3: only with hs2019
                raise SignatureError(f"{name} not allowed with rsa-sha256")
            if param is None:
                raise SignatureError(f"{name[1:-1]} missing")
    return SignedRequest(CAVAGE, key_id, algorithm, components, created, expires, signature, method, target, headers)


def _parse_rfc9421(method: str, target: str, headers: Mapping[str, str], inputs_value: str,
                   signatures_value: str) -> SignedRequest:
    try:
        inputs = sf.parse_dictionary(inputs_value)
    except sf.SFError:
        raise SignatureError("signature-input malformed") from None
    try:
        signatures = sf.parse_dictionary(signatures_value)
    except sf.SFError:
        raise SignatureError("signature header malformed") from None
    label = next((name for name in inputs if name in signatures), None)  # the first label present in both
    if label is None:
        raise SignatureError("signature label mismatch" if inputs else "no signature")
    items, params = inputs[label]
    signature = signatures[label][0]
    if not isinstance(items, list):
        raise SignatureError("signature-input malformed")
    if not isinstance(signature, bytes) or not signature:
        raise SignatureError("signature header malformed")
    components: list[str] = []
    for name, component_params in items:
        if type(name) is not str or name != name.lower() or name in components:
            raise SignatureError("signature-input malformed")
        if component_params:  # ;sf ;key ;bs ;req ;name: nobody in the fediverse uses them
            raise SignatureError("component parameters not supported")
        if name.startswith("@") and name not in _DERIVED:
            raise SignatureError(f"component {name} not supported")
        components.append(name)
    key_id = params.get("keyid")
    if type(key_id) is not str or not key_id:
        raise SignatureError("keyid missing")
    algorithm = params.get("alg")
    if algorithm is not None and algorithm not in _RFC9421_ALGS:
        raise SignatureError("algorithm not supported")
    created, expires = _seconds(params.get("created"), "created"), _seconds(params.get("expires"), "expires")
    return SignedRequest(RFC9421, key_id, algorithm, tuple(components), created, expires, signature, method,
                         target, headers, label, sf.serialize_inner_list(items, params))


# ---------------------------------------------------------------- signature bases


def signature_base(signed: SignedRequest, url: str | None = None, *, with_query: bool = True) -> bytes:
    """The exact bytes the sender signed, as this receiver rebuilds them (also worth logging on failure).

    ``url`` is the full URI the request was addressed to (RFC 9421 derived components); without it,
    ``https://`` + the Host header + the target. ``with_query=False`` drops the query string from
    cavage's ``(request-target)``, as PeerTube signs it.
    """
    lines: list[str] = []
    if signed.style == CAVAGE:
        for name in signed.components:
            if name == "(request-target)":
                target = signed.target if with_query else signed.target.partition("?")[0]
                value: str | None = f"{signed.method.lower()} {target}"
            elif name == "(created)":
                value = str(signed.created)
            elif name == "(expires)":
                value = str(signed.expires)
            else:
                value = _field(signed.headers, name)
            if value is None:
                raise SignatureError(f"missing signed header {name}")
            lines.append(f"{name}: {value}")
        return _encode(lines)
    uri = None
    for name in signed.components:
        if name.startswith("@"):
            if uri is None:
                uri = _target_uri(signed, url)
            value = _derived(name, signed.method, *uri)
        else:
            value = _field(signed.headers, name)
            if value is None:
                raise SignatureError(f"missing signed header {name}")
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {signed.params_line}')
    return _encode(lines)


def _target_uri(signed: SignedRequest, url: str | None) -> tuple[str, str, str, str]:
    if url is None:
        host = _field(signed.headers, "host")
        if not host:
            raise SignatureError("missing signed header host")
        url = f"https://{host}{signed.target}"
    try:
        return _uri(url)
    except ValueError:
        raise SignatureError("target uri malformed") from None


def _derived(name: str, method: str, scheme: str, authority: str, path: str, query: str) -> str:
    """RFC 9421 §2.2 derived components."""
    if name == "@method":
        return method
    if name == "@target-uri":
        return f"{scheme}://{authority}{path}" + (f"?{query}" if query else "")
    if name == "@authority":
        return authority
    if name == "@scheme":
        return scheme
    if name == "@request-target":
        return path + (f"?{query}" if query else "")
    if name == "@path":
        return path
    return f"?{query}"  # @query: "?" alone when there is none (§2.2.7)


# ---------------------------------------------------------------- verify


def verify(signed: SignedRequest, public_key: PublicKey, body: bytes | None, now: datetime, max_age: int = 3600,
           url: str | None = None) -> None:
    """Raise ``SignatureError`` unless the request is covered, fresh, matches its body and is signed by the key.

    ``public_key`` is an already parsed key (parse PEMs once and cache them). ``url`` is the full URI the
    receiver believes it was addressed at, used by RFC 9421's derived components.
    """
    components, data = signed.components, b"" if body is None else body
    created: float | None
    if signed.style == CAVAGE:
        _cavage_coverage(signed)
        created = signed.created if "(created)" in components else None
        expires = signed.expires if "(expires)" in components else None
    else:
        _rfc9421_coverage(signed, url)
        created, expires = signed.created, signed.expires
    if created is None:  # coverage made sure the Date header is signed
        date = _field(signed.headers, "date")
        if date is None:
            raise SignatureError("missing signed header date")
        created = _http_date(date)
    moment = _epoch(now)
    if created > moment + CLOCK_SKEW:
        raise SignatureError("date in the future")
    if moment - created > max_age:
        raise SignatureError("date too old")
    if expires is not None and moment > expires:
        raise SignatureError("signature expired")
    if "digest" in components and signed.style == CAVAGE:
        value = _field(signed.headers, "digest")
        if value is None:
            raise SignatureError("digest missing")
        _check_digest(value, data)
    if "content-digest" in components:
        value = _field(signed.headers, "content-digest")
        if value is None:
            raise SignatureError("content-digest missing")
        _check_content_digest(value, data)
    check = _checker(signed, public_key)
    if check(signed.signature, signature_base(signed, url)):
        return
    # Mastodon 4.3+ and PeerTube: (request-target) may have been signed without the query string
    if signed.style == CAVAGE and "?" in signed.target and "(request-target)" in components \
            and check(signed.signature, signature_base(signed, with_query=False)):
        return
    raise SignatureError("signature does not verify")


def _cavage_coverage(signed: SignedRequest) -> None:
    c = signed.components
    if "(request-target)" not in c:
        raise SignatureError("request-target not signed")
    if "host" not in c:
        raise SignatureError("host not signed")
    if "date" not in c and "(created)" not in c:
        raise SignatureError("date not signed")
    if signed.method not in _BODILESS and "digest" not in c:
        raise SignatureError("digest not signed")


def _rfc9421_coverage(signed: SignedRequest, url: str | None) -> None:
    c = signed.components
    if "@method" not in c:
        raise SignatureError("method not signed")
    if "@target-uri" not in c and "@request-target" not in c:
        query = _target_uri(signed, url)[3] if url is not None else signed.target.partition("?")[2]
        if "@path" not in c or (query and "@query" not in c):
            raise SignatureError("request-target not signed")
    if "@target-uri" not in c and "@authority" not in c and "host" not in c:
        raise SignatureError("host not signed")
    if signed.created is None and "date" not in c:
        raise SignatureError("created missing")
    if signed.method not in _BODILESS and "content-digest" not in c:
        raise SignatureError("content-digest not signed")


def _check_digest(value: str, body: bytes) -> None:
    """RFC 3230 ``Digest``: a comma list of ``algo=base64``; the algorithm name is case-insensitive."""
    for entry in value.split(","):
        algo, sep, encoded = entry.partition("=")
        if not sep:
            raise SignatureError("digest malformed")
        if algo.strip().lower() == "sha-256":
            break
    else:
        raise SignatureError("digest has no sha-256")
    try:
        expected = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        raise SignatureError("digest not base64") from None
    if len(expected) != 32:
        raise SignatureError("digest wrong length")
    if expected != hashlib.sha256(body).digest():
        raise SignatureError("digest mismatch")


_CONTENT_DIGESTS = (("sha-256", hashlib.sha256, 32), ("sha-512", hashlib.sha512, 64))


def _check_content_digest(value: str, body: bytes) -> None:
    """RFC 9530 ``Content-Digest``: every sha-256/sha-512 entry must match; other algorithms are ignored."""
    try:
        entries = sf.parse_dictionary(value)
    except sf.SFError:
        raise SignatureError("content-digest malformed") from None
    checked = False
    for name, function, size in _CONTENT_DIGESTS:
        if name not in entries:
            continue
        expected = entries[name][0]
        if not isinstance(expected, bytes):
            raise SignatureError("content-digest malformed")
        if len(expected) != size:
            raise SignatureError("content-digest wrong length")
        if expected != function(body).digest():
            raise SignatureError("content-digest mismatch")
        checked = True
    if not checked:
        raise SignatureError("content-digest has no sha-256")


def _checker(signed: SignedRequest, key: PublicKey) -> Any:
    """A function (signature, base) -> bool for the algorithm and key type; refuses a mismatch up front."""
    algorithm = signed.algorithm
    if isinstance(key, rsa.RSAPublicKey):
        schemes: tuple[tuple[padding.AsymmetricPadding, hashes.HashAlgorithm], ...]
        if algorithm == "rsa-pss-sha512":
            schemes = ((_PSS, _SHA512),)
        elif algorithm is None and signed.style == RFC9421:
            # RFC 9421 §3.2: without alg the key decides, but an RSA key does not say whether it is for
            # PKCS#1 v1.5 (Mastodon) or PSS (the RFC's own examples): try the common one first.
            schemes = ((_PKCS1, _SHA256), (_PSS, _SHA512))
        elif algorithm in (None, "rsa-sha256", "hs2019", "rsa-v1_5-sha256"):
            schemes = ((_PKCS1, _SHA256),)  # hs2019 with RSA means PKCS#1 v1.5 for Mastodon
        else:
            raise SignatureError("key type does not match algorithm")

        def check_rsa(signature: bytes, base: bytes) -> bool:
            for scheme, digest_algorithm in schemes:
                try:
                    key.verify(signature, base, scheme, digest_algorithm)
                except InvalidSignature:
                    continue
                return True
            return False

        return check_rsa
    if isinstance(key, ed25519.Ed25519PublicKey):
        if algorithm not in (None, "hs2019", "ed25519"):
            raise SignatureError("key type does not match algorithm")

        def check_ed25519(signature: bytes, base: bytes) -> bool:
            try:
                key.verify(signature, base)
            except InvalidSignature:
                return False
            return True

        return check_ed25519
    raise SignatureError("key type not supported")


# ---------------------------------------------------------------- sign


@dataclass(frozen=True)
class Unsigned:
    """A request ready to sign: every header but the signature's, the bytes the key signs, and how the
    signature is then written. Signing is the one slow step (~400 µs of RSA-2048), so it is apart: the client
    may run it off the event loop (``client.Signer``); ``sign_request`` does all three steps at once."""

    headers: dict[str, str]
    base: bytes
    style: str
    key_id: str
    algorithm: str
    covered: str
    """cavage: the ``headers`` parameter; RFC 9421: the serialized signature parameters."""

    def signed(self, signature: bytes) -> dict[str, str]:
        """The headers to send, with ``signature`` (from ``sign_base``) written in."""
        out = dict(self.headers)
        encoded = base64.b64encode(signature).decode()
        if self.style == CAVAGE:
            out["Signature"] = (f'keyId="{self.key_id}",algorithm="{self.algorithm}",headers="{self.covered}",'
                                f'signature="{encoded}"')
        else:
            out["Signature-Input"] = f"{LABEL}={self.covered}"
            out["Signature"] = f"{LABEL}=:{encoded}:"
        return out


def sign_request(method: str, url: str, headers: Mapping[str, str], body: bytes | None, key_id: str,
                 private_key: PrivateKey, style: str, now: datetime) -> dict[str, str]:
    """Every header to send: ``headers`` plus Host, Date, the body digest, Content-Type and the signature."""
    unsigned = prepare_request(method, url, headers, body, key_id, private_key, style, now)
    return unsigned.signed(sign_base(private_key, unsigned.base))


_KEY_ID = re.compile(r'[\x20\x21\x23-\x5b\x5d-\x7e]+')  # printable ASCII, no quote, no backslash


def prepare_request(method: str, url: str, headers: Mapping[str, str], body: bytes | None, key_id: str,
                    private_key: PrivateKey, style: str, now: datetime) -> Unsigned:
    """The request to sign (see ``sign_request``).

    cavage: ``(request-target) host date digest`` on a request with a body, ``(request-target) host date
    [accept]`` without. RFC 9421: ``("@method" "@target-uri" ["content-digest"])``, labelled ``sig1``.
    A body of None on POST is signed as empty. RSA keys sign rsa-sha256 / rsa-v1_5-sha256,
    Ed25519 keys hs2019 / ed25519.
    """
    method = method.upper()
    scheme, authority, path, query = _uri(url)
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"key id cannot go in a signature header: {key_id!r}")
    out = {name: value for name, value in headers.items() if name.lower() not in _SET_BY_US}
    given = {name.lower(): value for name, value in out.items()}
    out["Host"] = authority
    out["Date"] = formatdate(_epoch(now), usegmt=True)  # IMF-fixdate
    data = None if body is None and method in _BODILESS else (body or b"")
    if data is not None and "content-type" not in given:
        out["Content-Type"] = ACTIVITY_JSON
    target = path + (f"?{query}" if query else "")
    rsa_key = isinstance(private_key, rsa.RSAPrivateKey)
    if style == CAVAGE:
        names, lines = ["(request-target)", "host", "date"], [f"(request-target): {method.lower()} {target}",
                                                              f"host: {authority}", f"date: {out['Date']}"]
        if data is not None:
            out["Digest"] = digest(data)
            names.append("digest")
            lines.append(f"digest: {out['Digest']}")
        elif "accept" in given:
            names.append("accept")
            lines.append(f"accept: {given['accept'].strip()}")
        return Unsigned(out, "\n".join(lines).encode(), CAVAGE, key_id, "rsa-sha256" if rsa_key else "hs2019",
                        " ".join(names))
    if style != RFC9421:
        raise ValueError(f"unknown signature style {style!r}")
    items: list[tuple[Any, dict[str, Any]]] = [("@method", {}), ("@target-uri", {})]
    lines = [f'"@method": {method}', f'"@target-uri": {scheme}://{authority}{target}']
    if data is not None:
        out["Content-Digest"] = content_digest(data)
        items.append(("content-digest", {}))
        lines.append(f'"content-digest": {out["Content-Digest"]}')
    algorithm = "rsa-v1_5-sha256" if rsa_key else "ed25519"
    params_line = sf.serialize_inner_list(items, {"created": int(_epoch(now)), "keyid": key_id, "alg": algorithm})
    lines.append(f'"@signature-params": {params_line}')
    return Unsigned(out, "\n".join(lines).encode(), RFC9421, key_id, algorithm, params_line)


def sign_base(private_key: PrivateKey, base: bytes) -> bytes:
    """The raw signature of a signature base (RSA PKCS#1 v1.5 with SHA-256, or Ed25519)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(base, _PKCS1, _SHA256)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(base)
    raise TypeError(f"cannot sign with a {type(private_key).__name__}")


# ---------------------------------------------------------------- key material


def public_key_from_pem(pem: str) -> PublicKey:
    """An actor's ``publicKeyPem``: SPKI (``BEGIN PUBLIC KEY``) or PKCS#1 (``BEGIN RSA PUBLIC KEY``)."""
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, TypeError, AttributeError, UnsupportedAlgorithm):
        raise SignatureError("key malformed") from None
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise SignatureError("key type not supported")
    return key


_B58 = {c: i for i, c in enumerate("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")}


def public_key_from_multibase(value: str) -> PublicKey:
    """A FEP-521a Multikey ``publicKeyMultibase``: base58btc (``z``) of a multicodec-prefixed key.

    0xed01 (varint ``ed 01``) is an Ed25519 public key; 0x1205 (varint ``85 24``) a PKCS#1 DER RSA key.
    """
    if not isinstance(value, str) or not value.startswith("z") or not 2 <= len(value) <= 2048:
        raise SignatureError("key malformed")
    number = 0
    for char in value[1:]:
        digit = _B58.get(char)
        if digit is None:
            raise SignatureError("key malformed")
        number = number * 58 + digit
    zeros = len(value) - 1 - len(value[1:].lstrip("1"))
    raw = b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    try:
        if raw.startswith(b"\xed\x01"):
            return ed25519.Ed25519PublicKey.from_public_bytes(raw[2:])
        if raw.startswith(b"\x85\x24"):
            key = serialization.load_der_public_key(raw[2:])
            if isinstance(key, rsa.RSAPublicKey):
                return key
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError("key malformed") from None
    raise SignatureError("key type not supported")
