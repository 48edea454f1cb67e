"""The one outbound client: SSRF guard, signatures checked by an independent remote, limits, double-knock."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import itertools
import socket
from dataclasses import replace
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi import __version__, signatures
from fedi import keys as keys_mod
from fedi.client import Client
from fedi.config import urls_for
from fedi.errors import BlockedAddressError, DeliveryError, RemoteError
from fedi.netguard import Policy, forbidden_reason
from tests.remote import AS2, LD, RemoteServer, Reply

pytestmark = pytest.mark.usefixtures("loopback_only")

LOOPBACK_ONLY = Policy(allow_http=True, allow_private=False, exempt=(ipaddress.ip_network("127.0.0.0/8"),))
"""What the tests run with: plain http and loopback allowed, every other private address refused."""
PRODUCTION = Policy()


@pytest.fixture
def urls(config):
    return urls_for(config)


@pytest.fixture
def keys(config):
    return keys_mod.load_or_create(config.keys_dir)


@pytest.fixture
async def client(config, urls, keys):
    async with Client(config, urls, keys, policy=LOOPBACK_ONLY) as c:
        yield c


@pytest.fixture
def trusting(remote_server, urls, keys):
    """The remote server knows our keys without fetching them (no fedi server runs in these tests)."""
    for role in ("archive", "owner"):
        remote_server.trust(urls.key(role), keys[role].public_pem)
    return remote_server


async def started_remote(urls, keys, **options) -> RemoteServer:
    remote = await RemoteServer.start(**options)
    for role in ("archive", "owner"):
        remote.trust(urls.key(role), keys[role].public_pem)
    return remote


def actor_doc(remote: RemoteServer, path: str, doc_id: str | None = None) -> dict:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": doc_id or remote.base + path, "type": "Note",
            "content": "hello"}


# the SSRF guard, pure ----------------------------------------------------------------------------------------

BLOCKED_URLS = [
    "https://127.0.0.1/", "https://127.1.2.3:8443/x", "https://[::1]/", "https://10.0.0.1/",
    "https://172.16.0.1/", "https://192.168.1.1/", "https://169.254.169.254/latest/meta-data/",
    "https://[::ffff:127.0.0.1]/", "https://[::ffff:a00:1]/", "https://0.0.0.0/", "https://[::]/",
    "https://100.64.0.1/", "https://[fc00::1]/", "https://[fd12:3456::1]/", "https://[fe80::1]/",
    "https://[fec0::1]/", "https://224.0.0.1/", "https://[ff02::1]/", "https://240.0.0.1/",
    "https://255.255.255.255/", "https://[2002:7f00:1::]/", "https://[64:ff9b::a00:1]/", "https://198.18.0.1/",
    "https://[2001:db8::1]/",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_private_and_special_addresses_are_refused(url):
    """Loopback, private, link-local, shared, multicast, reserved and embedded-IPv4 literals are refused."""
    with pytest.raises(BlockedAddressError, match="refusing to connect"):
        PRODUCTION.check_url(url)


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_allow_private_addresses_lets_them_through(url):
    """security.allow_private_addresses = true allows every address (checked without connecting)."""
    assert Policy.from_security(True).check_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/",
                                 "http://example.com/actor", "//example.com/x", "https:///nohost",
                                 "https://example.com:99999/"])
def test_non_https_and_malformed_urls_are_refused(url):
    """Only https URLs with a host are fetched in production."""
    with pytest.raises(BlockedAddressError):
        PRODUCTION.check_url(url)


def test_http_is_allowed_only_with_allow_private_addresses():
    """Plain http is for local testing: refused by default, allowed with the setting."""
    with pytest.raises(BlockedAddressError, match="scheme 'http' refused"):
        PRODUCTION.check_url("http://example.com/")
    assert Policy.from_security(True).check_url("http://example.com/") == "example.com"


def test_public_addresses_pass():
    """Global unicast addresses are allowed (no connection is made: this is the pure check)."""
    assert PRODUCTION.check_url("https://93.184.216.34/x") == "93.184.216.34"
    assert forbidden_reason(ipaddress.ip_address("2606:4700::1")) is None


def test_refusal_names_the_url_and_the_address():
    """The message says which URL, which address and why."""
    with pytest.raises(BlockedAddressError) as info:
        PRODUCTION.check_url("https://169.254.169.254/latest")
    assert "https://169.254.169.254/latest" in str(info.value) and "link-local" in str(info.value)


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_forms_are_judged_like_the_ipv4_address(address):
    """::ffff:a.b.c.d and 6to4 2002:abcd:: are refused whenever a.b.c.d is."""
    if forbidden_reason(address) is None:
        return
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80))
    assert forbidden_reason(mapped) is not None
    assert forbidden_reason(sixtofour) is not None


@given(st.ip_addresses())
def test_every_address_that_is_not_global_is_refused(address):
    """Anything Python does not call globally routable is refused (the catch-all under the named cases)."""
    if not address.is_global:
        assert forbidden_reason(address) is not None


@given(st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "100.64.0.0/10",
                        "169.254.0.0/16", "fc00::/7", "fe80::/10"]).flatmap(
    lambda net: st.ip_addresses(network=net)))
def test_whole_private_networks_are_refused(address):
    """Every address of the private, loopback, shared and link-local networks is refused."""
    assert forbidden_reason(address) is not None


@given(st.text(max_size=200))
def test_check_url_only_ever_refuses_cleanly(text):
    """Whatever the string, check_url returns a host or raises BlockedAddressError (never another error)."""
    with contextlib.suppress(BlockedAddressError):
        assert PRODUCTION.check_url(text)


@given(st.ip_addresses())
def test_ip_literal_urls_are_refused_exactly_when_the_address_is_forbidden(address):
    """https://<literal>/ passes the pure check iff the address is a public one."""
    host = f"[{address}]" if address.version == 6 else str(address)
    if forbidden_reason(address) is None:
        assert PRODUCTION.check_url(f"https://{host}/x")
    else:
        with pytest.raises(BlockedAddressError):
            PRODUCTION.check_url(f"https://{host}/x")


