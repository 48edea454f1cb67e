"""publish: from the archive folder to talk rows, activities and delivery rows, in one transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid as uuid_mod
from pathlib import Path

import pytest

from fedi import config as config_mod
from fedi import objects, preview, publish
from fedi.app import make_app, sync_archive
from fedi.cli import main
from fedi.config import urls_for
from fedi.context import CTX
from fedi.errors import ConfigError, StoreError
from fedi.store import Follower, TalkChange, Target, open_store
from fedi.talks import load_archive, parse_entry
from fedi.urls import ARCHIVE, OWNER
from tests.conftest import ENTRY, write_config

AS2 = "application/activity+json"
T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=5)
T2 = T0 + dt.timedelta(days=1)


@pytest.fixture
def urls(config):
    return urls_for(config)


@pytest.fixture
async def store(config):
    async with open_store(config.store.url) as s:
        yield s


def follower(role: str, name: str, host: str = "masto.example", shared: bool = True) -> Follower:
    actor = f"https://{host}/users/{name}"
    return Follower(role=role, actor_id=actor, inbox=f"{actor}/inbox",
                    shared_inbox=f"https://{host}/inbox" if shared else None, host=host, follow_id=None, since=T0)


async def followed(store) -> None:
    """Three archive followers behind one shared inbox, one with a personal inbox only, owner followers."""
    for name in ("alice", "bob", "carol"):
        await store.add_follower(follower(ARCHIVE, name))
    await store.add_follower(follower(ARCHIVE, "paul", "tube.example", shared=False))
    await store.add_follower(follower(OWNER, "dave"))                               # behind the same shared inbox
    await store.add_follower(follower(OWNER, "olga", "other.example", shared=False))  # owner only


def current(config):
    loaded, problems = load_archive(config.archive.dir, config.archive.language)
    assert not problems
    return loaded


async def rows(store):
    return await store.deliveries(limit=1000)


# pure planning -------------------------------------------------------------------------------------------------

def test_talk_uuid_is_a_stable_version_4_uuid(urls):
    """PeerTube only takes v4 UUIDs; the same talk id always gives the same one, another talk another."""
    first = uuid_mod.UUID(publish.talk_uuid(urls, "debat"))
    assert first.version == 4 and first.variant == uuid_mod.RFC_4122
    assert publish.talk_uuid(urls, "debat") == str(first) != publish.talk_uuid(urls, "other")


def test_plan_new_talk(config, urls):
    """A new entry: Create to the archive's followers, Announce to the owner's, published now, recorded date kept."""
    talk = current(config)[0]
    targets = publish.Targets(archive=(Target("https://a/inbox", "a", 3), Target("https://b/u/inbox", "b", 1)),
                              owner=(Target("https://a/inbox", "a", 1),),
                              everyone=(Target("https://a/inbox", "a", 4), Target("https://b/u/inbox", "b", 1)))
    plan = publish.plan(config, urls, [talk], {}, targets, T0)
    (change,) = plan.changes
    assert (change.slug, change.version, change.published, change.deleted) == ("debat", 0, T0, None)
    create, announce = (a.document for a in plan.activities)
    assert create["type"] == "Create" and create["id"] == urls.create("debat")
    assert create["published"] == create["object"]["published"] == "2026-03-01T10:00:00Z"
    assert create["object"]["originallyPublishedAt"] == "2010-03-06T13:00:00Z"
    assert create["to"] == [objects.PUBLIC] and create["cc"] == [urls.followers(ARCHIVE)]
    assert announce["type"] == "Announce" and announce["actor"] == urls.actor(OWNER)
    assert announce["object"] == urls.talk("debat")
    assert sorted((d.activity_id, d.inbox, d.actor_role) for d in plan.deliveries) == sorted([
        (create["id"], "https://a/inbox", ARCHIVE), (create["id"], "https://b/u/inbox", ARCHIVE),
        (announce["id"], "https://a/inbox", OWNER)])
    assert plan.deliveries[-1].activity_id == announce["id"]  # activity by activity, in order
    (step,) = plan.steps
    assert (step.kind, step.counts, step.inboxes, step.deliveries) == ("create", (2, 1), 2, 3)


def test_plan_note_carries_the_recording_date(archive_dir, urls):
    """A Note object carries originallyPublishedAt too, and published = now."""
    write_config(archive_dir, archive={"object_type": "Note"})
    config = config_mod.load(archive_dir / "config.toml")
    plan = publish.plan(config, urls, current(config), {}, publish.Targets(), T0)
    obj = plan.changes[0].object
    assert obj["type"] == "Note" and obj["published"] == "2026-03-01T10:00:00Z"
    assert obj["originallyPublishedAt"] == "2010-03-06T13:00:00Z"


def test_reformatting_an_entry_is_not_a_change(config, urls):
    """The object hash ignores dates and counters: the same talk built later is the same object."""
    talk = current(config)[0]
    a = publish.build_object(config, urls, talk, uuid="u", published=T0, updated=T0)
    b = publish.build_object(config, urls, talk, uuid="u", published=T0, updated=T2)
    assert publish.object_hash(a) == publish.object_hash(b)
    retitled = parse_entry("debat", ENTRY.replace("Un débat", "Un autre débat"), config.archive.dir, "fr")
    c = publish.build_object(config, urls, retitled, uuid="u", published=T0, updated=T0)
    assert publish.object_hash(a) != publish.object_hash(c)


# sync against the store -------------------------------------------------------------------------------------------

async def test_first_sync_writes_talk_activities_and_one_row_per_inbox(config, urls, store):
    """Shared inboxes count once whatever the followers behind them; the Announce goes to the owner's inboxes."""
    await followed(store)
    result = await publish.sync(config, urls, store, current(config), T0)
    assert result.written == (1, 2, 4)
    record = await store.talk("debat")
    assert record.version == 0 and record.published == T0 and record.deleted is None
    create, announce = urls.create("debat"), urls.announce("debat")
    sent = sorted((r.activity_id, r.inbox, r.actor_role) for r in await rows(store))
    assert sent == sorted([
        (create, "https://masto.example/inbox", ARCHIVE),
        (create, "https://tube.example/users/paul/inbox", ARCHIVE),
        (announce, "https://masto.example/inbox", OWNER),
        (announce, "https://other.example/users/olga/inbox", OWNER),
    ])
    assert (await store.activity(create))["object"]["id"] == urls.talk("debat")


