"""signatures: signing shapes, round trips, one refusal reason per tampering, key helpers, parser fuzzing."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from fedi import signatures
from fedi import structured_fields as sf
from fedi.errors import SignatureError
from tests.conftest import fixture_path

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
KEY_ID = "https://archive.example/actor#main-key"
INBOX = "https://mastodon.example/users/alice/inbox"
BODY = b'{"type": "Follow", "id": "https://archive.example/f/1"}'


def _load(name: str) -> dict:
    return json.loads(fixture_path(name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    pem = _load("mastodon/http-sig-test-vectors-draft-cavage.json")["key"]["privateKeyPem"]
    return serialization.load_pem_private_key(pem.encode(), password=None)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    pem = _load("takahe/http-sig-and-ld-sig-test-vectors.json")["key"]["privateKeyPem"]
    return serialization.load_pem_private_key(pem.encode(), password=None)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    pem = _load("rfc9421/appendix-b-test-keys-and-request-signatures.json")["keys"]["test-key-ed25519"]
    return serialization.load_pem_private_key(pem["privateKeyPem"].encode(), password=None)


# ---------------------------------------------------------------- helpers


@dataclass
class Req:
    """A request as the receiver sees it, to be mutated by a tampering step."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    now: datetime = NOW
    target: str = field(default="")

    def __post_init__(self) -> None:
        if not self.target:
            parts = urlsplit(self.url)
            self.target = parts.path + (f"?{parts.query}" if parts.query else "")


def outcome(req: Req, key) -> str:
    """'ok' or the refusal reason, running parse then verify like the inbox does."""
    try:
        signed = signatures.parse(req.method, req.target, req.headers)
        signatures.verify(signed, key, req.body, req.now, url=req.url)
    except SignatureError as exc:
        assert exc.status == 401
        return exc.reason
    return "ok"


def signed_req(style: str, method: str, key, url: str = INBOX, body: bytes | None = BODY,
               headers: dict[str, str] | None = None) -> Req:
    out = signatures.sign_request(method, url, headers or {}, body, KEY_ID, key, style, NOW)
    return Req(method, url, out, body)


def cavage_by_hand(key, names_values: list[tuple[str, str]], algorithm: str | None = "rsa-sha256",
                   extra: str = "", key_id: str = KEY_ID) -> str:
    """A draft-cavage Signature header built here, independently of the module under test."""
    string = "\n".join(f"{n}: {v}" for n, v in names_values).encode()
    raw = key.sign(string) if isinstance(key, ed25519.Ed25519PrivateKey) else \
        key.sign(string, padding.PKCS1v15(), hashes.SHA256())
    alg = f'algorithm="{algorithm}",' if algorithm else ""
    names = " ".join(n for n, _ in names_values)
    return f'keyId="{key_id}",{alg}{extra}headers="{names}",signature="{base64.b64encode(raw).decode()}"'


def rfc9421_by_hand(key, components: list[tuple[str, str]], params: str, label: str = "sig1") -> dict[str, str]:
    """RFC 9421 Signature-Input and Signature built here by the book (§2.5), independently of the module."""
    inner = "(" + " ".join(f'"{n}"' for n, _ in components) + ")" + params
    base = "\n".join([*(f'"{n}": {v}' for n, v in components), f'"@signature-params": {inner}']).encode()
    raw = key.sign(base) if isinstance(key, ed25519.Ed25519PrivateKey) else \
        key.sign(base, padding.PKCS1v15(), hashes.SHA256())
    return {"Signature-Input": f"{label}={inner}", "Signature": f"{label}=:{base64.b64encode(raw).decode()}:"}


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


CREATED = int(NOW.timestamp())
DATE = "Thu, 26 Nov 2026 12:00:00 GMT"


# ---------------------------------------------------------------- digests and signing shapes


def test_digest_headers_exact() -> None:
    """Digest is spelled SHA-256= (PeerTube compares it as a string); Content-Digest is an RFC 9530 dictionary."""
    assert signatures.digest(b"Hello world") == "SHA-256=ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw="
    assert signatures.content_digest(b"Hello world") == "sha-256=:ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=:"
    assert signatures.digest(b'{"hello": "world"}') == "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="