# the SSRF guard through the client: refused before any connection -----------------------------------------------

async def test_ip_literal_is_refused_before_connecting(config, urls, keys, loopback_only):
    """A private IP literal never reaches the connector."""
    async with Client(config, urls, keys, policy=PRODUCTION) as c:
        with pytest.raises(BlockedAddressError, match="10.0.0.1"):
            await c.get_json("https://10.0.0.1/actor")
    assert loopback_only == []


async def test_hostname_resolving_to_loopback_is_refused(config, urls, keys, loopback_only):
    """evil.example → 127.0.0.1 is refused after resolution, and nothing connects."""
    looked_up = []

    async def resolver(host: str) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    async with Client(config, urls, keys, resolver=resolver, policy=PRODUCTION) as c:
        with pytest.raises(BlockedAddressError, match=r"evil\.example.*127\.0\.0\.1.*loopback"):
            await c.get_json("https://evil.example/users/alice")
    assert looked_up == ["evil.example"]
    assert loopback_only == []


async def test_one_private_address_among_public_ones_refuses_the_host(config, urls, keys, loopback_only):
    """A host with a public and a private address is refused (a rebinding DNS could pick either)."""
    async def resolver(host: str) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]

    async with Client(config, urls, keys, resolver=resolver, policy=PRODUCTION) as c:
        with pytest.raises(BlockedAddressError, match="10.1.2.3"):
            await c.get_json("https://mixed.example/x")
    assert loopback_only == []


async def test_redirect_to_a_private_literal_is_refused(client, remote_server, loopback_only):
    """An allowed server redirecting to http://10.0.0.1/ gets the redirect refused, not followed."""
    url = remote_server.redirect("/hop", "http://10.0.0.1/latest/meta-data")
    with pytest.raises(BlockedAddressError, match="10.0.0.1"):
        await client.get_json(url)
    assert remote_server.count("GET", "/hop") == 1
    assert set(loopback_only) == {"127.0.0.1"}


async def test_redirect_to_a_name_resolving_privately_is_refused(config, urls, keys, remote_server, loopback_only):
    """A redirect to a host name goes through the guarded resolver too."""
    async def resolver(host: str) -> list[str]:
        return ["10.9.8.7"] if host == "internal.example" else ["127.0.0.1"]

    async with Client(config, urls, keys, resolver=resolver, policy=LOOPBACK_ONLY) as c:
        url = remote_server.redirect("/hop", "http://internal.example/admin")
        with pytest.raises(BlockedAddressError, match="10.9.8.7"):
            await c.get_json(url)
    assert set(loopback_only) == {"127.0.0.1"}


