"""signatures against the outside world: real and published vectors, draft-cavage-12 Appendix C,
RFC 9421 Appendix B, Mastodon- and PeerTube-shaped requests, and the independent pyauth implementation."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, MappingKeyResolver, algorithms
from http_message_signatures import InvalidSignature as PyauthInvalidSignature

from fedi import signatures
from fedi.errors import SignatureError
from tests.conftest import FIXTURES, HAVE_FIXTURES, NO_FIXTURES

if not HAVE_FIXTURES:  # every group of vectors below is read from the fixture documents
    pytest.skip(NO_FIXTURES, allow_module_level=True)


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def outcome(method: str, url: str, headers: dict[str, str], body: bytes | None, key, now: datetime,
            max_age: int = 3600) -> str:
    """'ok' or the refusal reason, running parse then verify like the inbox does."""
    try:
        signed = signatures.parse(method, _target(url), headers)
        signatures.verify(signed, key, body, now, max_age=max_age, url=url)
    except SignatureError as exc:
        return exc.reason
    return "ok"


def _case_outcome(case: dict, key, now: datetime, **kw) -> str:
    headers = dict(case["headers"])
    headers.setdefault("Host", urlsplit(case["url"]).netloc)  # vectors without Host imply it by the URL
    body = None if case.get("body") is None else case["body"].encode()
    return outcome(case["method"], case["url"], headers, body, key, now, **kw)


def _pss_ok(key, signature: bytes, base: bytes) -> bool:
    try:
        key.verify(signature, base, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
    except InvalidSignature:
        return False
    return True


# ---------------------------------------------------------------- Mastodon's own vectors

CAVAGE = _load("mastodon/http-sig-test-vectors-draft-cavage.json")
RFC9421 = _load("mastodon/http-sig-test-vectors-rfc9421.json")
MASTODON_EXPECTED = {
    "cavage-get": "ok", "cavage-get-query": "ok", "cavage-get-query-quirk-unsigned-query": "ok",
    "cavage-post-digest": "ok", "cavage-post-tampered-body": "digest mismatch",
    "rfc9421-get": "ok", "rfc9421-get-query": "ok", "rfc9421-post-content-digest": "ok",
    "rfc9421-post-mismatched-path": "signature does not verify",
}


@pytest.mark.parametrize("case", CAVAGE["cases"] + RFC9421["cases"], ids=lambda c: c["name"])
def test_mastodon_vectors(case: dict) -> None:
    """Mastodon's known-good requests verify and its known-bad ones fail for the expected reason."""
    vectors = CAVAGE if case in CAVAGE["cases"] else RFC9421
    key = signatures.public_key_from_pem(vectors["key"]["publicKeyPem"])
    assert _case_outcome(case, key, _when(vectors["verify_at"])) == MASTODON_EXPECTED[case["name"]]


def test_mastodon_vectors_are_time_bound() -> None:
    """The same known-good vectors are refused two hours later, and an hour and a half early."""
    key = signatures.public_key_from_pem(CAVAGE["key"]["publicKeyPem"])
    case, when = CAVAGE["cases"][0], _when(CAVAGE["verify_at"])
    assert _case_outcome(case, key, when + timedelta(hours=2)) == "date too old"
    assert _case_outcome(case, key, when - timedelta(minutes=90)) == "date in the future"
    rfc_case = RFC9421["cases"][0]
    assert _case_outcome(rfc_case, key, when + timedelta(hours=2)) == "date too old"


def test_query_fallback_is_what_saves_the_quirk_vector() -> None:
    """The quirk vector's signature covers the path without its query: only the fallback base verifies."""
    case = CAVAGE["cases"][2]
    key = signatures.public_key_from_pem(CAVAGE["key"]["publicKeyPem"])
    signed = signatures.parse("GET", _target(case["url"]), case["headers"])
    with_query = signatures.signature_base(signed)
    without = signatures.signature_base(signed, with_query=False)
    assert with_query.endswith(b"\n(request-target): get /activitypub/success?foo=42")
    assert without.endswith(b"\n(request-target): get /activitypub/success")
    with pytest.raises(InvalidSignature):
        key.verify(signed.signature, with_query, padding.PKCS1v15(), hashes.SHA256())
    key.verify(signed.signature, without, padding.PKCS1v15(), hashes.SHA256())


# ---------------------------------------------------------------- other real senders


