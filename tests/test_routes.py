"""routes: what a remote server or a browser gets over HTTP from a running fedi on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient

from fedi import config as config_mod
from fedi import schemas
from fedi.app import make_app, sync_archive
from fedi.context import CTX
from tests.conftest import ENTRY, write_config

AS2 = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BASE = "http://127.0.0.1:8080"


@pytest.fixture
async def client(archive_dir: Path, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    """A fedi app over the test archive with three more talks, so paging has something to walk."""
    outbox = archive_dir / "outbox"
    for i, when in enumerate(["2011-01-01", "2012-01-01", "2013-01-01"]):
        (outbox / f"extra-{i}.toml").write_text(
            ENTRY.replace("Un débat", f"Débat {i}").replace("2010-03-06T14:00:00+01:00", when), encoding="utf-8")
    write_config(archive_dir, archive={"page_size": 2, "watch_seconds": 0})
    cfg = config_mod.load(archive_dir / "config.toml")
    return await aiohttp_client(make_app(cfg, background=False))


def path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def get_as2(client: TestClient, url: str, accept: str = AS2) -> dict:
    resp = await client.get(path(url), headers={"Accept": accept})
    assert resp.status == 200, (url, resp.status, await resp.text())
    assert resp.headers["Content-Type"].startswith(AS2)
    assert "Accept" in resp.headers.get("Vary", "")
    return await resp.json(content_type=None)


# discovery ---------------------------------------------------------------------------

async def test_webfinger_round_trip_like_mastodon(client: TestClient) -> None:
    """acct:archive@host → self link → actor whose preferredUsername and id host WebFinger back to it."""
    resp = await client.get("/.well-known/webfinger", params={"resource": "acct:archive@127.0.0.1:8080"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/jrd+json")
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    jrd = await resp.json(content_type=None)
    assert jrd["subject"] == "acct:archive@127.0.0.1:8080"
    self_link = next(link for link in jrd["links"] if link["rel"] == "self")
    assert self_link["type"] == AS2
    actor = await get_as2(client, self_link["href"])
    assert actor["id"] == self_link["href"]
    host = urlsplit(actor["id"]).netloc
    back = await client.get("/.well-known/webfinger",
                            params={"resource": f"acct:{actor['preferredUsername']}@{host}"})
    assert next(li["href"] for li in (await back.json(content_type=None))["links"] if li["rel"] == "self") \
        == actor["id"]
    by_url = await client.get("/.well-known/webfinger", params={"resource": actor["id"]})
    assert (await by_url.json(content_type=None))["subject"] == "acct:archive@127.0.0.1:8080"
    owner = await client.get("/.well-known/webfinger", params={"resource": "acct:assoc@127.0.0.1:8080"})
    assert owner.status == 200


@pytest.mark.parametrize(("params", "status"), [
    ({}, 400),
    ({"resource": ""}, 400),
    ({"resource": "acct:nobody@127.0.0.1:8080"}, 404),
    ({"resource": "acct:archive@other.example"}, 404),
    ({"resource": "https://other.example/actors/archive"}, 404),
])
async def test_webfinger_errors(client: TestClient, params: dict, status: int) -> None:
    """No or empty resource is 400; unknown users and other hosts are 404; all with CORS and JSON."""
    resp = await client.get("/.well-known/webfinger", params=params)
    assert resp.status == status
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "error" in await resp.json(content_type=None)


async def test_host_meta_and_nodeinfo(client: TestClient) -> None:
    """host-meta carries the lrdd template; NodeInfo 2.0 and 2.1 count two users and the published talks."""
    xrd = await (await client.get("/.well-known/host-meta")).text()
    assert 'rel="lrdd"' in xrd and f"{BASE}/.well-known/webfinger?resource={{uri}}" in xrd
    index = await (await client.get("/.well-known/nodeinfo")).json()
    hrefs = [link["href"] for link in index["links"]]
    assert f"{BASE}/nodeinfo/2.0" in hrefs and f"{BASE}/nodeinfo/2.1" in hrefs
    for version in ("2.0", "2.1"):
        resp = await client.get(f"/nodeinfo/{version}")
        info = await resp.json(content_type=None)
        assert info["version"] == version
        assert info["software"]["name"] == "fedi"
        assert info["protocols"] == ["activitypub"]
        assert info["openRegistrations"] is False
        assert info["usage"]["users"]["total"] == 2
        assert info["usage"]["localPosts"] == 4
        assert info["metadata"]["nodeName"] == "Test archive"


# actors and collections -------------------------------------------------------------------

@pytest.mark.parametrize("accept", [AS2, LD, "application/ld+json", f"text/html;q=0.5, {AS2}"])
async def test_actors_pass_receiver_profiles(client: TestClient, accept: str) -> None:
    """Both actors, fetched with any AS2 Accept form, satisfy what Mastodon and PeerTube require."""
    group = await get_as2(client, f"{BASE}/actors/archive", accept)
    person = await get_as2(client, f"{BASE}/actors/assoc", accept)
    assert group["type"] == "Group" and person["type"] == "Person"
    assert person["id"] in group["attributedTo"] or {"type": "Person", "id": person["id"]} in group["attributedTo"]
    for doc in (group, person):
        assert schemas.first_error("mastodon_actor", doc) is None
        assert schemas.first_error("peertube_actor", doc) is None
        assert doc["publicKey"]["id"] == doc["id"] + "#main-key"


async def test_outbox_walked_end_to_end(client: TestClient) -> None:
    """first → next → … visits every Create once, newest first, each identical to the document at its id."""
    outbox = await get_as2(client, f"{BASE}/actors/archive/outbox")
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 4
    url, seen, pages = outbox["first"], [], 0
    while url:
        page = await get_as2(client, url)
        assert page["type"] == "OrderedCollectionPage" and page["partOf"] == outbox["id"]
        assert len(page["orderedItems"]) <= 2
        seen.extend(page["orderedItems"])
        url, pages = page.get("next"), pages + 1
    assert pages == 2 and page["id"] == outbox["last"]
    assert len(seen) == 4
    published = [item["object"]["published"] for item in seen]
    assert published == sorted(published, reverse=True)
    for create in seen:
        assert create["type"] == "Create"
        alone = await get_as2(client, create["id"])
        assert {k: v for k, v in alone.items() if k != "@context"} == \
            {k: v for k, v in create.items() if k != "@context"}
        obj = await get_as2(client, create["object"]["id"])
        assert {k: v for k, v in obj.items() if k != "@context"} == create["object"]
        assert schemas.first_error("peertube_video", obj) is None


@pytest.mark.parametrize("url", [
    "/actors/archive/outbox?page=3", "/actors/assoc/outbox?page=3", "/actors/archive/outbox?page=999999999",
    "/talks/debat/replies?page=2",
])
async def test_a_page_past_the_last_one_is_404(client: TestClient, url: str) -> None:
    """Paged collections end at their last page (an empty one still has page 1): a client cannot make the
    server build, answer and cache pages of its choosing."""
    resp = await client.get(url, headers={"Accept": AS2})
    assert resp.status == 404, await resp.text()
    assert json.loads(await resp.text()) == {"error": "no such page"}
    last = url.rsplit("=", 1)[0] + ("=2" if "outbox" in url else "=1")
    assert (await client.get(last, headers={"Accept": AS2})).status == 200


async def test_served_documents_are_cached_within_the_configured_size(archive_dir: Path, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """server.cache_entries bounds the served-document cache: reading every talk and page of an archive
    larger than it keeps at most that many entries, and the documents stay right."""
    outbox = archive_dir / "outbox"
    for i in range(12):
        (outbox / f"more-{i}.toml").write_text(ENTRY.replace("Un débat", f"Débat {i}"), encoding="utf-8")
    write_config(archive_dir, server={"cache_entries": 16}, archive={"page_size": 1, "watch_seconds": 0})
    app = make_app(config_mod.load(archive_dir / "config.toml"), background=False)
    client = await aiohttp_client(app)
    ctx = app[CTX]
    for _ in range(2):
        for n in range(1, 14):
            page = await get_as2(client, f"{BASE}/actors/archive/outbox?page={n}")
            slug = page["orderedItems"][0]["object"]["id"].rsplit("/", 1)[1]
            assert (await get_as2(client, f"{BASE}/talks/{slug}"))["id"].endswith(slug)
        assert len(ctx.cache) <= 16 and len(ctx.checked) <= 16


async def test_owner_outbox_lists_announces(client: TestClient) -> None:
    """The Person's outbox holds its Announces of the talks, each dereferenceable."""
    outbox = await get_as2(client, f"{BASE}/actors/assoc/outbox")
    page = await get_as2(client, outbox["first"])
    assert {item["type"] for item in page["orderedItems"]} == {"Announce"}
    alone = await get_as2(client, page["orderedItems"][0]["id"])
    assert alone["type"] == "Announce"


