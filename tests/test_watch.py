"""The folder watcher of ``fedi serve``: entries, and the files they name (media, posters), published as they
change, to a real follower's inbox on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fedi.app import snapshot
from fedi.config import Config
from fedi.store import Follower, open_store
from fedi.talks import local_files
from fedi.urls import ARCHIVE
from tests.conftest import ENTRY
from tests.fedi_app import FediApp
from tests.remote import RemoteServer

pytestmark = pytest.mark.usefixtures("loopback_only")

WATCH = 0.05
"""The watcher's period here (seconds): a change is published after two looks."""
OTHER = ENTRY.replace("Un débat", "Un autre débat").replace("media/talk.webm", "media/autre.webm")
VIDEO = bytes(range(256)) * 40


async def until(condition: Any, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"within {timeout:g} s, {what} did not happen")
        await asyncio.sleep(0.01)


def sent(remote: RemoteServer, kind: str, slug: str) -> list[dict[str, Any]]:
    """The activities of ``kind`` about talk ``slug`` that reached the follower's inbox and were answered (a
    request still being checked is left for the next look), each verified."""
    out = []
    for r in remote.received:
        if not r.status:
            continue
        doc = r.json if isinstance(r.json, dict) else {}
        obj = doc.get("object")
        if doc.get("type") == kind and isinstance(obj, dict) and obj.get("id", "").endswith(f"/talks/{slug}"):
            assert r.verified, r.error
            out.append(doc)
    return out


def webm_size(activity: dict[str, Any]) -> int:
    return next(link["size"] for link in activity["object"]["url"] if link.get("mediaType") == "video/webm")


@pytest.fixture
async def served(config: Config, remote_server: RemoteServer):  # type: ignore[no-untyped-def]
    """fedi serve's app (watcher and delivery worker running) with one follower on the remote server, and an
    entry, autre.toml, whose video is not there yet."""
    (config.archive.dir / "autre.toml").write_text(OTHER, encoding="utf-8")
    async with open_store(config.store.url) as store:
        actor = remote_server.actor_id("alice")
        await store.add_follower(Follower(role=ARCHIVE, actor_id=actor, inbox=remote_server.inbox("alice"),
                                          shared_inbox=None, host=urlsplit(actor).hostname or "", follow_id=None,
                                          since=dt.datetime.now(dt.UTC)))
    app = await FediApp.start(config, background=True, archive={"watch_seconds": WATCH})
    try:
        yield app
    finally:
        await app.stop()


async def test_copying_in_a_missing_video_publishes_the_talk(served: FediApp, remote_server: RemoteServer) -> None:
    """An entry left out for its missing video is published (Create) once the file is copied in, no entry
    touched."""
    await until(lambda: sent(remote_server, "Create", "debat"), "the start-up publication of debat")
    assert "autre" not in served.ctx.talks and not sent(remote_server, "Create", "autre")
    (served.config.archive.dir / "media" / "autre.webm").write_bytes(VIDEO)
    await until(lambda: sent(remote_server, "Create", "autre"), "the Create of autre after its video arrived")
    [create] = sent(remote_server, "Create", "autre")
    assert webm_size(create) == len(VIDEO)


async def test_a_new_rendition_sends_an_update_and_a_touch_sends_nothing(served: FediApp,
                                                                         remote_server: RemoteServer) -> None:
    """Replacing a video with one of another size changes the object: an Update goes out carrying the new
    size. Rewriting the same bytes (a new mtime, the same object) sends nothing."""
    video = served.config.archive.dir / "media" / "talk.webm"
    await until(lambda: sent(remote_server, "Create", "debat"), "the start-up publication of debat")
    video.write_bytes(VIDEO * 2)
    await until(lambda: sent(remote_server, "Update", "debat"), "the Update of debat after its new rendition")
    [update] = sent(remote_server, "Update", "debat")
    assert webm_size(update) == 2 * len(VIDEO)
    count = len(remote_server.received)
    video.write_bytes(VIDEO * 2)
    await asyncio.sleep(20 * WATCH)
    assert len(remote_server.received) == count


def test_snapshot_sees_the_files_entries_name(tmp_path: Path) -> None:
    """The snapshot changes when a named file appears, is replaced or removed, not when an unnamed one does;
    an entry is read again only when it changed."""
    (tmp_path / "media").mkdir()
    entry = tmp_path / "autre.toml"
    entry.write_text(OTHER, encoding="utf-8")
    named: dict = {}
    missing = snapshot(tmp_path, named)
    assert ("media/autre.webm", None, None) in missing
    (tmp_path / "media" / "unrelated.webm").write_bytes(b"x")
    assert snapshot(tmp_path, named) == missing
    (tmp_path / "media" / "autre.webm").write_bytes(VIDEO)
    present = snapshot(tmp_path, named)
    assert present != missing and ("media/autre.webm", None, None) not in present
    (tmp_path / "media" / "autre.webm").write_bytes(VIDEO * 2)
    assert snapshot(tmp_path, named) != present
    entry.unlink()
    assert snapshot(tmp_path, named) == () and named == {}


def test_local_files_are_the_relative_paths_an_entry_names() -> None:
    """Media and poster paths, not URLs, prose, dates or paths leaving the folder; broken TOML names none."""
    assert local_files(ENTRY) == ("media/poster.png", "media/talk.webm")
    text = ENTRY.replace('url = "media/talk.webm"', 'url = "https://cdn.example/talk.webm"') \
        .replace('thumbnail = "media/poster.png"', 'thumbnail = "../poster.png"')
    assert local_files(text) == ()
    assert local_files("title = [") == ()