async def test_sync_twice_writes_nothing_and_never_announces_twice(config, urls, store):
    """The same folder synced again publishes nothing; an Update never re-announces."""
    await followed(store)
    await publish.sync(config, urls, store, current(config), T0)
    again = await publish.sync(config, urls, store, current(config), T1)
    assert not again.changed and again.written is None
    entry = config.archive.dir / "debat.toml"
    entry.write_text(ENTRY.replace("Premier paragraphe.", "Premier paragraphe, corrigé."), encoding="utf-8")
    update = await publish.sync(config, urls, store, current(config), T1)
    assert [a["type"] for a in update.steps[0].activities] == ["Update"]
    kinds = [a.type for a in await store.recent_activities(50)]
    assert kinds.count("Announce") == 1 and kinds.count("Create") == 1


async def test_update_bumps_updated_and_keeps_id_and_uuid(config, urls, store):
    """A changed entry: Update of the same id and uuid, published kept, updated = now, to every inbox once."""
    await followed(store)
    await publish.sync(config, urls, store, current(config), T0)
    first = await store.talk("debat")
    (config.archive.dir / "debat.toml").write_text(ENTRY.replace("Un débat", "Un débat mémorable"), encoding="utf-8")
    result = await publish.sync(config, urls, store, current(config), T2)
    record = await store.talk("debat")
    assert record.uuid == first.uuid and record.version == 1
    assert record.published == T0 and record.updated == T2
    assert record.object["id"] == first.object["id"] and record.object["uuid"] == first.object["uuid"]
    assert record.object["updated"] == "2026-03-02T10:00:00Z" and record.object["published"] == "2026-03-01T10:00:00Z"
    update = await store.activity(urls.update("debat", 1))
    assert update["type"] == "Update" and update["object"]["name"] == "Un débat mémorable"
    inboxes = sorted(r.inbox for r in await rows(store) if r.activity_id == update["id"])
    assert inboxes == ["https://masto.example/inbox", "https://other.example/users/olga/inbox",
                       "https://tube.example/users/paul/inbox"]
    assert result.steps[0].inboxes == 3


