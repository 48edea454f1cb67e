"""Authorized fetch: which GETs need a signature, on the real app, with requests signed by a real remote server."""

from __future__ import annotations

import pytest

from tests.remote import AS2, RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

HTML = "text/html,application/xhtml+xml"

# (path, Accept): what stays public whatever the setting — otherwise two secure servers deadlock
PUBLIC = [
    ("/actors/archive", AS2),
    ("/actors/assoc", AS2),
    ("/.well-known/webfinger?resource=acct:archive@{domain}", "application/jrd+json"),
    ("/.well-known/host-meta", "application/xrd+xml"),
    ("/.well-known/nodeinfo", "application/json"),
    ("/nodeinfo/2.1", "application/json"),
    ("/media/poster.png", "image/*"),
    ("/static/style.css", "text/css"),
    ("/", HTML),
    ("/actors/archive", HTML),
    ("/talks/debat", HTML),
    ("/talks/debat/embed", HTML),  # the player inside a Mastodon card: browsers never sign
]
# what needs a signature when security.authorized_fetch is on
PROTECTED = [
    ("/actors/archive/outbox", AS2),
    ("/actors/archive/outbox?page=1", AS2),
    ("/actors/archive/followers", AS2),
    ("/actors/archive/following", AS2),
    ("/actors/archive/featured", AS2),
    ("/actors/assoc/outbox", AS2),
    ("/actors/archive/outbox", HTML),  # collections serve only AS2: the Accept header does not open them
    ("/talks/debat", AS2),
    ("/talks/debat", 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'),
    ("/talks/debat/create", AS2),
    ("/talks/debat/replies", AS2),
    ("/talks/debat/likes", AS2),
    ("/talks/debat/shares", AS2),
    ("/activities/some-token", AS2),
]


@pytest.fixture
async def fedi_app(fedi):
    """Start the real app (conftest's ``fedi``) with some security settings; returns its base URL."""
    async def start(**security) -> str:
        return (await fedi(security=security)).base

    return start


@pytest.fixture
async def blocked_remote():
    remote = await RemoteServer.start(host="127.0.0.2")
    yield remote
    await remote.close()


def url_of(base: str, path: str) -> str:
    return base + path.format(domain=base.split("://")[1])


async def statuses(remote: RemoteServer, base: str, cases, signed: bool) -> dict[tuple[str, str], int]:
    out = {}
    for path, accept in cases:
        url = url_of(base, path)
        if signed:
            answer = await remote.signed_get(url, headers={"Accept": accept})
        else:
            answer = await remote.send("GET", url, None, {"Accept": accept})
        out[(path, accept)] = answer.status
        if answer.status in (401, 403):
            assert "error" in answer.json, (path, answer.body)
    return out


def refused(found: dict, status: int) -> list:
    return [case for case, got in found.items() if got == status]


# authorized fetch ON ------------------------------------------------------------------------------------------------

async def test_on_unsigned_public_paths_stay_open(fedi_app, remote_server):
    """With authorized fetch, actors, discovery, media, static files and HTML pages need no signature."""
    base = await fedi_app(authorized_fetch=True)
    found = await statuses(remote_server, base, PUBLIC, signed=False)
    assert [c for c, s in found.items() if s in (401, 403)] == []
    assert found[("/actors/archive", AS2)] == 200


async def test_on_unsigned_protected_paths_get_401(fedi_app, remote_server):
    """With authorized fetch, unsigned GETs of collections, talks and activities get 401 with a JSON reason."""
    base = await fedi_app(authorized_fetch=True)
    found = await statuses(remote_server, base, PROTECTED, signed=False)
    assert refused(found, 401) == list(found)
    answer = await remote_server.send("GET", base + "/actors/archive/outbox", None, {"Accept": AS2})
    assert answer.json == {"error": "signature required"}


async def test_on_signed_requests_pass_everywhere(fedi_app, remote_server):
    """A valid signature opens every path (missing documents are then a 404, not a 401)."""
    base = await fedi_app(authorized_fetch=True)
    found = await statuses(remote_server, base, PUBLIC + PROTECTED, signed=True)
    assert [c for c, s in found.items() if s in (401, 403)] == []
    assert found[("/actors/archive/outbox", AS2)] == 200 and found[("/talks/debat/create", AS2)] == 200
    assert remote_server.count("GET", remote_server.actor_path("alice")) == 1  # its key, fetched once


async def test_on_rfc9421_and_peertube_signatures_pass(fedi_app):
    """PeerTube-shaped and RFC 9421 signed GETs open protected paths too."""
    base = await fedi_app(authorized_fetch=True)
    remote = await RemoteServer.start(style="peertube")
    try:
        assert (await remote.signed_get(base + "/actors/archive/outbox?page=1",
                                        headers={"Accept": AS2})).status == 200
        assert (await remote.signed_get(base + "/talks/debat", headers={"Accept": AS2},
                                        sign="rfc9421")).status == 200
    finally:
        await remote.close()


async def test_on_bad_signature_is_401(fedi_app, remote_server):
    """A signature that does not verify is refused with its reason."""
    base = await fedi_app(authorized_fetch=True)
    headers = remote_server.sign("GET", base + "/actors/archive/outbox", None, headers={"Accept": AS2})
    answer = await remote_server.send("GET", base + "/actors/archive/followers", None, headers)
    assert answer.status == 401 and answer.json["error"] == "signature does not verify"


async def test_on_blocked_domain_gets_403_everywhere_signed(fedi_app, blocked_remote):
    """Signed GETs from a blocked domain get 403 on protected and public paths, and nothing is fetched."""
    base = await fedi_app(authorized_fetch=True, blocked_domains=("127.0.0.2",))
    found = await statuses(blocked_remote, base, PUBLIC + PROTECTED, signed=True)
    assert refused(found, 403) == list(found)
    assert blocked_remote.requests == []


async def test_on_blocked_domain_unsigned_is_like_anyone(fedi_app, blocked_remote):
    """Unsigned, a blocked server is just anonymous: public paths open, protected ones 401."""
    base = await fedi_app(authorized_fetch=True, blocked_domains=("127.0.0.2",))
    assert [c for c, s in (await statuses(blocked_remote, base, PUBLIC, signed=False)).items()
            if s in (401, 403)] == []
    found = await statuses(blocked_remote, base, PROTECTED, signed=False)
    assert refused(found, 401) == list(found)


# authorized fetch OFF -----------------------------------------------------------------------------------------------

async def test_off_unsigned_everything_is_open(fedi_app, remote_server):
    """Without authorized fetch, unsigned GETs work everywhere."""
    base = await fedi_app(authorized_fetch=False)
    found = await statuses(remote_server, base, PUBLIC + PROTECTED, signed=False)
    assert [c for c, s in found.items() if s in (401, 403)] == []
    assert found[("/actors/archive/outbox", AS2)] == 200


async def test_off_signed_is_open_and_fetches_no_key(fedi_app, remote_server):
    """Without authorized fetch, signed GETs pass without fetching the signer's key."""
    base = await fedi_app(authorized_fetch=False)
    found = await statuses(remote_server, base, PUBLIC + PROTECTED, signed=True)
    assert [c for c, s in found.items() if s in (401, 403)] == []
    assert remote_server.requests == []


async def test_off_junk_signature_is_ignored(fedi_app, remote_server):
    """Without authorized fetch, a malformed Signature header does not lock anyone out."""
    base = await fedi_app(authorized_fetch=False)
    answer = await remote_server.send("GET", base + "/actors/archive/outbox", None,
                                      {"Accept": AS2, "Signature": "nonsense"})
    assert answer.status == 200


async def test_off_blocked_domain_signed_gets_403(fedi_app, blocked_remote):
    """Without authorized fetch, signed GETs from a blocked domain are still refused, without any fetch."""
    base = await fedi_app(authorized_fetch=False, blocked_domains=("127.0.0.2",))
    found = await statuses(blocked_remote, base, PUBLIC + PROTECTED, signed=True)
    assert refused(found, 403) == list(found)
    assert blocked_remote.requests == []


async def test_posts_are_left_to_the_inbox(fedi_app, remote_server):
    """The authorized-fetch check only looks at GET/HEAD: a POST is not refused by it for lack of a signature."""
    base = await fedi_app(authorized_fetch=True)
    answer = await remote_server.send("POST", base + "/actors/archive/outbox", b"{}",
                                      {"Content-Type": AS2})
    assert answer.status == 405  # no POST route there: the router answers, not the signature check


async def test_head_is_treated_like_get(fedi_app, remote_server):
    """HEAD of a protected path needs a signature too."""
    base = await fedi_app(authorized_fetch=True)
    answer = await remote_server.send("HEAD", base + "/actors/archive/outbox", None, {"Accept": AS2})
    assert answer.status == 401