def test_oeee_cafe_real_hs2019_with_created_expires() -> None:
    """A real oeee.cafe hs2019 POST with (created)/(expires) verifies; its expires is honoured."""
    vector = _load("oeee-cafe/http-sig-real-signed-accept-follow-hs2019.json")
    key = signatures.public_key_from_pem(vector["key"]["publicKeyPem"])
    when = _when(vector["verify_at"])
    assert _case_outcome(vector, key, when) == "ok"
    signed = signatures.parse("POST", "/i/inbox", vector["headers"])
    assert (signed.algorithm, signed.created, signed.expires) == ("hs2019", 1756126694, 1756130294)
    assert signed.components == ("(request-target)", "(created)", "(expires)", "content-type", "date", "digest",
                                 "host")
    assert _case_outcome(vector, key, when + timedelta(seconds=3601), max_age=7200) == "signature expired"
    assert _case_outcome({**vector, "body": vector["body"] + " "}, key, when) == "digest mismatch"


def test_fedify_post_without_algorithm() -> None:
    """Fedify's POST without an algorithm parameter verifies as hs2019, lower-case sha-256= Digest included."""
    vector = _load("fedify/http-sig-draft-cavage-post-no-algorithm.json")
    key = signatures.public_key_from_pem(vector["key"]["publicKeyPem"])
    assert _case_outcome(vector, key, _when(vector["verify_at"])) == "ok"
    signed = signatures.parse("POST", "/", vector["headers"])
    assert signed.algorithm is None
    assert signed.components == ("(request-target)", "accept", "content-type", "date", "digest", "host")
    tampered = {**vector, "headers": {**vector["headers"], "Accept": "text/html"}}
    assert _case_outcome(tampered, key, _when(vector["verify_at"])) == "signature does not verify"


def test_takahe_post() -> None:
    """Takahe's POST (algorithm after the signature) verifies at its own date and is too old today."""
    vector = _load("takahe/http-sig-and-ld-sig-test-vectors.json")
    key = signatures.public_key_from_pem(vector["key"]["publicKeyPem"])
    request = vector["http_request"]
    assert _case_outcome(request, key, datetime(2022, 11, 12, 21, 57, 18, tzinfo=UTC)) == "ok"
    assert _case_outcome(request, key, datetime(2026, 11, 26, tzinfo=UTC)) == "date too old"


# ---------------------------------------------------------------- RFC 9421 Appendix B

APPENDIX_B = _load("rfc9421/appendix-b-test-keys-and-request-signatures.json")
B_REQUEST = APPENDIX_B["request"]
B_WHEN = _when(APPENDIX_B["verify_at"])
B_CASES = {c["name"].split()[0]: c for c in APPENDIX_B["cases"]}


def _b_signed(case: dict, headers: dict[str, str] | None = None) -> tuple[signatures.SignedRequest, dict[str, str]]:
    h = {**B_REQUEST["headers"], "Signature-Input": case["signature_input"], "Signature": case["signature"],
         **(headers or {})}
    return signatures.parse(B_REQUEST["method"], _target(B_REQUEST["url"]), h), h


def _b_key(case: dict):
    return signatures.public_key_from_pem(APPENDIX_B["keys"][case["keyid"]]["publicKeyPem"])


@pytest.mark.parametrize("name", list(B_CASES))
def test_appendix_b_signature_bases_exact(name: str) -> None:
    """Our signature base for each Appendix B example is byte for byte the RFC's."""
    case = B_CASES[name]
    signed, _ = _b_signed(case)
    assert signatures.signature_base(signed, B_REQUEST["url"]).decode() == case["signature_base"]
    assert signed.label == case["signature_input"].split("=")[0]


def test_appendix_b_full_coverage_verifies() -> None:
    """B.2.3 (rsa-pss-sha512, sha-512 Content-Digest, no alg parameter) passes verify end to end."""
    case = B_CASES["B.2.3"]
    signed, headers = _b_signed(case)
    body = B_REQUEST["body"].encode()
    signatures.verify(signed, _b_key(case), body, B_WHEN, url=B_REQUEST["url"])
    assert outcome("POST", B_REQUEST["url"], headers, body + b" ", _b_key(case), B_WHEN) == "content-digest mismatch"
    assert outcome("POST", B_REQUEST["url"], headers, body, _b_key(case), B_WHEN + timedelta(days=1)) == \
        "date too old"