async def test_edits_within_one_second_still_get_a_newer_updated(config, urls, store):
    """Two edits in the same second (dates are shown in whole seconds): the second Update's object still has a
    later `updated` than the first, or Mastodon would ignore it."""
    await publish.sync(config, urls, store, current(config), T0)
    stamps = []
    for n, offset in enumerate((0.2, 0.6)):
        (config.archive.dir / "debat.toml").write_text(ENTRY.replace("Un débat", f"Un débat {n}"), encoding="utf-8")
        await publish.sync(config, urls, store, current(config), T0 + dt.timedelta(seconds=offset))
        stamps.append((await store.talk("debat")).object["updated"])
    assert stamps == ["2026-03-01T10:00:01Z", "2026-03-01T10:00:02Z"]
    assert publish.bumped(T0, T2) == T2


async def test_removed_entry_sends_a_delete_with_a_tombstone(config, urls, store):
    """A removed entry: Delete{Tombstone} to everyone, the row keeps its version and gets the tombstone."""
    await followed(store)
    await publish.sync(config, urls, store, current(config), T0)
    (config.archive.dir / "debat.toml").unlink()
    result = await publish.sync(config, urls, store, [], T1)
    assert [s.kind for s in result.steps] == ["delete"]
    record = await store.talk("debat")
    assert record.deleted == T1 and record.version == 0
    assert record.object["type"] == "Tombstone" and record.object["formerType"] == "Video"
    delete = await store.activity(urls.delete("debat"))
    assert delete["object"]["type"] == "Tombstone" and delete["object"]["id"] == urls.talk("debat")
    assert delete["to"] == [objects.PUBLIC] and delete["cc"] == [urls.followers(ARCHIVE)]
    assert len([r for r in await rows(store) if r.activity_id == delete["id"]]) == 3


async def test_readded_then_removed_again_gets_fresh_activity_ids(config, urls, store):
    """Receivers dedupe by id: a talk added back after removal, then removed again, sends new Create and Delete."""
    await followed(store)
    talks = current(config)
    await publish.sync(config, urls, store, talks, T0, keep=())
    await publish.sync(config, urls, store, [], T1, keep=())
    back = await publish.sync(config, urls, store, talks, T2, keep=())
    assert [a["id"] for a in back.steps[0].activities] == [urls.recreate("debat", 1)]  # no second Announce
    record = await store.talk("debat")
    assert record.version == 1 and record.deleted is None and record.published == T2
    gone = await publish.sync(config, urls, store, [], T2 + dt.timedelta(hours=1), keep=())
    assert [a["id"] for a in gone.steps[0].activities] == [urls.redelete("debat", 1)]
    assert (await store.activity(urls.redelete("debat", 1)))["type"] == "Delete"


async def test_a_broken_entry_is_not_deleted(config, urls, store):
    """An entry that exists but fails to parse is left alone: a typo never deletes a published talk."""
    await publish.sync(config, urls, store, current(config), T0)
    (config.archive.dir / "debat.toml").write_text("title = [broken", encoding="utf-8")
    loaded, problems = load_archive(config.archive.dir, config.archive.language)
    assert loaded == [] and problems
    result = await publish.sync(config, urls, store, loaded, T1)
    assert not result.changed and (await store.talk("debat")).deleted is None


async def test_a_missing_archive_folder_deletes_nothing(config, urls, store):
    """If the folder is gone (unmounted disk, wrong path) sync refuses instead of deleting every talk."""
    await publish.sync(config, urls, store, current(config), T0)
    config.archive.dir.rename(config.archive.dir.with_name("moved"))
    with pytest.raises(ConfigError, match="archive folder does not exist"):
        await publish.sync(config, urls, store, [], T1)
    assert (await store.talk("debat")).deleted is None


async def test_a_missing_folder_with_nothing_published_is_no_error(config, urls, store):
    """Before anything was published, a missing folder just means nothing to publish."""
    config.archive.dir.rename(config.archive.dir.with_name("moved"))
    assert not (await publish.sync(config, urls, store, [], T0)).changed


async def test_dry_run_writes_nothing(config, urls, store):
    """--dry-run plans and counts, and the store stays empty."""
    await followed(store)
    result = await publish.sync(config, urls, store, current(config), T0, dry_run=True)
    assert result.dry_run and result.deliveries == 4 and result.written is None
    assert await store.talks(include_deleted=True) == [] and await rows(store) == []