async def test_collections(client: TestClient) -> None:
    """followers counts only (items hidden by default), following is empty, featured is an OrderedCollection."""
    followers = await get_as2(client, f"{BASE}/actors/archive/followers")
    assert followers["totalItems"] == 0 and "orderedItems" not in followers
    following = await get_as2(client, f"{BASE}/actors/archive/following")
    assert following["totalItems"] == 0
    featured = await get_as2(client, f"{BASE}/actors/assoc/featured")
    assert featured["type"] == "OrderedCollection"


# content negotiation -------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/actors/archive", "/actors/assoc", "/talks/debat"])
@pytest.mark.parametrize(("accept", "as2"), [
    (AS2, True), (LD, True), ("application/ld+json", True), ("application/activity+json; q=0.9", True),
    ("text/html", False), ("text/html,application/xhtml+xml,*/*;q=0.8", False), ("*/*", False), (None, False),
    ("application/activity+json;q=0", False),
])
async def test_content_negotiation_matrix(client: TestClient, url: str, accept: str | None, as2: bool) -> None:
    """AS2 when Accept names it with q > 0, HTML otherwise; Vary: Accept always; HTML links its AS2 twin."""
    headers = {"Accept": accept} if accept else {}
    resp = await client.get(url, headers=headers)
    assert resp.status == 200
    assert "Accept" in resp.headers["Vary"]
    if as2:
        assert resp.headers["Content-Type"].startswith(AS2)
        assert (await resp.json(content_type=None))["id"] == BASE + url
    else:
        assert resp.headers["Content-Type"].startswith("text/html")
        text = await resp.text()
        assert f'<link rel="alternate" type="application/activity+json" href="{BASE}{url}">' in text