async def test_post_to_a_blocked_address_is_a_permanent_delivery_error(config, urls, keys, loopback_only):
    """post_activity turns a refusal into DeliveryError(permanent=True) caused by BlockedAddressError."""
    async with Client(config, urls, keys, policy=PRODUCTION) as c:
        with pytest.raises(DeliveryError) as info:
            await c.post_activity("https://[::ffff:127.0.0.1]/inbox", b"{}")
    assert info.value.permanent is True
    assert isinstance(info.value.__cause__, BlockedAddressError)
    assert loopback_only == []


# signed requests, checked by the remote's own verifier -----------------------------------------------------------

async def test_get_is_signed_and_verifies_at_the_remote(client, trusting, urls):
    """A GET carries a draft-cavage signature by the archive actor that the remote verifies."""
    doc = await client.get_json(trusting.actor_id("alice"))
    assert doc["id"] == trusting.actor_id("alice")
    seen = trusting.requests[-1]
    assert (seen.style, seen.verified, seen.key_id) == ("cavage", True, urls.key("archive"))
    assert "host" in seen.headers["Signature"] and "date" in seen.headers["Signature"]


async def test_role_picks_the_signing_key(client, trusting, urls):
    """role="owner" signs with the owner's key."""
    await client.get_json(trusting.actor_id("alice"), role="owner")
    assert trusting.requests[-1].key_id == urls.key("owner") and trusting.requests[-1].verified


async def test_user_agent_and_accept(client, trusting, config):
    """Every request says who we are and asks for AS2."""
    await client.get_json(trusting.actor_id("alice"))
    headers = trusting.requests[-1].headers
    assert headers["User-Agent"] == f"fedi/{__version__} (+{config.server.base_url})"
    assert headers["Accept"].startswith("application/activity+json")


async def test_post_is_signed_with_a_digest(client, trusting):
    """A POST has Content-Type activity+json, a SHA-256 Digest, and verifies at the remote."""
    body = b'{"type":"Follow"}'
    assert await client.post_activity(trusting.inbox("alice"), body) == 202
    seen = trusting.received[-1]
    assert seen.verified and seen.body == body
    assert seen.headers["Content-Type"] == AS2
    assert seen.headers["Digest"].startswith("SHA-256=")


async def test_connections_are_reused(client, trusting):
    """Two requests to one host share one keep-alive connection."""
    await client.get_json(trusting.actor_id("alice"))
    await client.post_activity(trusting.inbox("alice"), b"{}")
    assert trusting.requests[0].peer == trusting.requests[1].peer


async def test_webfinger_is_unsigned(client, remote_server):
    """WebFinger goes out unsigned (as Mastodon's does) and returns the JRD."""
    jrd = await client.webfinger(f"alice@{remote_server.domain}", scheme="http")
    assert jrd["subject"] == f"acct:alice@{remote_server.domain}"
    assert remote_server.requests[-1].style is None


async def test_webfinger_of_an_unknown_account(client, remote_server):
    """A 404 from WebFinger is a RemoteError with the status."""
    with pytest.raises(RemoteError) as info:
        await client.webfinger(f"nobody@{remote_server.domain}", scheme="http")
    assert info.value.status == 404


# limits ----------------------------------------------------------------------------------------------------------

async def test_document_over_one_mebibyte_is_refused(client, remote_server):
    """A 2 MiB document is refused from its Content-Length."""
    url = remote_server.serve("/big", b'{"id":"x","pad":"' + b"a" * (2 * 1024 * 1024) + b'"}')
    with pytest.raises(RemoteError, match="limit"):
        await client.get_json(url)


async def test_chunked_document_over_one_mebibyte_is_refused(client, remote_server):
    """Without a Content-Length, reading stops past the cap."""
    url = remote_server.serve("/big", b'{"id":"x","pad":"' + b"a" * (2 * 1024 * 1024) + b'"}', chunked=True)
    with pytest.raises(RemoteError, match="over the 1048576-byte limit"):
        await client.get_json(url)


async def test_document_just_under_the_cap_is_read(client, remote_server):
    """The cap is not off by much: a 1 MiB - 100 bytes document is fine."""
    path = "/almost"
    head = ('{"id":"%s","pad":"' % (remote_server.base + path)).encode()
    body = head + b"a" * (1024 * 1024 - 100 - len(head)) + b'"}'
    url = remote_server.serve(path, body, chunked=True)
    assert (await client.get_json(url))["id"] == url