async def test_publication_is_one_transaction(config, urls, store):
    """When the store refuses part of a publication, none of it is written: no talk, activity or delivery row."""
    await followed(store)
    clash = TalkChange(slug="squatter", uuid=publish.talk_uuid(urls, "debat"), version=0, object_hash="h",
                       published=T0, updated=T0, deleted=None, object={"id": "x"})
    await store.publish([clash], [], [])
    with pytest.raises(StoreError):
        await publish.sync(config, urls, store, current(config), T0, attempts=1)
    assert await store.talk("debat") is None
    assert await store.activity(urls.create("debat")) is None and await rows(store) == []


async def test_only_restricts_to_one_entry(config, urls, store):
    """fedi publish FILE: other changes of the folder wait for the next sync."""
    (config.archive.dir / "autre.toml").write_text(ENTRY.replace("Un débat", "Autre"), encoding="utf-8")
    result = await publish.sync(config, urls, store, current(config), T0, only={"autre"})
    assert [s.slug for s in result.steps] == ["autre"] and await store.talk("debat") is None


# what a receiver fetches after a Delete ---------------------------------------------------------------------------

async def test_deleted_talk_answers_410_and_leaves_the_outbox(archive_dir, aiohttp_client):
    """After a Delete: the id answers 410 with a Tombstone (AS2) or the removed page (HTML); the outbox drops it."""
    write_config(archive_dir, archive={"watch_seconds": 0})
    config = config_mod.load(archive_dir / "config.toml")
    client = await aiohttp_client(make_app(config, background=False))
    ctx = client.server.app[CTX]
    outbox = await (await client.get("/actors/archive/outbox?page=1", headers={"Accept": AS2})).json(content_type=None)
    assert [i["object"]["id"] for i in outbox["orderedItems"]] == [ctx.urls.talk("debat")]
    (archive_dir / "outbox" / "debat.toml").unlink()
    await sync_archive(ctx)
    resp = await client.get("/talks/debat", headers={"Accept": AS2})
    assert resp.status == 410
    tomb = await resp.json(content_type=None)
    assert tomb["type"] == "Tombstone" and tomb["id"] == ctx.urls.talk("debat")
    page = await client.get("/talks/debat", headers={"Accept": "text/html"})
    assert page.status == 410 and "text/html" in page.headers["Content-Type"]
    outbox = await (await client.get("/actors/archive/outbox", headers={"Accept": AS2})).json(content_type=None)
    assert outbox["totalItems"] == 0
    first = await (await client.get("/actors/archive/outbox?page=1", headers={"Accept": AS2})).json(content_type=None)
    assert first["orderedItems"] == []
    delete = await client.get("/talks/debat/delete", headers={"Accept": AS2})
    assert delete.status == 200 and (await delete.json(content_type=None))["type"] == "Delete"


# preview ------------------------------------------------------------------------------------------------------

def _preview(config, text: str, slug: str = "debat") -> str:
    urls = urls_for(config)
    talk = parse_entry(slug, text, config.archive.dir, "fr")
    obj = publish.build_object(config, urls, talk, uuid=publish.talk_uuid(urls, slug), published=T0, updated=T0)
    return preview.render(objects.document(obj), talk, config)


GOOD_ENTRY = (ENTRY.replace('thumbnail = "media/poster.png"', 'thumbnail = "https://cdn.example/poster.jpg"\n'
                                                                'thumbnail_width = 1280\nthumbnail_height = 720')
              + '\n[[media]]\nurl = "https://cdn.example/talk.mp4"\ntype = "video/mp4"\nheight = 720\n'
                'size = 150000000\n')
"""The sample entry with what both receivers want: a JPEG poster and an MP4 rendition."""