async def test_talk_page_has_player_and_handle(client: TestClient) -> None:
    """The HTML talk page plays every media file with its poster and tells how to follow."""
    text = await (await client.get("/talks/debat")).text()
    assert '<video' in text and f'{BASE}/media/media/talk.webm' in text and f'poster="{BASE}/media/media/poster.png"'
    assert "archive@127.0.0.1:8080" in text


# errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "url", "status"), [
    ("GET", "/nope", 404), ("GET", "/actors/nobody", 404), ("GET", "/talks/nope", 404),
    ("GET", "/actors/archive/outbox?page=0", 400), ("GET", "/actors/archive/outbox?page=x", 400),
    ("DELETE", "/actors/archive", 405), ("PUT", "/talks/debat", 405), ("POST", "/.well-known/webfinger", 405),
])
async def test_errors_for_machines_are_json(client: TestClient, method: str, url: str, status: int) -> None:
    """AS2 clients get errors as JSON with the right status."""
    resp = await client.request(method, url, headers={"Accept": AS2})
    assert resp.status == status
    assert "error" in json.loads(await resp.text())


async def test_errors_for_people_are_pages(client: TestClient) -> None:
    """A browser gets an HTML 404 page, for an unknown talk as for a path no route takes."""
    for path in ("/talks/nope", "/nope/at/all"):
        resp = await client.get(path, headers={"Accept": "text/html"})
        assert resp.status == 404 and resp.headers["Content-Type"].startswith("text/html")