def test_cavage_post_headers_shape(rsa_key) -> None:
    """A cavage POST carries Host, an IMF-fixdate Date, Digest, Content-Type and Mastodon's Signature shape."""
    out = signatures.sign_request("post", INBOX, {"User-Agent": "fedi", "host": "evil", "DATE": "x"}, BODY,
                                  KEY_ID, rsa_key, signatures.CAVAGE, NOW)
    assert out["User-Agent"] == "fedi"
    assert "host" not in out and "DATE" not in out
    assert out["Host"] == "mastodon.example"
    assert out["Date"] == DATE
    assert out["Digest"] == "SHA-256=" + b64sha256(BODY)
    assert out["Content-Type"] == "application/activity+json"
    assert re.fullmatch(r'keyId="https://archive\.example/actor#main-key",algorithm="rsa-sha256",'
                        r'headers="\(request-target\) host date digest",signature="[A-Za-z0-9+/]+={0,2}"',
                        out["Signature"])
    raw = base64.b64decode(out["Signature"].split('signature="')[1][:-1])
    string = f"(request-target): post /users/alice/inbox\nhost: mastodon.example\ndate: {DATE}\n" \
             f"digest: SHA-256={b64sha256(BODY)}"
    rsa_key.public_key().verify(raw, string.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_cavage_get_signs_accept_only_when_given(rsa_key) -> None:
    """A GET signs (request-target) host date, plus accept when an Accept header is sent; no Digest."""
    accept = "application/activity+json, application/ld+json"
    out = signatures.sign_request("GET", "https://pt.example/videos?page=2", {"Accept": accept}, None, KEY_ID,
                                  rsa_key, signatures.CAVAGE, NOW)
    assert 'headers="(request-target) host date accept"' in out["Signature"]
    assert "Digest" not in out and "Content-Type" not in out
    plain = signatures.sign_request("GET", "https://pt.example/videos", {}, None, KEY_ID, rsa_key,
                                    signatures.CAVAGE, NOW)
    assert 'headers="(request-target) host date"' in plain["Signature"]


def test_caller_content_type_is_kept(rsa_key) -> None:
    """A Content-Type given by the caller is sent as is, not replaced."""
    out = signatures.sign_request("POST", INBOX, {"content-type": "application/ld+json"}, BODY, KEY_ID, rsa_key,
                                  signatures.CAVAGE, NOW)
    assert out["content-type"] == "application/ld+json" and "Content-Type" not in out


@pytest.mark.parametrize(("url", "host"), [
    ("https://a.example/x", "a.example"),
    ("https://A.Example:443/x", "a.example"),
    ("http://a.example:80/x", "a.example"),
    ("http://127.0.0.1:8080/inbox", "127.0.0.1:8080"),
    ("https://[::1]:8443/inbox", "[::1]:8443"),
])
def test_host_is_netloc_without_default_port(rsa_key, url: str, host: str) -> None:
    """Host is the URL's host, with the port only when it is not the scheme's default."""
    out = signatures.sign_request("GET", url, {}, None, KEY_ID, rsa_key, signatures.CAVAGE, NOW)
    assert out["Host"] == host


def test_rfc9421_post_headers_shape(rsa_key) -> None:
    """An RFC 9421 POST carries Content-Digest and the exact sig1 Signature-Input serialization."""
    out = signatures.sign_request("POST", INBOX + "?a=1", {}, BODY, KEY_ID, rsa_key, signatures.RFC9421, NOW)
    assert out["Content-Digest"] == f"sha-256=:{b64sha256(BODY)}:"
    assert out["Signature-Input"] == ('sig1=("@method" "@target-uri" "content-digest");'
                                      f'created={CREATED};keyid="{KEY_ID}";alg="rsa-v1_5-sha256"')
    assert re.fullmatch(r"sig1=:[A-Za-z0-9+/]+={0,2}:", out["Signature"])
    assert "Digest" not in out and out["Date"] == DATE and out["Host"] == "mastodon.example"
    base = (f'"@method": POST\n"@target-uri": {INBOX}?a=1\n"content-digest": {out["Content-Digest"]}\n'
            f'"@signature-params": {out["Signature-Input"][5:]}')
    raw = base64.b64decode(out["Signature"][6:-1])
    rsa_key.public_key().verify(raw, base.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_rfc9421_get_covers_method_and_target(ed_key) -> None:
    """An RFC 9421 GET covers ("@method" "@target-uri"); an Ed25519 key signs alg="ed25519"."""
    out = signatures.sign_request("GET", "https://a.example/actor", {}, None, KEY_ID, ed_key, signatures.RFC9421,
                                  NOW)
    assert out["Signature-Input"] == f'sig1=("@method" "@target-uri");created={CREATED};keyid="{KEY_ID}";alg="ed25519"'
    assert "Content-Digest" not in out


def test_sign_refuses_bad_input(rsa_key) -> None:
    """A key id that cannot be quoted, an unknown style or a relative URL are programming errors."""
    with pytest.raises(ValueError):
        signatures.sign_request("GET", INBOX, {}, None, 'a"b', rsa_key, signatures.CAVAGE, NOW)
    with pytest.raises(ValueError):
        signatures.sign_request("GET", INBOX, {}, None, KEY_ID, rsa_key, "jws", NOW)
    with pytest.raises(ValueError):
        signatures.sign_request("GET", "/inbox", {}, None, KEY_ID, rsa_key, signatures.CAVAGE, NOW)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("style", [signatures.CAVAGE, signatures.RFC9421])
@pytest.mark.parametrize(("method", "url", "body"), [
    ("POST", INBOX, BODY),
    ("POST", "http://127.0.0.1:8080/inbox?x=1&y=%20", b""),
    ("GET", "https://a.example/users/archive/outbox?page=true", None),
])
@pytest.mark.parametrize("which", ["rsa", "ed25519"])
def test_round_trip(style: str, method: str, url: str, body: bytes | None, which: str, rsa_key, ed_key) -> None:
    """What we sign, we verify: both styles, POST and GET, RSA and Ed25519, with and without a port or query."""
    key = rsa_key if which == "rsa" else ed_key
    req = signed_req(style, method, key, url, body, {"Accept": "application/activity+json"})
    signed = signatures.parse(req.method, req.target, req.headers)
    assert signed.style == style and signed.key_id == KEY_ID
    signatures.verify(signed, key.public_key(), body, NOW, url=url)


def test_parse_fields_cavage(rsa_key) -> None:
    """parse exposes style, keyId, algorithm, components in order, and the signature bytes."""
    req = signed_req(signatures.CAVAGE, "POST", rsa_key)
    s = signatures.parse("POST", req.target, req.headers)
    assert (s.style, s.key_id, s.algorithm) == ("cavage", KEY_ID, "rsa-sha256")
    assert s.components == ("(request-target)", "host", "date", "digest")
    assert (s.created, s.expires, s.label) == (None, None, None)
    assert len(s.signature) == 256


def test_parse_fields_rfc9421(rsa_key) -> None:
    """parse reads label, keyid, alg, created and the components of an RFC 9421 signature."""
    req = signed_req(signatures.RFC9421, "POST", rsa_key)
    s = signatures.parse("POST", req.target, req.headers)
    assert (s.style, s.key_id, s.algorithm, s.label) == ("rfc9421", KEY_ID, "rsa-v1_5-sha256", "sig1")
    assert s.components == ("@method", "@target-uri", "content-digest")
    assert s.created == CREATED and s.expires is None


def test_multidict_headers_and_repeated_lines(rsa_key) -> None:
    """aiohttp's CIMultiDictProxy works, and repeated field lines are joined by ", " before signing-string use."""
    accept = [("Accept", "application/activity+json"), ("accept", " application/ld+json ")]
    names = [("(request-target)", "get /actor"), ("host", "a.example"), ("date", DATE),
             ("accept", "application/activity+json, application/ld+json")]
    headers = CIMultiDict([("Host", "a.example"), ("Date", DATE), *accept,
                           ("Signature", cavage_by_hand(rsa_key, names))])
    req = Req("GET", "https://a.example/actor", CIMultiDictProxy(headers), None)  # type: ignore[arg-type]
    assert outcome(req, rsa_key.public_key()) == "ok"


# ---------------------------------------------------------------- tampering: each its own reason


def _set(name: str, value: str):
    def step(r: Req) -> None:
        r.headers[name] = value
    return step


def _drop(name: str):
    def step(r: Req) -> None:
        del r.headers[name]
    return step


def _sub(name: str, old: str, new: str):
    def step(r: Req) -> None:
        assert old in r.headers[name]
        r.headers[name] = r.headers[name].replace(old, new, 1)
    return step


def _flip_signature(r: Req) -> None:
    value = r.headers["Signature"]
    m = re.search(r'(?:signature="|sig1=:)([A-Za-z0-9+/=]+)', value)
    raw = bytearray(base64.b64decode(m.group(1)))
    raw[10] ^= 1
    r.headers["Signature"] = value[:m.start(1)] + base64.b64encode(bytes(raw)).decode() + value[m.end(1):]


def _other_body(r: Req) -> None:
    r.body = BODY.replace(b"Follow", b"Delete")


def _other_body_and_digest(r: Req) -> None:
    _other_body(r)
    r.headers["Digest"] = signatures.digest(r.body)


CAVAGE_POST_TAMPERING = [
    ("body", _other_body, "digest mismatch"),
    ("body and Digest", _other_body_and_digest, "signature does not verify"),
    ("Date by a minute", _set("Date", "Thu, 26 Nov 2026 12:01:00 GMT"), "signature does not verify"),
    ("Date two hours back", _set("Date", "Thu, 26 Nov 2026 10:00:00 GMT"), "date too old"),
    ("Date two hours ahead", _set("Date", "Thu, 26 Nov 2026 14:00:00 GMT"), "date in the future"),
    ("Date garbage", _set("Date", "yesterday"), "date malformed"),
    ("Host", _set("Host", "other.example"), "signature does not verify"),
    ("path", lambda r: setattr(r, "target", "/users/bob/inbox"), "signature does not verify"),
    ("method", lambda r: setattr(r, "method", "PUT"), "signature does not verify"),
    ("algorithm", _sub("Signature", '"rsa-sha256"', '"rsa-sha512"'), "algorithm not supported"),
    ("signature bytes", _flip_signature, "signature does not verify"),
    ("signature not base64", _sub("Signature", 'signature="', 'signature="*'), "signature not base64"),
    ("keyId dropped", _sub("Signature", f'keyId="{KEY_ID}",', ""), "keyId missing"),
    ("signature dropped", lambda r: r.headers.update(Signature=r.headers["Signature"].split(",signature=")[0]),
     "signature missing"),
    ("Signature garbage", _set("Signature", "keyId=a b"), "signature header malformed"),
    ("Signature removed", _drop("Signature"), "no signature"),
    ("Digest removed", _drop("Digest"), "digest missing"),
    ("Digest not base64", _set("Digest", "SHA-256=%%%%"), "digest not base64"),
    ("Digest short", _set("Digest", "SHA-256=AAAA"), "digest wrong length"),
    ("Digest other algorithm", _set("Digest", "SHA-512=" + "A" * 86 + "=="), "digest has no sha-256"),
    ("Digest garbage", _set("Digest", "nonsense"), "digest malformed"),
    ("verified later", lambda r: setattr(r, "now", NOW + timedelta(hours=2)), "date too old"),
    ("verified earlier", lambda r: setattr(r, "now", NOW - timedelta(hours=2)), "date in the future"),
]


@pytest.mark.parametrize(("what", "step", "reason"), CAVAGE_POST_TAMPERING, ids=[t[0] for t in CAVAGE_POST_TAMPERING])
def test_cavage_post_tampering(rsa_key, what: str, step, reason: str) -> None:
    """Tampering with any part of a signed cavage POST is refused with its own reason."""
    req = signed_req(signatures.CAVAGE, "POST", rsa_key)
    assert outcome(req, rsa_key.public_key()) == "ok"
    step(req)
    assert outcome(req, rsa_key.public_key()) == reason


def test_cavage_other_key_does_not_verify(rsa_key, other_rsa_key, ed_key) -> None:
    """A keyId pointing at another actor's key (RSA or Ed25519) does not verify."""
    req = signed_req(signatures.CAVAGE, "POST", rsa_key)
    assert outcome(req, other_rsa_key.public_key()) == "signature does not verify"
    assert outcome(req, ed_key.public_key()) == "key type does not match algorithm"


def test_cavage_algorithm_is_not_covered(rsa_key) -> None:
    """cavage does not sign its algorithm; rsa-sha256 relabelled hs2019 is the same RSA scheme for Mastodon."""
    req = signed_req(signatures.CAVAGE, "POST", rsa_key)
    _sub("Signature", '"rsa-sha256"', '"hs2019"')(req)
    assert outcome(req, rsa_key.public_key()) == "ok"
    _sub("Signature", 'algorithm="hs2019",', "")(req)
    assert outcome(req, rsa_key.public_key()) == "ok"


def test_cavage_get_accept_tampering(rsa_key) -> None:
    """A signed Accept header that changes in transit makes the GET fail."""
    req = signed_req(signatures.CAVAGE, "GET", rsa_key, "https://a.example/actor", None, {"Accept": "a/b"})
    assert outcome(req, rsa_key.public_key()) == "ok"
    req.headers["Accept"] = "text/html"
    assert outcome(req, rsa_key.public_key()) == "signature does not verify"
    del req.headers["Accept"]
    assert outcome(req, rsa_key.public_key()) == "missing signed header accept"


def _relabel(r: Req) -> None:
    r.headers["Signature"] = "sig2" + r.headers["Signature"][4:]


RFC9421_POST_TAMPERING = [
    ("body", _other_body, "content-digest mismatch"),
    ("Content-Digest removed", _drop("Content-Digest"), "content-digest missing"),
    ("Content-Digest short", _set("Content-Digest", "sha-256=:AAAA:"), "content-digest wrong length"),
    ("Content-Digest token", _set("Content-Digest", "sha-256=abc"), "content-digest malformed"),
    ("Content-Digest garbage", _set("Content-Digest", "(((("), "content-digest malformed"),
    ("Content-Digest other algorithm", _set("Content-Digest", "md5=:AAAA:"), "content-digest has no sha-256"),
    ("url path", lambda r: setattr(r, "url", "https://mastodon.example/users/bob/inbox"),
     "signature does not verify"),
    ("url host", lambda r: setattr(r, "url", "https://evil.example/users/alice/inbox"),
     "signature does not verify"),
    ("url scheme", lambda r: setattr(r, "url", "http://mastodon.example/users/alice/inbox"),
     "signature does not verify"),
    ("method", lambda r: setattr(r, "method", "PUT"), "signature does not verify"),
    ("keyid", _sub("Signature-Input", 'keyid="https://archive', 'keyid="https://evil'), "signature does not verify"),
    ("alg to pss", _sub("Signature-Input", "rsa-v1_5-sha256", "rsa-pss-sha512"), "signature does not verify"),
    ("alg to hmac", _sub("Signature-Input", "rsa-v1_5-sha256", "hmac-sha256"), "algorithm not supported"),
    ("created", _sub("Signature-Input", f"created={CREATED}", f"created={CREATED - 1}"), "signature does not verify"),
    ("created not a number", _sub("Signature-Input", f"created={CREATED}", 'created="x"'), "created malformed"),
    ("keyid dropped", _sub("Signature-Input", f';keyid="{KEY_ID}"', ""), "keyid missing"),
    ("signature bytes", _flip_signature, "signature does not verify"),
    ("label", _relabel, "signature label mismatch"),
    ("Signature removed", _drop("Signature"), "signature header missing"),
    ("Signature-Input garbage", _set("Signature-Input", "sig1=(@method)"), "signature-input malformed"),
    ("Signature garbage", _set("Signature", "sig1=:abc"), "signature header malformed"),
    ("Signature not bytes", _set("Signature", "sig1=abc"), "signature header malformed"),
    ("verified later", lambda r: setattr(r, "now", NOW + timedelta(hours=2)), "date too old"),
    ("verified earlier", lambda r: setattr(r, "now", NOW - timedelta(hours=2)), "date in the future"),
]


@pytest.mark.parametrize(("what", "step", "reason"), RFC9421_POST_TAMPERING,
                         ids=[t[0] for t in RFC9421_POST_TAMPERING])
def test_rfc9421_post_tampering(rsa_key, what: str, step, reason: str) -> None:
    """Tampering with any part of a signed RFC 9421 POST is refused with its own reason."""
    req = signed_req(signatures.RFC9421, "POST", rsa_key)
    assert outcome(req, rsa_key.public_key()) == "ok"
    step(req)
    assert outcome(req, rsa_key.public_key()) == reason


def test_rfc9421_key_and_algorithm_must_agree(rsa_key, ed_key) -> None:
    """An ed25519 signature checked against an RSA key, or the reverse, is refused up front."""
    req = signed_req(signatures.RFC9421, "POST", ed_key)
    assert outcome(req, rsa_key.public_key()) == "key type does not match algorithm"
    req = signed_req(signatures.RFC9421, "POST", rsa_key)
    assert outcome(req, ed_key.public_key()) == "key type does not match algorithm"


def test_rfc9421_get_query_tampering(rsa_key) -> None:
    """The query string is part of @target-uri: changing it breaks the signature."""
    req = signed_req(signatures.RFC9421, "GET", rsa_key, "https://a.example/outbox?page=1", None)
    assert outcome(req, rsa_key.public_key()) == "ok"
    req.url, req.target = "https://a.example/outbox?page=2", "/outbox?page=2"
    assert outcome(req, rsa_key.public_key()) == "signature does not verify"


def test_rfc9421_url_defaults_to_host_header(rsa_key) -> None:
    """Without a url, the target URI is https:// + Host + the received target."""
    req = signed_req(signatures.RFC9421, "POST", rsa_key)
    signed = signatures.parse("POST", req.target, req.headers)
    signatures.verify(signed, rsa_key.public_key(), BODY, NOW)
    del req.headers["Host"]
    with pytest.raises(SignatureError, match="missing signed header host"):
        signatures.verify(signatures.parse("POST", req.target, req.headers), rsa_key.public_key(), BODY, NOW)


# ---------------------------------------------------------------- draft-cavage coverage and parameters


def _cavage_req(rsa_key, names: list[str], method: str = "POST", algorithm: str | None = "rsa-sha256",
                extra: str = "", body: bytes = BODY, headers: dict[str, str] | None = None,
                created: int = CREATED, expires: int | None = None) -> Req:
    base = {"Host": "mastodon.example", "Date": DATE, "Digest": signatures.digest(body),
            "Content-Type": "application/activity+json", **(headers or {})}
    values = {"(request-target)": f"{method.lower()} /users/alice/inbox", "(created)": str(created),
              "(expires)": str(expires), "(foo)": "bar"}
    pairs = [(n, values[n] if n in values else base[next(k for k in base if k.lower() == n)]) for n in names]
    base["Signature"] = cavage_by_hand(rsa_key, pairs, algorithm, extra)
    return Req(method, INBOX, base, body)


@pytest.mark.parametrize(("names", "method", "reason"), [
    (["host", "date", "digest"], "POST", "request-target not signed"),
    (["(request-target)", "date", "digest"], "POST", "host not signed"),
    (["(request-target)", "host", "digest"], "POST", "date not signed"),
    (["(request-target)", "host", "date"], "POST", "digest not signed"),
    (["(request-target)", "host", "date"], "GET", "ok"),
    (["(request-target)", "host", "date", "digest", "content-type"], "POST", "ok"),
    (["date", "digest", "host", "(request-target)"], "POST", "ok"),
])
def test_cavage_coverage(rsa_key, names: list[str], method: str, reason: str) -> None:
    """POST must sign target, host, date and digest; GET target, host and date; in any order."""
    assert outcome(_cavage_req(rsa_key, names, method), rsa_key.public_key()) == reason


def test_cavage_listed_header_must_exist(rsa_key) -> None:
    """A header named in the list but absent from the request is refused by name."""
    req = _cavage_req(rsa_key, ["(request-target)", "host", "date", "digest", "content-type"])
    del req.headers["Content-Type"]
    assert outcome(req, rsa_key.public_key()) == "missing signed header content-type"


def test_cavage_hs2019_created_expires(rsa_key) -> None:
    """hs2019 may sign (created)/(expires) instead of a Date header; the window then uses created."""
    names = ["(request-target)", "(created)", "(expires)", "host", "digest"]
    extra = f'created={CREATED},expires="{CREATED + 300}",'
    req = _cavage_req(rsa_key, names, algorithm="hs2019", extra=extra, expires=CREATED + 300)
    del req.headers["Date"]
    assert outcome(req, rsa_key.public_key()) == "ok"
    req.now = NOW + timedelta(seconds=301)
    assert outcome(req, rsa_key.public_key()) == "signature expired"
    req.now = NOW - timedelta(hours=2)
    assert outcome(req, rsa_key.public_key()) == "date in the future"


@pytest.mark.parametrize(("names", "algorithm", "extra", "reason"), [
    (["(request-target)", "(created)", "host", "digest"], "rsa-sha256", f"created={CREATED},",
     "(created) not allowed with rsa-sha256"),
    (["(request-target)", "(created)", "host", "digest"], "hs2019", "", "created missing"),
    (["(request-target)", "(expires)", "host", "date", "digest"], None, "", "expires missing"),
    (["(request-target)", "(created)", "host", "digest"], "hs2019", "created=12.5,", "created malformed"),
    (["(request-target)", "(foo)", "host", "date", "digest"], "hs2019", "", "pseudo-header (foo) not supported"),
    (["(request-target)", "host", "host", "date", "digest"], "hs2019", "", "headers list malformed"),
])
def test_cavage_pseudo_headers(rsa_key, names, algorithm, extra, reason) -> None:
    """(created)/(expires) need hs2019 and their parameter; unknown pseudo-headers and repeats are refused."""
    req = _cavage_req(rsa_key, names, algorithm=algorithm, extra=extra, created=CREATED, expires=CREATED)
    assert outcome(req, rsa_key.public_key()) == reason


def test_cavage_default_header_lists() -> None:
    """Without headers=, rsa-sha256 signs date and hs2019 (or no algorithm) signs (created), as Mastodon does."""
    base = 'keyId="k",signature="AAAA"'
    assert signatures.parse("GET", "/", {"Signature": base + ',algorithm="rsa-sha256"'}).components == ("date",)
    assert signatures.parse("GET", "/", {"Signature": base + ",created=1"}).components == ("(created)",)


def test_cavage_in_authorization_header(rsa_key) -> None:
    """cavage parameters in 'Authorization: Signature …' are read like a Signature header."""
    req = _cavage_req(rsa_key, ["(request-target)", "host", "date", "digest"])
    req.headers["Authorization"] = "Signature " + req.headers.pop("Signature")
    assert outcome(req, rsa_key.public_key()) == "ok"
    req.headers["Authorization"] = "Bearer abc"
    assert outcome(req, rsa_key.public_key()) == "no signature"


@pytest.mark.parametrize("value", [
    "sha-256={b}", "SHA-256={b}", "Sha-256={b}", "SHA-512=xyz, SHA-256={b}", "SHA-256 = {b}",
])
def test_digest_variants_accepted(rsa_key, value: str) -> None:
    """The Digest algorithm name is case-insensitive and may sit in a list with others."""
    digest_value = value.format(b=b64sha256(BODY))
    req = _cavage_req(rsa_key, ["(request-target)", "host", "date", "digest"], headers={"Digest": digest_value})
    assert outcome(req, rsa_key.public_key()) == "ok"


# ---------------------------------------------------------------- RFC 9421 coverage


def _rfc_req(key, components: list[str], params: str | None = None, url: str = INBOX, method: str = "POST",
             body: bytes | None = BODY, headers: dict[str, str] | None = None) -> Req:
    parts = urlsplit(url)
    base = {"Host": parts.netloc, "Date": DATE, **(headers or {})}
    if body is not None:
        base.setdefault("Content-Digest", signatures.content_digest(body))
    query = f"?{parts.query}" if parts.query else ""
    derived = {"@method": method, "@target-uri": url, "@authority": parts.netloc, "@path": parts.path,
               "@query": query or "?", "@request-target": parts.path + query, "@scheme": parts.scheme}
    pairs = [(n, derived[n] if n in derived else base[next(k for k in base if k.lower() == n)]) for n in components]
    params = f';created={CREATED};keyid="{KEY_ID}"' if params is None else params
    base.update(rfc9421_by_hand(key, pairs, params))
    return Req(method, url, base, body)


@pytest.mark.parametrize(("components", "url", "reason"), [
    (["@method", "@target-uri", "content-digest"], INBOX, "ok"),
    (["@target-uri", "content-digest"], INBOX, "method not signed"),
    (["@method", "@authority", "content-digest"], INBOX, "request-target not signed"),
    (["@method", "@path", "content-digest"], INBOX, "host not signed"),
    (["@method", "@path", "@authority", "content-digest"], INBOX, "ok"),
    (["@method", "@path", "@authority", "content-digest"], INBOX + "?a=b", "request-target not signed"),
    (["@method", "@path", "@query", "@authority", "content-digest"], INBOX + "?a=b", "ok"),
    (["@method", "@request-target", "host", "content-digest"], INBOX + "?a=b", "ok"),
    (["@method", "@scheme", "@request-target", "@authority", "content-digest", "date"], INBOX, "ok"),
    (["@method", "@target-uri"], INBOX, "content-digest not signed"),
    (["@method", "@target-uri", "content-type", "content-digest"], INBOX, "missing signed header content-type"),
])
def test_rfc9421_coverage(rsa_key, components: list[str], url: str, reason: str) -> None:
    """RFC 9421 needs @method, the target (@target-uri or path+query), the host and, on POST, content-digest."""
    headers = {"Content-Type": "x/y"} if "content-type" in components else {}
    req = _rfc_req(rsa_key, components, url=url, headers=headers)
    if reason.startswith("missing signed header"):
        del req.headers["Content-Type"]
    assert outcome(req, rsa_key.public_key()) == reason


def test_rfc9421_created_or_date(rsa_key) -> None:
    """Without created, a covered Date header dates the signature; with neither the request is refused."""
    components = ["@method", "@target-uri", "content-digest"]
    req = _rfc_req(rsa_key, [*components, "date"], params=f';keyid="{KEY_ID}"')
    assert outcome(req, rsa_key.public_key()) == "ok"
    req = _rfc_req(rsa_key, components, params=f';keyid="{KEY_ID}"')
    assert outcome(req, rsa_key.public_key()) == "created missing"


def test_rfc9421_expires(rsa_key) -> None:
    """An expires parameter in the past refuses the signature even inside max_age."""
    req = _rfc_req(rsa_key, ["@method", "@target-uri", "content-digest"],
                   params=f';created={CREATED};expires={CREATED + 60};keyid="{KEY_ID}"')
    assert outcome(req, rsa_key.public_key()) == "ok"
    req.now = NOW + timedelta(seconds=61)
    assert outcome(req, rsa_key.public_key()) == "signature expired"


def test_rfc9421_get(ed_key) -> None:
    """A GET needs no content-digest; Ed25519 without alg is chosen by the key type."""
    req = _rfc_req(ed_key, ["@method", "@target-uri"], method="GET", body=None, url="https://a.example/actor")
    assert outcome(req, ed_key.public_key()) == "ok"


@pytest.mark.parametrize(("signature_input", "reason"), [
    ('sig1=("@method" "content-digest";sf);created=1;keyid="k"', "component parameters not supported"),
    ('sig1=("@method" "@query-param");created=1;keyid="k"', "component @query-param not supported"),
    ('sig1=("@method" "@method");created=1;keyid="k"', "signature-input malformed"),
    ('sig1=("@method" "Host");created=1;keyid="k"', "signature-input malformed"),
    ('sig1=("@method" host);created=1;keyid="k"', "signature-input malformed"),
    ('sig1=("@method");created=1;keyid=k', "keyid missing"),
    ('sig1=("@method");created=-1;keyid="k"', "created malformed"),
    ('sig1=("@method");created=1;keyid="k";alg="rsa-sha256"', "algorithm not supported"),
    ('sig1=("@method");created=1;created=2;keyid="k"', "signature-input malformed"),
    ('sig1="x";created=1;keyid="k"', "signature-input malformed"),
    ('sig1=("@method");keyid="k", sig1=("@path");keyid="k"', "signature-input malformed"),
    ("", "no signature"),
])
def test_rfc9421_parse_refusals(signature_input: str, reason: str) -> None:
    """Malformed or unsupported Signature-Input members are refused at parse time, before any key fetch."""
    with pytest.raises(SignatureError) as info:
        signatures.parse("POST", "/inbox", {"Signature-Input": signature_input, "Signature": "sig1=:AAAA:"})
    assert info.value.reason == reason


def test_rfc9421_first_label_in_both_is_used(rsa_key) -> None:
    """With several labels, the first Signature-Input label that also has a Signature is verified."""
    req = _rfc_req(rsa_key, ["@method", "@target-uri", "content-digest"])
    req.headers["Signature-Input"] = 'zzz=("@method");keyid="x", ' + req.headers["Signature-Input"]
    req.headers["Signature"] = req.headers["Signature"] + ", other=:AAAA:"
    signed = signatures.parse(req.method, req.target, req.headers)
    assert signed.label == "sig1"
    assert outcome(req, rsa_key.public_key()) == "ok"


# ---------------------------------------------------------------- key material


def test_public_key_from_pem_forms(rsa_key, ed_key) -> None:
    """SPKI and PKCS#1 RSA PEMs and an Ed25519 SPKI PEM load; CRLF and surrounding blanks are tolerated."""
    public = rsa_key.public_key()
    spki = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    for pem in (spki, pkcs1, "\n  " + spki.replace("\n", "\r\n") + "\n"):
        assert signatures.public_key_from_pem(pem).public_numbers() == public.public_numbers()
    ed_pem = ed_key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert isinstance(signatures.public_key_from_pem(ed_pem), ed25519.Ed25519PublicKey)


@pytest.mark.parametrize("pem", ["", "garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
                                 "-----BEGIN PUBLIC KEY-----\né\n-----END PUBLIC KEY-----", None])
def test_public_key_from_pem_garbage(pem) -> None:
    """Anything that is not a PEM public key is 'key malformed'."""
    with pytest.raises(SignatureError, match="^key malformed$"):
        signatures.public_key_from_pem(pem)


def test_public_key_from_pem_other_type() -> None:
    """A well-formed key of a type we do not verify with (EC) is refused by type."""
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(SignatureError, match="key type not supported"):
        signatures.public_key_from_pem(pem)


_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, rest = divmod(number, 58)
        out = _ALPHABET[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def test_public_key_from_multibase_fixture() -> None:
    """Mitra's Multikeys decode: an Ed25519 key (0xed01) and an RSA key (0x1205)."""
    actor = _load("mitra/person-actor-multikey.json")
    keys = {m["id"]: signatures.public_key_from_multibase(m["publicKeyMultibase"]) for m in actor["assertionMethod"]}
    assert isinstance(keys["https://wizard.casa/users/hongminhee#ed25519-key"], ed25519.Ed25519PublicKey)
    rsa_multi = keys["https://wizard.casa/users/hongminhee#main-key"]
    assert isinstance(rsa_multi, rsa.RSAPublicKey)
    rsa_pem = signatures.public_key_from_pem(actor["publicKey"]["publicKeyPem"])
    assert rsa_multi.public_numbers() == rsa_pem.public_numbers()


def test_public_key_from_multibase_round_trip(ed_key, rsa_key) -> None:
    """Our own Ed25519 and RSA keys, multibase-encoded, decode to the same keys."""
    raw = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    decoded = signatures.public_key_from_multibase("z" + _b58(b"\xed\x01" + raw))
    assert decoded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    der = rsa_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    decoded_rsa = signatures.public_key_from_multibase("z" + _b58(b"\x85\x24" + der))
    assert decoded_rsa.public_numbers() == rsa_key.public_key().public_numbers()


@pytest.mark.parametrize(("value", "reason"), [
    ("", "key malformed"), ("z", "key malformed"), ("u" + "A" * 20, "key malformed"), ("z0OIl", "key malformed"),
    ("z" + _b58(b"\xed\x01" + b"\x01" * 31), "key malformed"),
    ("z" + _b58(b"\x85\x24" + b"\x30\x03"), "key malformed"),
    ("z" + _b58(b"\xe7\x01" + b"\x02" * 33), "key type not supported"),
    ("z" + "2" * 3000, "key malformed"),
])
def test_public_key_from_multibase_garbage(value: str, reason: str) -> None:
    """Bad base58, wrong lengths and unknown multicodec prefixes are refused with a reason."""
    with pytest.raises(SignatureError) as info:
        signatures.public_key_from_multibase(value)
    assert info.value.reason == reason


# ---------------------------------------------------------------- fuzzing the parsers

SF_ALPHABET = 'sig1=():;"@-, abcdekyz0123456789?*\\/+.:\t'
CAVAGE_ALPHABET = 'keyIdalgorithmheaderssignaturecreatedexpires="(), -0123456789+/A'
texts = st.one_of(st.text(), st.text(alphabet=SF_ALPHABET), st.text(alphabet=CAVAGE_ALPHABET))


def _only_signature_errors(fn, *args) -> None:
    with contextlib.suppress(SignatureError):
        fn(*args)


@settings(max_examples=300, deadline=None)
@given(texts, texts)
def test_parse_never_raises_anything_else(a: str, b: str) -> None:
    """parse on arbitrary Signature / Signature-Input / Authorization text raises only SignatureError."""
    for headers in ({"Signature": a}, {"Signature-Input": a, "Signature": b}, {"Authorization": "Signature " + a},
                    {"Signature-Input": "sig1=" + a, "Signature": "sig1=:" + b + ":"},
                    {"Signature": f'keyId="k",headers="{a}",signature="{b}"'}):
        _only_signature_errors(signatures.parse, "POST", "/inbox?x", headers)


@settings(max_examples=300, deadline=None)
@given(texts, st.binary(max_size=20))
def test_digest_checks_never_raise_anything_else(value: str, body: bytes) -> None:
    """Digest and Content-Digest checks on arbitrary text raise only SignatureError."""
    _only_signature_errors(signatures._check_digest, value, body)
    _only_signature_errors(signatures._check_content_digest, value, body)
    _only_signature_errors(signatures._http_date, value)


@pytest.fixture(scope="module")
def signed_once(rsa_key) -> list[tuple[str, Req]]:
    """One signed POST per style, and the name of its digest header."""
    return [(name, signed_req(style, "POST", rsa_key))
            for style, name in ((signatures.CAVAGE, "Digest"), (signatures.RFC9421, "Content-Digest"))]


@settings(max_examples=100, deadline=None)
@given(value=texts)
def test_verify_with_arbitrary_digest_header_refuses(rsa_key, signed_once, value: str) -> None:
    """A signed request whose Digest or Content-Digest is replaced by arbitrary text is refused, never crashed."""
    for name, req in signed_once:
        signed = signatures.parse(req.method, req.target, {**req.headers, name: value})
        with pytest.raises(SignatureError):
            signatures.verify(signed, rsa_key.public_key(), req.body, NOW, url=req.url)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_key_helpers_never_raise_anything_else(value: str) -> None:
    """The key helpers on arbitrary text raise only SignatureError."""
    _only_signature_errors(signatures.public_key_from_pem, value)
    _only_signature_errors(signatures.public_key_from_multibase, value)
    _only_signature_errors(signatures.public_key_from_multibase, "z" + value)


sf_keys = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,6}", fullmatch=True)
sf_bare = st.one_of(
    st.integers(min_value=-999_999_999_999_999, max_value=999_999_999_999_999),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
    st.binary(max_size=20),
    st.booleans(),
    st.from_regex(r"[A-Za-z*][A-Za-z0-9:/*.-]{0,8}", fullmatch=True).map(sf.Token),
    st.integers(min_value=-999_999_999_999, max_value=999_999_999_999).map(lambda i: i / 1000),
)
sf_params = st.dictionaries(sf_keys, sf_bare, max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(sf_keys, st.tuples(st.lists(st.tuples(sf_bare, sf_params), max_size=4), sf_params),
                       min_size=1, max_size=3))
def test_structured_dictionary_round_trip(members) -> None:
    """Serializing inner lists with parameters and parsing them back gives the same values and types."""
    text = ", ".join(f"{k}={sf.serialize_inner_list(items, params)}" for k, (items, params) in members.items())
    parsed = sf.parse_dictionary(text)
    assert list(parsed) == list(members)
    for key, (items, params) in members.items():
        assert sf.serialize_inner_list(*parsed[key]) == sf.serialize_inner_list(items, params)
        assert [type(v) for v, _ in parsed[key][0]] == [type(v) for v, _ in items]
