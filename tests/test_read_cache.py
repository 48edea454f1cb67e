"""The read caches: talk stamps in the store, cached documents in the routes, the start-up wait for entries."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from fedi import config as config_mod
from fedi import interactions
from fedi.app import make_app
from fedi.context import CTX, Context
from fedi.pages import Pages
from fedi.store import Store
from fedi.urls import Urls
from tests.conftest import write_config
from tests.storedata import NOW, at, change, comment

AS2 = "application/activity+json"


async def _both(store: Store, slug: str) -> tuple:  # type: ignore[type-arg]
    """The backend's stamp and the interface's composed default, which must agree."""
    return await store.talk_stamp(slug), await Store.talk_stamp(store, slug)


async def test_talk_stamp_follows_versions_counts_and_deletion(store: Store) -> None:
    """The one-query stamp equals the composed one as likes, boosts, approved replies and versions change."""
    assert await store.talk_stamp("t1") is None
    await store.publish([change("t1"), change("t2", when=at(1))], [], [])
    fast, slow = await _both(store, "t1")
    assert fast == slow and (fast.version, fast.deleted, fast.replies, fast.likes, fast.shares) == (0, False, 0, 0, 0)
    await store.add_reaction("like", "https://c.example/l/1", "https://c.example/users/a", "t1", NOW)
    await store.add_reaction("like", "https://c.example/l/2", "https://c.example/users/b", "t1", NOW)
    await store.add_reaction("announce", "https://c.example/s/1", "https://c.example/users/a", "t1", NOW)
    await store.add_comment(comment("https://c.example/n/1"))
    await store.add_comment(comment("https://c.example/n/2", state="pending"))
    await store.add_reaction("like", "https://c.example/l/3", "https://c.example/users/a", "t2", NOW)
    fast, slow = await _both(store, "t1")
    assert fast == slow and (fast.replies, fast.likes, fast.shares) == (1, 2, 1)
    await store.publish([change("t1", 1)], [], [])
    await store.publish([replace(change("t1", 1), deleted=at(5))], [], [])
    fast, slow = await _both(store, "t1")
    assert fast == slow and fast.version == 1 and fast.deleted


async def test_live_talk_stamps_page_like_live_talks(store: Store) -> None:
    """A page of stamps lists the same talks in the same order as live_talks, with the live total."""
    await store.publish([change(f"t{i}", when=at(i)) for i in range(5)], [], [])
    await store.publish([replace(change("t3"), deleted=at(9))], [], [])
    await store.add_reaction("like", "https://c.example/l/1", "https://c.example/users/a", "t4", NOW)
    total, page = await store.live_talk_stamps(1, 2)
    assert (total, page) == await Store.live_talk_stamps(store, 1, 2)
    assert total == 4 and [s.slug for s in page] == [r.slug for r in await store.live_talks(1, 2)]
    total, page = await store.live_talk_stamps(0, 1)
    assert page[0].slug == "t4" and page[0].likes == 1


@pytest.fixture
async def client(archive_dir: Path, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]
    write_config(archive_dir, archive={"watch_seconds": 0, "object_type": "Note"})  # counts embedded
    return await aiohttp_client(make_app(config_mod.load(archive_dir / "config.toml"), background=False))


async def test_cached_talk_documents_follow_every_change(client: TestClient) -> None:
    """Talk object, Create, outbox page and talk page are served from cache, yet show each like, approved or
    hidden reply and edit at the next request."""
    ctx = client.app[CTX]
    talk = ctx.urls.talk("debat")

    async def fetch() -> tuple[dict, dict, dict, str]:  # type: ignore[type-arg]
        obj = await (await client.get("/talks/debat", headers={"Accept": AS2})).json(content_type=None)
        create = await (await client.get("/talks/debat/create", headers={"Accept": AS2})).json(content_type=None)
        page = await (await client.get("/actors/archive/outbox?page=1", headers={"Accept": AS2})).json(
            content_type=None)
        html = await (await client.get("/talks/debat", headers={"Accept": "text/html"})).text()
        return obj, create, page, html

    first = await fetch()
    assert first == await fetch()  # the second read comes from the cache, unchanged
    assert first[0]["likes"]["totalItems"] == 0
    await ctx.store.add_reaction("like", "https://c.example/l/1", "https://c.example/users/a", "debat", NOW)
    reply = replace(comment("https://c.example/n/1", slug="debat"), content_html="<p>first words</p>")
    await ctx.store.add_comment(reply)
    obj, create, page, html = await fetch()
    assert obj["likes"]["totalItems"] == 1 and create["object"]["likes"]["totalItems"] == 1
    assert page["orderedItems"][0]["object"]["likes"]["totalItems"] == 1
    assert obj["replies"]["totalItems"] == 1 and "first words" in html
    await ctx.store.update_comment_content(reply.id, reply.author_id, "<p>second words</p>", at(60))
    html = (await fetch())[3]
    assert "second words" in html and "first words" not in html
    await ctx.store.set_comment_state(reply.id, "hidden")
    obj, _, _, html = await fetch()
    assert obj["replies"]["totalItems"] == 0 and "second words" not in html
    assert talk == obj["id"]


async def test_entries_wait_for_the_first_reading(tmp_path: Path, archive_dir: Path) -> None:
    """Pages needing the archive's entries wait until the folder has been read once, then get them."""
    config = config_mod.load(archive_dir / "config.toml")
    urls = Urls(config.server.base_url, config.actor.username, config.owner.username)
    ctx = Context(config=config, urls=urls, keys={}, store=None, pages=Pages(config, urls),  # type: ignore[arg-type]
                  dispatcher=interactions.dispatcher())
    waiting = asyncio.ensure_future(ctx.entries())
    await asyncio.sleep(0)
    assert not waiting.done()
    ctx.talks = {"x": None}  # type: ignore[dict-item]
    ctx.loaded.set()
    assert await waiting == {"x": None}
    assert await ctx.entries() == {"x": None}  # no wait once read