@pytest.mark.parametrize(("name", "reason"), [("B.2.1", "method not signed"), ("B.2.2", "method not signed"),
                                              ("B.2.6", "request-target not signed")])
def test_appendix_b_weak_coverage_signatures_are_genuine_but_refused(name: str, reason: str) -> None:
    """B.2.1/B.2.2/B.2.6 are cryptographically valid over our base, yet cover too little for an inbox."""
    case = B_CASES[name]
    signed, headers = _b_signed(case)
    key = _b_key(case)
    base = signatures.signature_base(signed, B_REQUEST["url"])
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signed.signature, base)
    else:
        assert _pss_ok(key, signed.signature, base)
    assert outcome("POST", B_REQUEST["url"], headers, B_REQUEST["body"].encode(), key, B_WHEN) == reason


def test_appendix_b_ed25519_signature_reproduced() -> None:
    """Signing B.2.6's base with the Appendix B Ed25519 key gives exactly the RFC's deterministic signature."""
    case = B_CASES["B.2.6"]
    signed, _ = _b_signed(case)
    private = serialization.load_pem_private_key(
        APPENDIX_B["keys"]["test-key-ed25519"]["privateKeyPem"].encode(), password=None)
    produced = signatures.sign_base(private, signatures.signature_base(signed, B_REQUEST["url"]))
    assert produced == signed.signature


