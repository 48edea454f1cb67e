"""The real fedi app on 127.0.0.1 for integration tests, restartable on the same port and store.

    app = await FediApp.start(config)         # base_url = the URL the remote server reaches it at
    app.inbox(), app.shared_inbox, app.actor(); app.ctx.store
    await app.drain()                          # run due jobs and deliveries until none is left
    app = await app.restart()                  # stop, then a new app on the same port, config and store
    await app.stop()
"""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestServer

from fedi.app import job_worker, make_app
from fedi.config import Config
from fedi.context import CTX, Context
from fedi.delivery import DeliveryWorker
from fedi.jobs import JobWorker
from fedi.urls import ARCHIVE
from tests.conftest import fixture_path

AS = "https://www.w3.org/ns/activitystreams"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configured(config: Config, port: int, **sections: dict[str, Any]) -> Config:
    """``config`` served at http://127.0.0.1:PORT, with some sections' fields replaced."""
    out = replace(config, server=replace(config.server, base_url=f"http://127.0.0.1:{port}", port=port))
    for name, values in sections.items():
        out = replace(out, **{name: replace(getattr(out, name), **values)})
    return out


class FediApp:
    def __init__(self, config: Config, server: TestServer, background: bool) -> None:
        self.config, self.server, self.background = config, server, background

    @classmethod
    async def start(cls, config: Config, port: int | None = None, background: bool = False,
                    **sections: dict[str, Any]) -> FediApp:
        port = port or free_port()
        cfg = configured(config, port, **sections)
        server = TestServer(make_app(cfg, background=background), host="127.0.0.1", port=port)
        await server.start_server()
        return cls(cfg, server, background)

    @property
    def ctx(self) -> Context:
        return self.server.app[CTX]

    @property
    def base(self) -> str:
        return self.config.server.base_url

    def actor(self, role: str = ARCHIVE) -> str:
        return self.ctx.urls.actor(role)

    def inbox(self, role: str = ARCHIVE) -> str:
        return self.ctx.urls.inbox(role)

    @property
    def shared_inbox(self) -> str:
        return self.ctx.urls.shared_inbox()

    def worker(self, clock: Any = None) -> JobWorker:
        return job_worker(self.ctx, clock)

    def deliverer(self, clock: Any = None) -> DeliveryWorker:
        ctx = self.ctx
        assert ctx.client is not None
        return DeliveryWorker(ctx.config, ctx.store, ctx.client, clock or ctx.clock)

    async def drain(self, clock: Any = None, rounds: int = 10) -> int:
        """Run due jobs, then due deliveries (the Accept a follow job queued), until nothing is left; returns how
        many jobs and deliveries ran."""
        jobs, deliveries = self.worker(clock), self.deliverer(clock)
        total = 0
        for _ in range(rounds):
            done = await jobs.run_once() + await deliveries.run_once()
            if not done:
                break
            total += done
        return total

    async def stop(self) -> None:
        await self.server.close()

    async def restart(self, background: bool | None = None) -> FediApp:
        await self.stop()
        port = self.config.server.port
        bg = self.background if background is None else background
        server = TestServer(make_app(self.config, background=bg), host="127.0.0.1", port=port)
        await server.start_server()
        return FediApp(self.config, server, bg)


def fixture(path: str) -> dict[str, Any]:
    return json.loads(fixture_path(path).read_text(encoding="utf-8"))


def adapt(doc: dict[str, Any], actor_id: str, base: str, target: str | None = None) -> dict[str, Any]:
    """A real document re-homed: its actor becomes ``actor_id`` (on the remote test server at ``base``), every
    URL on the actor's server moves to ``base``, and the followed object (of a Follow, or of the Follow inside
    an Undo) becomes ``target``. Lemmy's captured assets lack the ``@context`` Lemmy sends: it is added."""
    actor = doc["actor"] if isinstance(doc["actor"], str) else doc["actor"]["id"]
    scheme, rest = actor.split("://", 1)
    old_origin = f"{scheme}://{rest.split('/', 1)[0]}"
    text = json.dumps(doc).replace(json.dumps(actor)[1:-1], actor_id).replace(old_origin, base)
    out = json.loads(text)
    out.setdefault("@context", AS)
    if target is not None:
        inner = out.get("object")
        if out.get("type") == "Follow":
            out["object"] = target
        elif out.get("type") == "Undo" and isinstance(inner, dict) and inner.get("type") == "Follow":
            inner["object"] = target
    return out