async def test_data_version_moves_with_every_commit_from_anyone(store: Store, store_url: str) -> None:
    """The store's data_version changes after its own writes and after another connection's (another process,
    such as the CLI), and only then; a backend that cannot tell answers None."""
    from fedi.store import open_store

    first = await store.data_version()
    if first is None:
        pytest.skip("this backend does not offer a cheap data_version")
    assert await store.data_version() == first
    await store.block("a.example")
    second = await store.data_version()
    assert second != first
    async with open_store(store_url) as other:  # another connection, as `fedi block` in another process
        await other.block("b.example")
    assert await store.data_version() not in (first, second)


async def test_writes_from_another_process_reach_cached_reads(client: TestClient, archive_dir: Path) -> None:
    """A reply approved by the CLI (another connection to the store) shows at the next read of the talk."""
    from fedi.store import open_store

    ctx = client.app[CTX]
    reply = replace(comment("https://c.example/n/9", slug="debat", state="pending"), content_html="<p>late</p>")
    await ctx.store.add_comment(reply)
    html = await (await client.get("/talks/debat", headers={"Accept": "text/html"})).text()
    assert "late" not in html and html == await (await client.get("/talks/debat")).text()
    async with open_store(ctx.config.store.url) as cli_store:
        await cli_store.set_comment_state(reply.id, "approved")
    assert "late" in await (await client.get("/talks/debat")).text()


async def test_data_version_is_read_once_per_turn_of_the_event_loop(store: Store, store_url: str) -> None:
    """Under load one turn of the loop handles many requests: they share one read of data_version, and a commit
    by another process is seen from the next turn on."""
    import sqlite3

    first = await store.data_version()
    if first is None or not store_url.startswith("sqlite"):
        pytest.skip("this backend does not offer a cheap data_version")
    other = sqlite3.connect(store_url[len("sqlite:///"):], isolation_level=None)
    try:
        other.execute("INSERT INTO blocks (value) VALUES ('c.example')")
        assert await store.data_version() == first  # the same turn: the value read at its start
        await asyncio.sleep(0)
        assert await store.data_version() != first
    finally:
        other.close()