async def test_three_redirects_are_followed_four_are_not(client, remote_server):
    """At most 3 redirects; the document's id is checked against the final URL."""
    final = remote_server.serve("/doc", actor_doc(remote_server, "/doc"))
    for i in range(4):
        remote_server.redirect(f"/r{i}", f"/r{i + 1}" if i < 3 else "/doc")
    assert (await client.get_json(remote_server.base + "/r1"))["id"] == final
    with pytest.raises(RemoteError, match="more than 3 redirects"):
        await client.get_json(remote_server.base + "/r0")


@pytest.mark.parametrize("content_type", ["application/json", "text/html", "application/jrd+json"])
async def test_wrong_content_type_is_refused(client, remote_server, content_type):
    """application/json, text/html or anything not AS2 is refused (Mastodon's rule)."""
    url = remote_server.serve("/doc", actor_doc(remote_server, "/doc"), content_type=content_type)
    with pytest.raises(RemoteError, match="not ActivityStreams"):
        await client.get_json(url)


@pytest.mark.parametrize("content_type", [AS2, LD, "application/ld+json"])
async def test_as2_content_types_are_accepted(client, remote_server, content_type):
    """activity+json and ld+json, with or without the profile, are accepted."""
    url = remote_server.serve("/doc", actor_doc(remote_server, "/doc"), content_type=content_type)
    assert (await client.get_json(url))["id"] == url


async def test_id_on_another_host_is_refused(client, remote_server):
    """A document claiming an id on another host than where it came from is refused."""
    url = remote_server.serve("/doc", actor_doc(remote_server, "/doc", "https://mastodon.example/users/alice"))
    with pytest.raises(RemoteError, match="another host"):
        await client.get_json(url)


async def test_id_is_checked_against_the_url_after_redirects(client, urls, keys, remote_server):
    """A redirect to another host is fine when the document's id is on that host, and refused otherwise."""
    other = await started_remote(urls, keys, host="127.0.0.2")
    try:
        good = other.serve("/doc", actor_doc(other, "/doc"))
        remote_server.redirect("/to-good", good)
        assert (await client.get_json(remote_server.base + "/to-good"))["id"] == good
        other.serve("/liar", actor_doc(other, "/liar", remote_server.base + "/liar"))
        remote_server.redirect("/to-liar", other.base + "/liar")
        with pytest.raises(RemoteError, match="another host"):
            await client.get_json(remote_server.base + "/to-liar")
    finally:
        await other.close()


async def test_document_without_id_or_not_an_object_is_refused(client, remote_server):
    """JSON that is not an object with an id, or not JSON at all, is a RemoteError."""
    for path, body in (("/noid", {"type": "Note"}), ("/list", [1, 2]), ("/junk", b"{not json")):
        url = remote_server.serve(path, body)
        with pytest.raises(RemoteError):
            await client.get_json(url)


@pytest.mark.parametrize("status", [404, 410, 500])
async def test_error_status_is_kept(client, remote_server, status):
    """404/410 stay visible to callers (the actor is gone); other failures too."""
    url = remote_server.serve("/doc", {"error": "x"}, status=status)
    with pytest.raises(RemoteError) as info:
        await client.get_json(url)
    assert info.value.status == status


async def test_gone_actor_is_410(client, remote_server):
    """A deleted remote actor answers 410 and the client reports it."""
    remote_server.gone("alice")
    with pytest.raises(RemoteError, match="gone") as info:
        await client.get_json(remote_server.actor_id("alice"))
    assert info.value.status == 410


async def test_slow_server_times_out(config, urls, keys):
    """delivery.timeout bounds a request to a server that does not answer in time."""
    remote = await started_remote(urls, keys, delay=1.0)
    quick = replace(config, delivery=replace(config.delivery, timeout=0.2))
    try:
        async with Client(quick, urls, keys, policy=LOOPBACK_ONLY) as c:
            with pytest.raises(RemoteError, match="timed out"):
                await c.get_json(remote.actor_id("alice"))
            with pytest.raises(DeliveryError) as info:
                await c.post_activity(remote.inbox("alice"), b"{}")
            assert info.value.permanent is False and info.value.status is None
    finally:
        await remote.close()


