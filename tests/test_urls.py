"""One notion of a server's identity (``urls.origin``, ``host``, ``authority``, ``same_origin``), and the state
keyed on it: spellings of one server (case, default port, trailing dot, IDN) are one server everywhere."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi import urls
from fedi.actors import read_actor
from fedi.store import Follower
from fedi.urls import ARCHIVE, authority, authority_of, domain_matches, host, host_name, origin, same_origin

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
names = st.lists(labels, min_size=1, max_size=4).map(".".join)
schemes = st.sampled_from(["http", "https"])
ports = st.integers(min_value=1, max_value=65535)
paths = st.sampled_from(["", "/", "/users/a", "/inbox", "/a/b?c=d#e"])


def respell(name: str, draw_case: list[bool], dot: bool) -> str:
    """The same host name with some letters upper case and maybe a trailing dot."""
    mixed = "".join(c.upper() if i < len(draw_case) and draw_case[i] else c for i, c in enumerate(name))
    return mixed + ("." if dot else "")


@given(schemes, names, st.lists(st.booleans(), max_size=40), st.booleans(), paths, paths)
def test_spellings_of_one_server_are_one_server(scheme, name, case, dot, path_a, path_b):
    """Case, a trailing dot and the explicit default port change nothing: one authority, host and origin."""
    default = urls.DEFAULT_PORTS[scheme]
    plain = f"{scheme}://{name}{path_a}"
    other = f"{scheme.upper()}://{respell(name, case, dot)}:{default}{path_b}"
    assert authority(plain) == authority(other) == name
    assert host(plain) == host(other) == name
    assert origin(plain) == origin(other) == (scheme, name, default)
    assert same_origin(plain, other)


@given(schemes, names, ports, paths)
def test_a_port_other_than_the_default_is_kept(scheme, name, port, path):
    """Another port is another server: it stays in the authority and the origin, not in the host."""
    url = f"{scheme}://{name}:{port}{path}"
    expected = name if port == urls.DEFAULT_PORTS[scheme] else f"{name}:{port}"
    assert authority(url) == expected
    assert host(url) == name
    assert same_origin(url, f"{scheme}://{name}{path}") == (port == urls.DEFAULT_PORTS[scheme])


@given(names, paths)
def test_the_scheme_is_part_of_the_origin(name, path):
    assert not same_origin(f"http://{name}{path}", f"https://{name}{path}")
    assert not same_origin(f"http://{name}:443{path}", f"https://{name}{path}")


@given(st.text(max_size=30))
def test_anything_parses_to_an_identity_or_nothing(text):
    """No input raises; what has no host has no identity, and is never the same origin as anything."""
    for candidate in (text, f"https://{text}/", f"http://{text}"):
        found = origin(candidate)
        assert found is None or (found.host and found.host == found.host.lower())
        assert isinstance(authority(candidate), str) and isinstance(host(candidate), str)
        if found is None:
            assert authority(candidate) == host(candidate) == ""
            assert not same_origin(candidate, candidate)


def test_the_six_former_spellings_agree():
    """The case that split one server into two before: every per-host reader now names it alike."""
    url = "https://Example.com:443/inbox"
    assert authority(url) == "example.com"
    assert host(url) == "example.com"
    assert same_origin(url, "https://example.com/users/a")
    actor = read_actor({"id": "https://Example.com:443/users/a", "type": "Person",
                        "inbox": "https://example.com/users/a/inbox", "preferredUsername": "a"})
    assert actor.host == "example.com"


def test_internationalized_names_are_punycode():
    """An IDN and its punycode are one server, as the client (yarl) connects to it."""
    assert host_name("Bücher.Example.") == "xn--bcher-kva.example"
    assert authority("https://Bücher.example:443/x") == "xn--bcher-kva.example"
    assert same_origin("https://bücher.example/a", "https://xn--bcher-kva.example/b")
    assert domain_matches(host("https://www.bücher.example/"), host_name("BÜCHER.example"))


def test_ipv6_and_odd_input():
    assert authority("https://Mastodon.Example:443/users/a") == "mastodon.example"
    assert authority("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert authority("https://[::1]:8443/") == "[::1]:8443"
    assert authority("http://[::1]:80/") == "[::1]"
    assert host("https://[::1]:8443/") == "::1"
    assert origin("https://example.com:99999/") is None  # port out of range
    assert origin("not a url") is None
    assert not same_origin("garbage", "garbage")
    assert authority("https://user:pw@Example.com/") == "example.com"


def test_bare_authorities_read_like_urls():
    """A handle's domain (``user@Host:443``) compares with the URLs of the same server."""
    assert authority_of("Example.com:443") == "example.com"
    assert authority_of("example.com:8443") == "example.com:8443"
    assert authority_of("example.com:80", "http") == "example.com"
    for junk in ("", "a/b", "example.com#x", "example.com?x", "u@example.com", " example.com", "example.com\r\n"):
        assert authority_of(junk) == "", junk


def test_domain_blocks_match_subdomains_only():
    assert domain_matches("example.com", "example.com")
    assert domain_matches("a.example.com", "example.com")
    assert not domain_matches("badexample.com", "example.com")
    assert not domain_matches("example.com", "")


async def test_the_store_keys_hosts_by_authority(store):
    """Two followers on one server spelled two ways share one delivery target host (one per-host limit, one
    circuit breaker), and a delivery row for an answer uses the same key."""
    one = Follower(role=ARCHIVE, actor_id="https://example.com/users/a", inbox="https://example.com/users/a/inbox",
                   shared_inbox="https://Example.com:443/inbox", host="example.com", follow_id=None, since=NOW)
    two = Follower(role=ARCHIVE, actor_id="https://example.com/users/b", inbox="https://EXAMPLE.com./users/b/inbox",
                   shared_inbox=None, host="example.com", follow_id=None, since=NOW)
    await store.add_follower(one)
    await store.add_follower(two)
    targets = await store.targets_for(ARCHIVE)
    assert {t.host for t in targets} == {"example.com"}


@pytest.mark.parametrize(("url", "actor", "same"), [
    ("https://m.example/users/a/statuses/1", "https://m.example/users/a", True),  # the text says it
    ("https://M.EXAMPLE:443/x", "https://m.example/users/a", True),  # only parsing says it
    ("https://m.example.evil/x", "https://m.example/users/a", False),
    ("https://m.example:8443/x", "https://m.example/users/a", False),
    ("http://m.example/x", "https://m.example/users/a", False),
    ("https://m.example@evil.example/x", "https://m.example/users/a", False),
    ("https://m.example/x", "https://m.example", True),  # an actor id without a path
    ("http://h:99999/x", "http://h:99999/a", False),  # a URL that cannot be parsed is on no server
])
def test_same_origin_read_from_the_text_or_parsed(url, actor, same):
    """An id under the actor's own scheme://authority/ is decided from the text; anything else is parsed."""
    assert same_origin(url, actor) is same