async def test_a_method_no_route_takes_is_405_with_allow(client: TestClient) -> None:
    """What the routes do not take on a path they serve is 405 naming the methods they take."""
    resp = await client.request("PUT", "/talks/debat", headers={"Accept": AS2})
    assert resp.status == 405 and set(resp.headers["Allow"].split(",")) == {"GET", "HEAD"}
    resp = await client.request("POST", "/talks/debat/embed")
    assert resp.status == 405 and "GET" in resp.headers["Allow"]


# media -------------------------------------------------------------------------------------------

async def test_media_range_requests(client: TestClient, archive_dir: Path) -> None:
    """Seeking works: Range gives 206 with the exact bytes; ETag and Last-Modified allow revalidation."""
    data = (archive_dir / "outbox" / "media" / "talk.webm").read_bytes()
    full = await client.get("/media/media/talk.webm")
    assert full.status == 200 and await full.read() == data
    assert full.headers["Content-Type"] == "video/webm"
    assert full.headers["Accept-Ranges"] == "bytes"
    assert "max-age" in full.headers["Cache-Control"]
    etag, modified = full.headers["ETag"], full.headers["Last-Modified"]
    part = await client.get("/media/media/talk.webm", headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = await client.get("/media/media/talk.webm", headers={"Range": "bytes=-10"})
    assert await tail.read() == data[-10:]
    bad = await client.get("/media/media/talk.webm", headers={"Range": f"bytes={len(data) + 5}-"})
    assert bad.status == 416
    again = await client.get("/media/media/talk.webm", headers={"If-None-Match": etag})
    assert again.status == 304
    since = await client.get("/media/media/talk.webm", headers={"If-Modified-Since": modified})
    assert since.status == 304
    poster = await client.get("/media/media/poster.png")
    assert poster.headers["Content-Type"] == "image/png"
    assert hashlib.sha256(await poster.read()).digest()


@pytest.mark.parametrize("url", [
    "/media/../config.toml", "/media/%2e%2e/config.toml", "/media/media/%2e%2e/%2e%2e/config.toml",
    "/media/debat.toml", "/media//etc/passwd", "/media/media/../../keys/archive.private.pem",
    "/media/%2fetc%2fpasswd", "/media/media%5c..%5cconfig.toml", "/media/.hidden", "/static/../app.py",
])
async def test_path_escapes_are_refused(client: TestClient, archive_dir: Path, url: str) -> None:
    """Nothing outside the archive folder (nor the entries, nor hidden files) is reachable."""
    (archive_dir / "outbox" / ".hidden").write_text("secret")
    resp = await client.get(url, headers={"Accept": "text/html"})
    assert resp.status == 404
    body = await resp.text()
    assert "PRIVATE KEY" not in body and "base_url" not in body and "secret" not in body


async def test_symlink_out_of_the_archive_is_refused(client: TestClient, archive_dir: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """A symlink inside the archive that points outside it is not followed."""
    outside = tmp_path_factory.mktemp("out") / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, archive_dir / "outbox" / "media" / "escape.webm")
    resp = await client.get("/media/media/escape.webm")
    assert resp.status == 404


async def test_reaction_and_reply_collections(client: TestClient) -> None:
    """PeerTube fetches likes/dislikes/shares by URL for their counts; replies is a paged Collection."""
    video = await get_as2(client, f"{BASE}/talks/debat")
    for key in ("likes", "dislikes", "shares"):
        counts = await get_as2(client, video[key])
        assert counts["type"] == "OrderedCollection" and counts["totalItems"] == 0 and counts["id"] == video[key]
    replies = await get_as2(client, video["replies"]["id"])
    assert replies["type"] == "Collection" and replies["totalItems"] == 0
    page = await get_as2(client, replies["first"])
    assert page["type"] == "CollectionPage" and page["items"] == [] and page["partOf"] == replies["id"]


async def test_note_mode_serves_notes_mastodon_accepts(archive_dir: Path, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """With archive.object_type = "Note", talks are served as Notes that pass the Mastodon profile."""
    write_config(archive_dir, archive={"object_type": "Note", "watch_seconds": 0})
    client = await aiohttp_client(make_app(config_mod.load(archive_dir / "config.toml"), background=False))
    note = await get_as2(client, f"{BASE}/talks/debat")
    assert note["type"] == "Note" and "summary" not in note
    assert schemas.first_error("mastodon_note", note) is None
    outbox = await get_as2(client, f"{BASE}/actors/archive/outbox")
    page = await get_as2(client, outbox["first"])
    assert page["orderedItems"][0]["object"]["type"] == "Note"


# uuid-named media, as PeerTube and Mastodon get them ----------------------------------------------

async def test_talk_files_are_served_under_uuid_names(client: TestClient, archive_dir: Path) -> None:
    """Each file Link of a Video has a basename starting with the talk's uuid; fedi serves a local file there
    with Range (206, the exact bytes), and the old path keeps working."""
    data = (archive_dir / "outbox" / "media" / "talk.webm").read_bytes()
    video = await get_as2(client, f"{BASE}/talks/debat")
    [link] = [u for u in video["url"] if u["mediaType"] == "video/webm"]
    assert link["href"] == f"{BASE}/media/{video['uuid']}-talk.webm"
    full = await client.get(path(link["href"]))
    assert full.status == 200 and await full.read() == data
    assert full.headers["Content-Type"] == "video/webm" and full.headers["Accept-Ranges"] == "bytes"
    part = await client.get(path(link["href"]), headers={"Range": "bytes=1000-1999"})
    assert part.status == 206 and await part.read() == data[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    old = await client.get("/media/media/talk.webm", headers={"Range": "bytes=0-9"})
    assert old.status == 206 and await old.read() == data[:10]
    names = set()
    for slug in ("debat", "extra-0", "extra-1", "extra-2"):  # the same file in four talks: four basenames
        obj = await get_as2(client, f"{BASE}/talks/{slug}")
        names.update(u["href"].rsplit("/", 1)[1] for u in obj["url"] if u["mediaType"] != "text/html")
    assert len(names) == 4


async def test_a_file_hosted_elsewhere_is_a_redirect(archive_dir: Path, aiohttp_client) -> None:  # type: ignore[no-untyped-def]
    """A media URL in the entry is published under a uuid-named URL of ours, which redirects to the file
    (fedi never fetches it); an unknown name under a talk's uuid, or an unknown uuid, is 404."""
    remote = "https://cdn.example.net/talks/2010/talk%20hd.mp4"
    entry = ENTRY + f'\n[[media]]\nurl = "{remote}"\ntype = "video/mp4"\nheight = 720\nsize = 5000\n'
    (archive_dir / "outbox" / "debat.toml").write_text(entry, encoding="utf-8")
    write_config(archive_dir, archive={"watch_seconds": 0})
    client = await aiohttp_client(make_app(config_mod.load(archive_dir / "config.toml"), background=False))
    video = await get_as2(client, f"{BASE}/talks/debat")
    [link] = [u for u in video["url"] if u["mediaType"] == "video/mp4"]
    assert link["href"] == f"{BASE}/media/{video['uuid']}-talk%20hd.mp4"
    resp = await client.get(path(link["href"]), allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == remote
    assert [a["url"] for a in video["attachment"]] == [link["href"]]
    for url in (f"/media/{video['uuid']}-other.webm", "/media/0b7e3c1e-5d2a-4f7b-9a61-2f3c4d5e6f70-talk.webm"):
        assert (await client.get(url)).status == 404


async def test_a_talk_added_later_has_its_files_served(client: TestClient, archive_dir: Path) -> None:
    """After a sync reads the folder again, the files of a new talk are found under its uuid (and a removed
    talk's uuid names nothing)."""
    outbox = archive_dir / "outbox"
    (outbox / "nouveau.toml").write_text(ENTRY, encoding="utf-8")
    (outbox / "extra-0.toml").unlink()
    ctx = client.server.app[CTX]
    gone = ctx.urls.talk_files("extra-0", ["media/talk.webm"])[0]
    assert (await client.get(path(gone))).status == 200
    await sync_archive(ctx)
    href = ctx.urls.talk_files("nouveau", ["media/talk.webm"])[0]
    assert (await client.get(path(href))).status == 200
    assert (await client.get(path(gone))).status == 404


async def test_peertube_accepts_everything_as_it_fetches_it(client: TestClient) -> None:
    """Group → Person → both outboxes → each Video, fetched as PeerTube does, pass its profiles; each Video
    names a same-host Group whose owner is a same-host Person, and no two files share a basename."""
    group = await get_as2(client, f"{BASE}/actors/archive")
    assert schemas.first_error("peertube_actor", group) is None and isinstance(group["url"], str)
    [owner] = [a["id"] for a in group["attributedTo"] if a["type"] == "Person"]
    person = await get_as2(client, owner)
    assert schemas.first_error("peertube_actor", person) is None and isinstance(person["url"], str)
    assert urlsplit(owner).netloc == urlsplit(group["id"]).netloc
    videos: list[str] = []
    for actor in (group, person):
        url = (await get_as2(client, actor["outbox"]))["first"]
        while url:
            page = await get_as2(client, url)
            videos += [item["object"] if isinstance(item["object"], str) else item["object"]["id"]
                       for item in page["orderedItems"]]
            url = page.get("next")
    basenames: list[str] = []
    for video_id in dict.fromkeys(videos):
        video = await get_as2(client, video_id)
        assert schemas.first_error("peertube_video", video) is None, video_id
        assert video["attributedTo"][0] == {"type": "Group", "id": group["id"]}
        assert video["url"][0]["mediaType"] == "text/html"
        basenames += [u["href"].rsplit("/", 1)[1] for u in video["url"][1:]]
    assert len(videos) == 8 and len(basenames) == len(set(basenames)) == 4


# the player card: oEmbed and the embed page ----------------------------------------------------------

async def test_oembed_answer_found_from_the_talk_page(client: TestClient) -> None:
    """The talk page's oEmbed link answers a `video` whose html frames the embed page, which plays the talk
    and may be framed by any site."""
    text = await (await client.get("/talks/debat")).text()
    href = text.split('type="application/json+oembed" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    resp = await client.get(path(href))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
    doc = await resp.json()
    embed = f"{BASE}/talks/debat/embed"
    assert doc == {
        "type": "video", "version": "1.0", "title": "Un débat", "author_name": "Alice Martin, Bob Durand",
        "author_url": f"{BASE}/actors/archive", "provider_name": "Test archive", "provider_url": f"{BASE}/",
        "thumbnail_url": f"{BASE}/media/media/poster.png", "thumbnail_width": 2, "thumbnail_height": 1,
        "width": 640, "height": 360,
        "html": f'<iframe src="{embed}" width="640" height="360" title="Un débat" frameborder="0" '
                'allowfullscreen></iframe>'}
    page = await client.get(path(embed))
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "X-Frame-Options" not in page.headers and "frame-ancestors" not in await page.text()
    body = await page.text()
    assert f'<source src="{BASE}/media/media/talk.webm" type="video/webm">' in body
    assert f'href="{BASE}/talks/debat"' in body
    small = await (await client.get("/oembed", params={"url": f"{BASE}/talks/debat", "maxwidth": "320"})).json()
    assert (small["width"], small["height"]) == (320, 180) and 'width="320" height="180"' in small["html"]


@pytest.mark.parametrize(("params", "status"), [
    ({"url": f"{BASE}/talks/debat", "format": "xml"}, 501),
    ({"url": f"{BASE}/talks/nope"}, 404),
    ({"url": "https://other.example/talks/debat"}, 404),
    ({"url": f"{BASE}/actors/archive"}, 404),
    ({"url": f"{BASE}/talks/debat/embed"}, 404),
    ({}, 400),
    ({"url": f"{BASE}/talks/debat", "maxwidth": "-1"}, 400),
])
async def test_oembed_errors_are_json(client: TestClient, params: dict, status: int) -> None:
    """Not one of our talks: 404; another format: 501; a malformed request: 400; always a JSON reason."""
    resp = await client.get("/oembed", params=params, headers={"Accept": "text/html"})
    assert resp.status == status
    assert resp.headers["Content-Type"].startswith("application/json")
    assert (await resp.json())["error"]


async def test_embed_page_of_an_unknown_talk_is_404(client: TestClient) -> None:
    """Only published talks have an embed page."""
    assert (await client.get("/talks/nope/embed")).status == 404