def test_preview_shows_both_receivers(config):
    """The object JSON, Mastodon's converted Video (title, summary, link, media) and PeerTube's video page."""
    out = _preview(config, GOOD_ENTRY)
    assert '"type": "Video"' in out
    mastodon = out.split("── Mastodon")[1].split("── PeerTube")[0]
    assert "Un débat" in mastodon and "http://127.0.0.1:8080/talks/debat" in mastodon
    assert "Second paragraphe" not in mastodon  # a converted Video shows the teaser, not the description
    assert "[video player with its poster:" in mastodon
    peertube_part = out.split("── PeerTube")[1].split("── warnings")[0]
    assert "1:02:03" in peertube_part and "Second paragraphe" in peertube_part and "video/webm 360p" in peertube_part
    assert "none: both receivers take it as it is" in out


def test_preview_warns_where_rules_are_not_met(config):
    """Too long a title for PeerTube, media too large for Mastodon, no duration: each gets a warning."""
    text = (ENTRY.replace('title = "Un débat"', f'title = "{"Long " * 40}"')
            .replace('duration = "PT1H2M3S"\n', "")
            .replace('url = "media/talk.webm"', 'url = "https://cdn.example/big.mp4"\nsize = 150000000')
            .replace('type = "video/webm"', 'type = "video/mp4"'))
    out = _preview(config, text)
    warnings = out.split("── warnings")[1]
    assert "over its 120" in warnings
    assert "150.0 MB, over the 99.0 MB it plays inline" in warnings
    assert "no duration given" in warnings


def test_preview_warns_about_poster_mp4_and_licence(config):
    """A PNG poster (PeerTube 7.0 takes only JPEG), no video/mp4 rendition (Safari, Mastodon) and a licence
    PeerTube does not map each get a warning, and none of them once the entry is fixed."""
    text = ENTRY.replace("https://creativecommons.org/licenses/by-sa/4.0/", "https://www.gnu.org/licenses/fdl-1.3.html")
    warnings = _preview(config, text).split("── warnings")[1]
    assert "PeerTube 7.0: the poster media/poster.png is image/png, and it takes only JPEG" in warnings
    assert "no video/mp4 rendition" in warnings
    assert "is not a Creative Commons licence URL" in warnings
    fixed = _preview(config, GOOD_ENTRY).split("── warnings")[1]
    assert "JPEG" not in fixed and "video/mp4 rendition" not in fixed and "Creative Commons" not in fixed


def test_preview_says_when_the_card_shows_instead_of_an_attachment(config):
    """No file fits as a Mastodon attachment: the preview says why, and that the card shows instead."""
    text = GOOD_ENTRY.replace('url = "media/talk.webm"', 'url = "https://cdn.example/talk.mkv"').replace(
        'type = "video/webm"', 'type = "video/x-matroska"')
    out = _preview(config, text)
    mastodon = out.split("── Mastodon")[1].split("── PeerTube")[0]
    assert "no media attached: the talk page's card shows" in mastodon
    warning = next(w for w in out.split("── warnings")[1].splitlines() if "no file fits" in w)
    assert "video/x-matroska, a type it does not play" in warning and "over the 99.0 MB" in warning


def test_preview_of_a_note(archive_dir):
    """A Note: Mastodon shows the whole text; PeerTube shows nothing, and that is a warning."""
    write_config(archive_dir, archive={"object_type": "Note"})
    config = config_mod.load(archive_dir / "config.toml")
    out = _preview(config, ENTRY)
    mastodon = out.split("── Mastodon")[1].split("── PeerTube")[0]
    assert "Second paragraphe" in mastodon and "Shown as a post (Note)" in mastodon
    assert "Not shown: PeerTube only shows Videos" in out
    assert "PeerTube: Notes are not shown" in out.split("── warnings")[1]


def test_html_to_text():
    """Paragraphs become blocks, <br> a line, entities are decoded, links keep their text."""
    text = preview.html_to_text('<p>A &amp; B<br>C</p><p><a href="x">link</a></p>')
    assert text == "A & B\nC\n\nlink"


# the commands ---------------------------------------------------------------------------------------------------