async def test_closed_port_is_a_remote_error(client):
    """Nothing listening: a RemoteError, not an aiohttp exception."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteError, match="cannot connect"):
        await client.get_json(f"http://127.0.0.1:{port}/x")


# double-knock ------------------------------------------------------------------------------------------------------

async def test_rfc9421_only_server_gets_a_second_knock_and_is_remembered(client, urls, keys):
    """A server taking only RFC 9421 refuses cavage with 401; the retry in RFC 9421 works and is remembered."""
    remote = await started_remote(urls, keys, accept="rfc9421")
    try:
        assert await client.post_activity(remote.inbox("alice"), b'{"type":"Like"}') == 202
        first, second = remote.received
        assert (first.style, first.status) == ("cavage", 401)
        assert (second.style, second.verified, second.status) == ("rfc9421", True, 202)
        assert "Content-Digest" in second.headers
        assert client.style_for(remote.domain) == signatures.RFC9421
        assert await client.post_activity(remote.inbox("alice"), b'{"type":"Like"}') == 202
        assert len(remote.received) == 3 and remote.received[-1].style == "rfc9421"
        await client.get_json(remote.actor_id("alice"))  # GETs use the remembered style too
        assert remote.requests[-1].style == "rfc9421" and remote.requests[-1].verified
    finally:
        await remote.close()


async def test_cavage_only_server_needs_one_request(client, urls, keys):
    """A cavage-only server (PeerTube) gets cavage first: one request per POST."""
    remote = await started_remote(urls, keys, style="peertube", accept="cavage")
    try:
        assert await client.post_activity(remote.inbox("alice"), b"{}") == 204
        assert await client.post_activity(remote.inbox("alice"), b"{}") == 204
        assert [r.style for r in remote.received] == ["cavage", "cavage"]
        assert client.style_for(remote.domain) == signatures.CAVAGE
    finally:
        await remote.close()


async def test_peertube_403_invalid_signature_knocks_back_to_cavage(client, urls, keys):
    """A host remembered as RFC 9421 that answers PeerTube's 403 "Invalid signature" gets cavage again."""
    remote = await started_remote(urls, keys, style="peertube", accept="cavage")
    try:
        client.remember_style(remote.domain, signatures.RFC9421)
        assert await client.post_activity(remote.inbox("alice"), b"{}") == 204
        assert [(r.style, r.status) for r in remote.received] == [("rfc9421", 403), ("cavage", 204)]
        assert client.style_for(remote.domain) == signatures.CAVAGE
    finally:
        await remote.close()


async def test_each_knock_is_signed_afresh(config, urls, keys):
    """The retry carries a new Date (from the clock at send time) and a new signature."""
    start = dt.datetime.now(dt.UTC)
    ticks = itertools.count()

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=next(ticks))

    remote = await started_remote(urls, keys, accept="rfc9421")
    try:
        async with Client(config, urls, keys, clock=clock, policy=LOOPBACK_ONLY) as c:
            await c.post_activity(remote.inbox("alice"), b"{}")
        first, second = remote.received
        assert first.headers["Date"] != second.headers["Date"]
        assert first.headers["Signature"] != second.headers["Signature"]
    finally:
        await remote.close()


async def test_accept_signature_switches_the_host_to_rfc9421(client, trusting):
    """An Accept-Signature response header (RFC 9421 §5) makes later requests use RFC 9421."""
    url = trusting.serve("/doc", actor_doc(trusting, "/doc"),
                         headers={"Accept-Signature": 'sig1=("@method" "@target-uri");keyid'})
    await client.get_json(url)
    assert trusting.requests[-1].style == "cavage"
    assert client.style_for(trusting.domain) == signatures.RFC9421
    await client.post_activity(trusting.inbox("alice"), b"{}")
    assert trusting.received[-1].style == "rfc9421" and trusting.received[-1].verified


async def test_signature_refused_both_ways_keeps_the_old_style(client, trusting):
    """When both styles are refused, the error is the second answer and nothing new is remembered."""
    trusting.set_responses([401, 401])
    with pytest.raises(DeliveryError) as info:
        await client.post_activity(trusting.inbox("alice"), b"{}")
    assert info.value.status == 401 and info.value.permanent is False
    assert len(trusting.received) == 2
    assert client.style_for(trusting.domain) == signatures.CAVAGE


