"""Pinned talks: ``pinned = true`` in an entry → the archive's ``featured`` collection, and Add/Remove + Update of
the archive sent once to the followers, through the planner, the store (both backends) and a real follower."""

from __future__ import annotations

import datetime as dt

import pytest

from fedi import publish
from fedi.app import sync_archive
from fedi.config import urls_for
from fedi.store import Pin, TalkRecord
from fedi.talks import load_archive, parse_entry
from fedi.urls import ARCHIVE
from tests.conftest import ENTRY
from tests.fedi_app import FediApp
from tests.remote import RemoteServer
from tests.test_interactions import follows, served

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
PINNED = ENTRY.replace("[[media]]", "pinned = true\n\n[[media]]")


def entry(config, text: str = PINNED, slug: str = "debat"):
    return parse_entry(slug, text, config.archive.dir, "fr")


def kinds(result_or_plan) -> list[tuple[str, str, list[str]]]:
    return [(s.kind, s.slug, [a["type"] for a in s.activities]) for s in result_or_plan.steps]


# the planner ----------------------------------------------------------------------------------------------------

def test_pinned_is_an_optional_boolean(config):
    """The entry contract: ``pinned`` defaults to false and must be a boolean."""
    assert entry(config, ENTRY).pinned is False and entry(config).pinned is True
    with pytest.raises(Exception, match="pinned"):
        entry(config, ENTRY.replace("[[media]]", 'pinned = "yes"\n\n[[media]]'))


def test_plan_pins_and_unpins_once(config):
    """A pin → Add (target: featured) then one Update of the archive; the same state again → nothing; an unpin →
    Remove and Update; a pinned talk that goes → only its Delete. Each change has ids of its own."""
    urls = urls_for(config)
    group = {"id": urls.actor(ARCHIVE), "type": "Group", "followers": urls.followers(ARCHIVE)}
    talk = entry(config)
    first = publish.plan(config, urls, [talk], {}, publish.Targets(), T0, pins={}, archive=group)
    assert kinds(first) == [("create", "debat", ["Create", "Announce"]), ("pin", "debat", ["Add", "Update"])]
    assert first.pins == (Pin("debat", 1, True, T0),)
    add, update = first.steps[1].activities
    assert (add["actor"], add["object"], add["target"]) == (urls.actor(ARCHIVE), urls.talk("debat"),
                                                            urls.featured(ARCHIVE))
    assert update["object"]["id"] == urls.actor(ARCHIVE) and update["actor"] == urls.actor(ARCHIVE)
    assert [a.slug for a in first.activities] == ["debat", "debat", "debat", None]  # the Update is the archive's
    records = {c.slug: _record(c) for c in first.changes}
    pins = {p.slug: p for p in first.pins}
    assert not publish.plan(config, urls, [talk], records, publish.Targets(), T1, pins=pins, archive=group).writes
    unpinned = publish.plan(config, urls, [entry(config, ENTRY)], records, publish.Targets(), T1, pins=pins,
                            archive=group)
    assert kinds(unpinned) == [("unpin", "debat", ["Remove", "Update"])]
    assert unpinned.pins == (Pin("debat", 2, False, T1),)
    assert {a.id for a in unpinned.activities}.isdisjoint(a.id for a in first.activities)
    gone = publish.plan(config, urls, [], records, publish.Targets(), T1, pins=pins, archive=group)
    assert kinds(gone) == [("delete", "debat", ["Delete"])] and gone.pins == (Pin("debat", 2, False, T1),)
    kept = publish.plan(config, urls, [], records, publish.Targets(), T1, pins=pins, archive=group, keep={"debat"})
    assert not kept.writes  # an entry that cannot be read keeps its talk, and its pin


def _record(change) -> TalkRecord:
    return TalkRecord(change.slug, change.uuid, change.version, change.object_hash, change.published,
                      change.updated, change.deleted, change.object)


# through sync, the store and a real follower --------------------------------------------------------------------

async def test_pin_and_unpin_reach_a_follower_once(fedi, remote_server: RemoteServer, archive_dir):
    """Pinning through sync sends Add and Update once, whatever the syncs and restarts after it; the featured
    collection lists the talk, then nothing once it is unpinned (Remove and Update, once)."""
    app: FediApp = await fedi()
    urls = app.ctx.urls
    await follows(app, remote_server, "alice")
    path = archive_dir / "outbox" / "debat.toml"
    featured = urls.featured(ARCHIVE)
    assert (await served(remote_server, featured))["orderedItems"] == []

    path.write_text(PINNED, encoding="utf-8")
    assert kinds(await sync_archive(app.ctx)) == [("pin", "debat", ["Add", "Update"])]
    assert not (await sync_archive(app.ctx)).changed
    app = await app.restart()  # the restarted app reads the folder again: nothing new to send
    assert not (await sync_archive(app.ctx)).changed
    await app.drain()
    doc = await served(remote_server, featured)
    assert (doc["type"], doc["totalItems"], doc["orderedItems"]) == ("OrderedCollection", 1, [urls.talk("debat")])
    got = [r for r in remote_server.received if r.path == "/inbox"]
    assert [r.json["type"] for r in got] == ["Add", "Update"] and all(r.verified for r in got)
    add, update = (r.json for r in got)
    assert (add["object"], add["target"]) == (urls.talk("debat"), featured)
    assert update["object"]["id"] == app.actor() and update["object"]["featured"] == featured
    assert update["object"]["publicKey"]["publicKeyPem"] == app.ctx.keys[ARCHIVE].public_pem

    # unpinned by another process's sync (fedi sync): its keys come from the keys folder
    path.write_text(ENTRY, encoding="utf-8")
    talks, _ = load_archive(app.config.archive.dir, "fr")
    result = await publish.sync(app.config, urls, app.ctx.store, talks, dt.datetime.now(dt.UTC))
    assert kinds(result) == [("unpin", "debat", ["Remove", "Update"])]
    assert not (await sync_archive(app.ctx)).changed
    await app.drain()
    got = [r.json for r in remote_server.received if r.path == "/inbox"]
    assert [d["type"] for d in got] == ["Add", "Update", "Remove", "Update"]
    assert got[2]["target"] == featured and got[3]["id"] != got[1]["id"]
    assert (await served(remote_server, featured))["orderedItems"] == []


async def test_featured_lists_only_live_pinned_talks_newest_first(fedi, remote_server: RemoteServer, archive_dir):
    """Two pinned talks, newest published first; an unpinned one is left out; a deleted pinned one leaves."""
    outbox = archive_dir / "outbox"
    app: FediApp = await fedi()  # publishes "debat" (unpinned)
    for n, slug in enumerate(("ancien", "recent")):
        (outbox / f"{slug}.toml").write_text(PINNED, encoding="utf-8")
        app.ctx.clock = lambda n=n: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=n + 1)
        await sync_archive(app.ctx)
    urls = app.ctx.urls
    doc = await served(remote_server, urls.featured(ARCHIVE))
    assert doc["orderedItems"] == [urls.talk("recent"), urls.talk("ancien")]
    (outbox / "recent.toml").unlink()
    assert kinds(await sync_archive(app.ctx)) == [("delete", "recent", ["Delete"])]
    assert (await served(remote_server, urls.featured(ARCHIVE)))["orderedItems"] == [urls.talk("ancien")]
    owner = await served(remote_server, urls.featured("owner"))
    assert owner["orderedItems"] == []