def test_cli_sync_dry_run_then_sync(archive_dir, capsys):
    """fedi sync --dry-run prints what would be sent; fedi sync publishes; fedi status shows it."""
    cfg = str(archive_dir / "config.toml")
    assert main(["--config", cfg, "sync", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would publish create debat: Create → 0 inboxes, Announce → 0 inboxes" in out
    assert "dry run: nothing written" in out
    assert main(["--config", cfg, "sync"]) == 0
    assert "published create debat" in capsys.readouterr().out
    assert main(["--config", cfg, "sync"]) == 0
    assert "nothing to publish" in capsys.readouterr().out
    assert main(["--config", cfg, "status"]) == 0
    out = capsys.readouterr().out
    assert "talks published: 1" in out and "queue: 0 pending, 0 retrying, 0 dead" in out
    assert "Create" in out and "0/0 delivered" in out


def test_cli_publish_one_file(archive_dir, capsys, tmp_path):
    """fedi publish FILE publishes that entry only; a file outside the archive folder is refused."""
    cfg = str(archive_dir / "config.toml")
    (archive_dir / "outbox" / "autre.toml").write_text(ENTRY.replace("Un débat", "Autre"), encoding="utf-8")
    assert main(["--config", cfg, "publish", str(archive_dir / "outbox" / "autre.toml")]) == 0
    out = capsys.readouterr().out
    assert "published create autre" in out and "debat" not in out
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(ENTRY, encoding="utf-8")
    assert main(["--config", cfg, "publish", str(elsewhere)]) == 1
    assert "archive folder" in capsys.readouterr().err
    (archive_dir / "outbox" / "autre.toml").unlink()
    assert main(["--config", cfg, "publish", str(archive_dir / "outbox" / "autre.toml")]) == 0
    assert "published delete autre: Delete" in capsys.readouterr().out


def test_cli_preview(archive_dir, capsys):
    """fedi preview FILE prints the object and both renderings."""
    entry = str(archive_dir / "outbox" / "debat.toml")
    assert main(["--config", str(archive_dir / "config.toml"), "preview", entry]) == 0
    out = capsys.readouterr().out
    assert "── Mastodon" in out and "── PeerTube" in out and '"uuid"' in out


def test_cli_deliveries_and_retry(archive_dir, capsys):
    """fedi deliveries lists rows with their last error; deliveries retry puts dead rows back."""
    config = config_mod.load(archive_dir / "config.toml")
    urls = urls_for(config)

    async def setup() -> None:
        async with open_store(config.store.url) as store:
            await store.add_follower(follower(ARCHIVE, "alice"))
            await publish.sync(config, urls, store, current(config), T0)
            (row,) = await store.claim_deliveries(T0, 10, 60, "w")
            await store.delivery_dead(row.id, 403, "POST https://masto.example/inbox: HTTP 403: blocked", T0)

    asyncio.run(setup())
    cfg = str(archive_dir / "config.toml")
    assert main(["--config", cfg, "deliveries", "--failed"]) == 0
    out = capsys.readouterr().out
    assert "dead" in out and "status=403" in out and "HTTP 403: blocked" in out
    assert main(["--config", cfg, "deliveries", "retry", "--inbox", "https://masto.example/inbox"]) == 0
    assert "1 dead delivery back in the queue" in capsys.readouterr().out
    assert main(["--config", cfg, "deliveries", "--failed"]) == 0
    assert "no deliveries failed" in capsys.readouterr().out


def test_entry_slugs(tmp_path: Path):
    """Every .toml file counts, readable or not."""
    (tmp_path / "a.toml").write_text("x")
    (tmp_path / "b.txt").write_text("x")
    assert publish.entry_slugs(tmp_path) == {"a"}


def test_spread_puts_each_servers_inboxes_all_along_the_fan_out():
    """Every target once; a server with many inboxes is spread evenly, not left for the end, four at a time."""
    big = [Target(f"https://big.example/users/{i}/inbox", "big.example", 1) for i in range(20)]
    small = [Target(f"https://s{i}.example/inbox", f"s{i}.example", 3) for i in range(20)]
    order = publish.spread(sorted(big + small))
    assert sorted(order) == sorted(big + small)
    positions = [i for i, t in enumerate(order) if t.host == "big.example"]
    assert positions[0] <= 4 and positions[-1] >= len(order) - 5  # from the start to the end
    assert max(b - a for a, b in zip(positions, positions[1:], strict=False)) <= 6  # evenly: no long run without it
    singles = [i for i, t in enumerate(order) if t.host != "big.example"]
    assert singles[0] < len(order) // 4 and singles[-1] > 3 * len(order) // 4  # scattered too, not piled up
    assert [t.inbox for t in order if t.host == "big.example"] == [t.inbox for t in sorted(big)]  # own order kept