# delivery answers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "permanent"), [(500, False), (503, False), (400, True), (404, True),
                                                   (410, True), (422, True), (408, False), (501, True)])
async def test_delivery_failures_say_whether_to_retry(client, trusting, status, permanent):
    """5xx, 408 and 429 are worth retrying; other 4xx are not (Mastodon's rule)."""
    trusting.set_responses([status])
    with pytest.raises(DeliveryError) as info:
        await client.post_activity(trusting.inbox("alice"), b"{}")
    assert (info.value.status, info.value.permanent) == (status, permanent)
    assert info.value.retry_after is None


async def test_500_then_200(client, trusting):
    """A programmed failure then success: the caller sees the error, then the status."""
    trusting.set_responses([500])
    with pytest.raises(DeliveryError):
        await client.post_activity(trusting.inbox("alice"), b"{}")
    assert await client.post_activity(trusting.inbox("alice"), b"{}") == 202


async def test_retry_after_in_seconds(client, trusting):
    """429 with Retry-After: 120 → retry_after == 120, not permanent."""
    trusting.set_responses([Reply(429, {"Retry-After": "120"})])
    with pytest.raises(DeliveryError) as info:
        await client.post_activity(trusting.inbox("alice"), b"{}")
    assert (info.value.status, info.value.permanent, info.value.retry_after) == (429, False, 120.0)


async def test_retry_after_as_an_http_date(config, urls, keys, trusting):
    """503 with Retry-After as an HTTP-date → seconds from the client's clock."""
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    trusting.set_responses([Reply(503, {"Retry-After": format_datetime(now + dt.timedelta(seconds=90),
                                                                       usegmt=True)})])
    async with Client(config, urls, keys, clock=lambda: now, policy=LOOPBACK_ONLY) as c:
        with pytest.raises(DeliveryError) as info:
            await c.post_activity(trusting.inbox("alice"), b"{}")
    assert info.value.retry_after == 90.0


async def test_post_follows_307_and_308_only(client, trusting):
    """307/308 keep the POST (re-signed for the new URL); a 302 is an error, not a silent GET."""
    trusting.set_responses([Reply(308, {"Location": "/inbox"})])
    assert await client.post_activity(trusting.inbox("alice"), b'{"a":1}') == 202
    assert [r.path for r in trusting.received] == ["/users/alice/inbox", "/inbox"]
    assert trusting.received[-1].verified and trusting.received[-1].body == b'{"a":1}'
    trusting.set_responses([Reply(302, {"Location": "/inbox"})])
    with pytest.raises(DeliveryError) as info:
        await client.post_activity(trusting.inbox("alice"), b"{}")
    assert info.value.status == 302


async def test_error_message_quotes_the_answer(client, trusting):
    """The remote's error text appears in the message (debugging refusals)."""
    trusting.set_responses([Reply(422, {}, b'{"error":"Validation failed: bad object"}')])
    with pytest.raises(DeliveryError, match="Validation failed"):
        await client.post_activity(trusting.inbox("alice"), b"{}")


async def test_client_must_be_started(config, urls, keys):
    """Using a client outside its lifetime is a clear error, not a hang."""
    c = Client(config, urls, keys, policy=LOOPBACK_ONLY)
    with pytest.raises(RuntimeError, match="start"):
        await c.get_json("http://127.0.0.1:1/x")


async def test_signer_signs_a_burst_off_the_loop_and_keeps_errors_apart():
    """Dozens asked in one pass are all signed (in batches, on the signing thread), each for its own base;
    a request whose key cannot sign gets its own error and the others are unaffected."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    from fedi.client import Signer

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = ec.generate_private_key(ec.SECP256R1())
    signer = Signer()
    try:
        bases = [f"base {i}".encode() for i in range(40)]
        got = await asyncio.gather(*(signer.sign(key, b) for b in bases[:20]), signer.sign(bad, b"x"),
                                   *(signer.sign(key, b) for b in bases[20:]), return_exceptions=True)
        assert isinstance(got[20], TypeError)
        signatures = got[:20] + got[21:]
        for base, signature in zip(bases, signatures, strict=True):
            key.public_key().verify(signature, base, padding.PKCS1v15(), hashes.SHA256())
    finally:
        signer.close()
    assert await asyncio.wait_for(signer.sign(key, b"after"), 5)  # closed, it starts a thread again on demand
    signer.close()
