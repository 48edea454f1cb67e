"""What a running fedi holds for its lifetime: config, ids, keys, store, pages and caches of served documents.

Built once by ``app``/``cli`` and passed explicitly (no globals), complete when constructed: nothing is filled in
later. Serialized documents are cached as bytes so that a read costs a lookup, not a rebuild and a ``json.dumps``
(encoding each response again would cost about a quarter of the throughput of a read).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .client import Client
from .config import Config
from .delivery import DeliveryWorker
from .inbox import Dispatcher
from .jobs import Backlog, Pressure
from .keys import KeyPair
from .lru import LRU
from .pages import Pages
from .store import Store
from .talks import Talk
from .urls import Urls
from .verify import Verifier

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def dumps(document: Any) -> bytes:
    """The one JSON encoding of served and sent documents (compact, UTF-8)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Context:
    config: Config
    urls: Urls
    keys: dict[str, KeyPair]
    store: Store
    pages: Pages
    dispatcher: Dispatcher
    """Every activity handler and job kind of this process (``interactions.dispatcher()``)."""
    clock: Clock = utcnow
    client: Client | None = None
    verifier: Verifier | None = None
    talks: dict[str, Talk] = field(default_factory=dict)
    """The valid entries of the archive folder as last read (by sync or the watcher); see ``entries``."""
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the archive folder has been read (``fedi serve`` answers before, while it reads it)."""
    problems: list[str] = field(default_factory=list)
    cache: LRU[Any, bytes] = field(init=False)
    """Serialized documents by key; cleared whenever the archive or the followers change. Keys follow requests
    (page numbers, slugs), so it holds at most ``server.cache_entries``, as ``checked`` does."""
    checked: LRU[Any, tuple[int, bytes]] = field(init=False)
    """Documents built from the store, with the store's ``data_version`` at the time they were checked."""
    started: dt.datetime = field(default_factory=utcnow)
    worker: DeliveryWorker | None = None
    """This process's delivery worker (``fedi serve``), woken right after a publish."""
    pressure: Pressure = field(default_factory=Pressure)
    """How flooded the inbox is: shared with this process's job worker."""
    backlog: Backlog = field(init=False)
    """Where the inbox stores what it defers under a flood."""
    _by_uuid: tuple[dict[str, Talk] | None, dict[str, str]] = (None, {})
    """uuid → slug of the entries in ``talks``, with the dict it was built from."""

    def __post_init__(self) -> None:
        self.backlog = Backlog(self.store, self.pressure)
        self.cache = LRU(self.config.server.cache_entries)
        self.checked = LRU(self.config.server.cache_entries)

    def start_delivery(self) -> asyncio.Task[None]:
        """Start this process's delivery worker, which runs until the task is cancelled."""
        if self.worker is None:
            raise RuntimeError("no delivery worker: the context was built without one")
        return asyncio.create_task(self.worker.run(), name="fedi-deliver")

    async def entries(self) -> dict[str, Talk]:
        """The archive's entries, waiting at start-up until the folder has been read once."""
        if not self.loaded.is_set():
            await self.loaded.wait()
        return self.talks

    async def entry_by_uuid(self, uuid: str) -> Talk | None:
        """The entry whose talk uuid (``Urls.talk_uuid``) is ``uuid``: media URLs name talks by uuid."""
        talks = await self.entries()
        if self._by_uuid[0] is not talks:  # sync replaces the dict when it reads the folder again
            self._by_uuid = (talks, {self.urls.talk_uuid(slug): slug for slug in talks})
        slug = self._by_uuid[1].get(uuid)
        return talks.get(slug) if slug is not None else None

    def cached(self, key: Any, build: Callable[[], Any]) -> bytes:
        body = self.cache.get(key)
        if body is None:
            body = self.cache[key] = dumps(build())
        return body

    async def unchanged(self, key: Any) -> bytes | None:
        """The document kept under ``key`` if nothing at all was written to the store since it was checked
        against it (``remember``): a read then costs no store operation. None otherwise."""
        kept = self.checked.get(key)
        if kept is None:
            return None
        version = await self.store.data_version()
        return kept[1] if version is not None and version == kept[0] else None

    def remember(self, key: Any, version: int | None, body: bytes) -> bytes:
        """Keep ``body`` as valid at store ``version`` (read BEFORE the store reads it was built from)."""
        if version is not None:
            self.checked[key] = (version, body)
        return body

    def invalidate(self) -> None:
        self.cache.clear()
        self.checked.clear()


CTX = web.AppKey("ctx", Context)