def test_rsa_pss_with_explicit_alg() -> None:
    """An rsa-pss-sha512 signature with an explicit alg parameter verifies; as rsa-v1_5-sha256 it does not."""
    private = serialization.load_pem_private_key(
        APPENDIX_B["keys"]["test-key-rsa-pss"]["privateKeyPem"].encode(), password=None)
    url = "https://example.com/inbox"
    body = b'{"type": "Like"}'
    components = '("@method" "@target-uri" "content-digest")'
    headers = {"Host": "example.com", "Content-Digest": signatures.content_digest(body)}
    for alg, expected in (("rsa-pss-sha512", "ok"), ("rsa-v1_5-sha256", "signature does not verify")):
        params = f'{components};created={int(B_WHEN.timestamp())};keyid="k";alg="{alg}"'
        base = (f'"@method": POST\n"@target-uri": {url}\n"content-digest": {headers["Content-Digest"]}\n'
                f'"@signature-params": {params}').encode()
        raw = private.sign(base, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
        h = {**headers, "Signature-Input": f"s={params}", "Signature": f"s=:{base64.b64encode(raw).decode()}:"}
        assert outcome("POST", url, h, body, private.public_key(), B_WHEN) == expected


# ---------------------------------------------------------------- draft-cavage-12 Appendix C

C_PUBLIC = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----"""
C_PRIVATE = """-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----"""
C_URL = "https://example.com/foo?param=value&pet=dog"
C_BODY = b'{"hello": "world"}'
C_HEADERS = {"Host": "example.com", "Date": "Sun, 05 Jan 2014 21:31:40 GMT", "Content-Type": "application/json",
             "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", "Content-Length": "18"}
C_WHEN = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)
C_DEFAULT = ('keyId="Test",algorithm="rsa-sha256",signature="SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7Sazz'
             "6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lavg7T8hc0GppauB6hbgEKTwblDHYGEtbGmtdHgVCk9SuS13F0"
             'hZ8FD0k/5OxEPXe5WozsbM="')
C_BASIC = ('keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date", signature="qdx+H7PHHDZgy4'
           "y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzic+efkb3nndi"
           'v/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="')
C_ALL_SIGNATURE = ("vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUHFv"
                   "120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE=")
C_ALL = ('keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date content-type digest '
         f'content-length",signature="{C_ALL_SIGNATURE}"')
C_BASES = {
    "default": "date: Sun, 05 Jan 2014 21:31:40 GMT",
    "basic": "(request-target): post /foo?param=value&pet=dog\nhost: example.com\ndate: Sun, 05 Jan 2014 21:31:40 GMT",
    "all": "(request-target): post /foo?param=value&pet=dog\nhost: example.com\ndate: Sun, 05 Jan 2014 21:31:40 GMT\n"
           "content-type: application/json\ndigest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\n"
           "content-length: 18",
}
C_REASONS = {"default": "request-target not signed", "basic": "digest not signed", "all": "ok"}


@pytest.mark.parametrize(("name", "header"), [("default", C_DEFAULT), ("basic", C_BASIC), ("all", C_ALL)])
@pytest.mark.parametrize("where", ["Signature", "Authorization"])
def test_appendix_c(name: str, header: str, where: str) -> None:
    """Appendix C's Default, Basic and All Headers tests: exact base, genuine signature, reproduced by signing;
    only the All Headers one covers enough for an inbox POST."""
    key = signatures.public_key_from_pem(C_PUBLIC)
    headers = {**C_HEADERS, where: header if where == "Signature" else "Signature " + header}
    signed = signatures.parse("POST", _target(C_URL), headers)
    base = signatures.signature_base(signed)
    assert base.decode() == C_BASES[name]
    key.verify(signed.signature, base, padding.PKCS1v15(), hashes.SHA256())
    private = serialization.load_pem_private_key(C_PRIVATE.encode(), password=None)
    assert signatures.sign_base(private, base) == signed.signature  # PKCS#1 v1.5 is deterministic
    assert outcome("POST", C_URL, headers, C_BODY, key, C_WHEN) == C_REASONS[name]


def test_appendix_c3_as_printed_in_draft_12() -> None:
    """Draft 12 prints C.3 with (created)/(expires) under rsa-sha256 but signed without them: refused by rule."""
    header = ('keyId="Test",algorithm="rsa-sha256",created=1402170695,expires=1402170699,headers="(request-target) '
              f'(created) (expires) host date content-type digest content-length",signature="{C_ALL_SIGNATURE}"')
    with pytest.raises(SignatureError, match=r"^\(created\) not allowed with rsa-sha256$"):
        signatures.parse("POST", _target(C_URL), {**C_HEADERS, "Signature": header})


# ---------------------------------------------------------------- Mastodon- and PeerTube-shaped requests

SENDER = _load("takahe/http-sig-and-ld-sig-test-vectors.json")["key"]
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
DATE = "Thu, 26 Nov 2026 12:00:00 GMT"


@pytest.fixture(scope="module")
def sender():
    return serialization.load_pem_private_key(SENDER["privateKeyPem"].encode(), password=None)


def _by_hand(private, pairs: list[tuple[str, str]], key_id: str) -> str:
    """A cavage header signed here, as another server would, independently of the module."""
    raw = private.sign("\n".join(f"{n}: {v}" for n, v in pairs).encode(), padding.PKCS1v15(), hashes.SHA256())
    names = " ".join(n for n, _ in pairs)
    return f'keyId="{key_id}",algorithm="rsa-sha256",headers="{names}",signature="{base64.b64encode(raw).decode()}"'


def test_mastodon_shaped_post(sender) -> None:
    """Mastodon's POST: (request-target) host date digest content-type, query included in (request-target)."""
    url = "https://archive.example/inbox?relay=1"
    body = b'{"type": "Create"}'
    headers = {"Host": "archive.example", "Date": DATE, "Digest": signatures.digest(body),
               "Content-Type": "application/activity+json"}
    pairs = [("(request-target)", "post /inbox?relay=1"), ("host", "archive.example"), ("date", DATE),
             ("digest", headers["Digest"]), ("content-type", headers["Content-Type"])]
    headers["Signature"] = _by_hand(sender, pairs, "https://mastodon.example/users/alice#main-key")
    key = signatures.public_key_from_pem(SENDER["publicKeyPem"])
    assert outcome("POST", url, headers, body, key, NOW) == "ok"
    assert outcome("POST", url, {**headers, "Content-Type": "text/plain"}, body, key, NOW) == \
        "signature does not verify"


def test_mastodon_shaped_signed_get(sender) -> None:
    """Mastodon's authorized-fetch GET: (request-target) host date accept, from the instance actor."""
    url = "https://archive.example/outbox?page=true"
    accept = "application/activity+json, application/ld+json"
    headers = {"Host": "archive.example", "Date": DATE, "Accept": accept}
    pairs = [("(request-target)", "get /outbox?page=true"), ("host", "archive.example"), ("date", DATE),
             ("accept", accept)]
    headers["Signature"] = _by_hand(sender, pairs, "https://mastodon.example/actor#main-key")
    assert outcome("GET", url, headers, None, signatures.public_key_from_pem(SENDER["publicKeyPem"]), NOW) == "ok"


def test_peertube_shaped_requests(sender) -> None:
    """PeerTube signs (request-target) host date [digest] with the path only, never the query string."""
    key = signatures.public_key_from_pem(SENDER["publicKeyPem"])
    key_id = "https://peertube.example/accounts/peertube"
    get_headers = {"Host": "archive.example", "Date": DATE}
    get_headers["Signature"] = _by_hand(sender, [("(request-target)", "get /outbox"), ("host", "archive.example"),
                                                 ("date", DATE)], key_id)
    assert outcome("GET", "https://archive.example/outbox?page=2", get_headers, None, key, NOW) == "ok"
    body = b'{"type": "Follow"}'
    post_headers = {"Host": "archive.example", "Date": DATE, "Digest": signatures.digest(body),
                    "Content-Type": "application/activity+json"}
    post_headers["Signature"] = _by_hand(sender, [("(request-target)", "post /inbox"), ("host", "archive.example"),
                                                  ("date", DATE), ("digest", post_headers["Digest"])], key_id)
    assert outcome("POST", "https://archive.example/inbox", post_headers, body, key, NOW) == "ok"
    assert outcome("POST", "https://archive.example/other", post_headers, body, key, NOW) == \
        "signature does not verify"


# ---------------------------------------------------------------- the independent pyauth implementation


@dataclass
class Message:
    """The request shape pyauth's resolvers read: method, url, headers."""

    method: str
    url: str
    headers: dict[str, str]


def _pyauth_algorithm(private):
    return algorithms.ED25519 if isinstance(private, ed25519.Ed25519PrivateKey) else algorithms.RSA_V1_5_SHA256


@pytest.fixture(scope="module", params=["rsa", "ed25519"])
def keypair(request, sender):
    if request.param == "rsa":
        return sender
    pem = APPENDIX_B["keys"]["test-key-ed25519"]["privateKeyPem"]
    return serialization.load_pem_private_key(pem.encode(), password=None)


@pytest.mark.parametrize(("method", "url", "body"), [
    ("POST", "https://mastodon.example/users/alice/inbox", b'{"type": "Create"}'),
    ("GET", "https://mastodon.example/users/alice?x=1", None),
    ("POST", "http://127.0.0.1:8080/inbox", b""),
])
def test_pyauth_verifies_ours(keypair, method: str, url: str, body: bytes | None) -> None:
    """pyauth http-message-signatures verifies the RFC 9421 signatures we make (it reads its own clock)."""
    now = datetime.now(UTC)
    key_id = "https://archive.example/actor#main-key"
    headers = signatures.sign_request(method, url, {}, body, key_id, keypair, signatures.RFC9421, now)
    verifier = HTTPMessageVerifier(signature_algorithm=_pyauth_algorithm(keypair),
                                   key_resolver=MappingKeyResolver(public_keys={key_id: keypair.public_key()},
                                                                   private_keys={}))
    [result] = verifier.verify(Message(method, url, headers), body=body,
                               require_components=("@method", "@target-uri"))
    assert result.parameters["keyid"] == key_id
    if body is not None:
        assert result.body == body
    tampered = Message(method, url.replace("mastodon", "evil").replace("127.0.0.1", "127.0.0.2"), headers)
    with pytest.raises(PyauthInvalidSignature):
        verifier.verify(tampered)


@pytest.mark.parametrize(("method", "url", "body", "covered"), [
    ("POST", "https://archive.example/inbox", b'{"type": "Follow"}', ("@method", "@target-uri")),
    ("POST", "https://archive.example/inbox?a=b", b"{}", ("@method", "@authority", "@path", "@query")),
    ("GET", "https://archive.example/actor", None, ("@method", "@target-uri")),
])
def test_we_verify_pyauth(keypair, method: str, url: str, body: bytes | None, covered: tuple[str, ...]) -> None:
    """We verify RFC 9421 signatures made by pyauth http-message-signatures, Content-Digest included."""
    key_id = "https://mastodon.example/users/alice#main-key"
    signer = HTTPMessageSigner(signature_algorithm=_pyauth_algorithm(keypair),
                               key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: keypair}))
    message = Message(method, url, {"Host": urlsplit(url).netloc})
    signer.sign(message, key_id=key_id, created=NOW, label="sig1", covered_component_ids=covered, body=body)
    assert ("Content-Digest" in message.headers) == (body is not None)
    key = keypair.public_key()
    assert outcome(method, url, message.headers, body, key, NOW) == "ok"
    if body is not None:
        assert outcome(method, url, message.headers, body + b" ", key, NOW) == "content-digest mismatch"
        digest_value = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert digest_value in message.headers["Content-Digest"]
